"""Ingest benchmark: a 5-million-row events CSV through the project versus a bare DuckDB read.

Run by hand: ``python bench/ingest.py [--rows 5000000]``. Writes the CSV to a temporary folder,
times ``ingest_file`` and a bare ``CREATE TABLE AS SELECT * FROM read_csv(...)`` of the same file
(each in a fresh child process, so that peak memory is measured per run), then ``profile_table``,
``overview`` and ``readiness`` on the loaded events. A third run reads the ids as text, as the
project stores them (the bare read makes numeric ids BIGINT, which is cheaper). Prints a small
table and writes ``bench/out/ingest.json``. ``--csv FILE`` reuses an events CSV.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
EVENT_TYPES = np.array(["view", "click", "add_to_cart", "remove_from_cart", "purchase"])


def write_events_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A synthetic events CSV: user, item, type, ISO time, value, session; in 1M-row chunks."""
    rng = np.random.default_rng(seed)
    start = np.datetime64("2024-01-01T00:00:00")
    with path.open("w") as fh:
        fh.write("user_id,item_id,event_type,timestamp,value,session_id\n")
        for lo in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - lo)
            frame = pd.DataFrame(
                {
                    "user_id": rng.integers(0, 200_000, n),
                    "item_id": "SKU" + pd.Series(rng.integers(0, 20_000, n)).astype(str),
                    "event_type": EVENT_TYPES[rng.integers(0, len(EVENT_TYPES), n)],
                    "timestamp": start + rng.integers(0, 90 * 86400, n).astype("timedelta64[s]"),
                    "value": np.round(rng.gamma(2.0, 10.0, n), 2),
                    "session_id": rng.integers(0, 1_000_000, n),
                }
            )
            frame.to_csv(fh, header=False, index=False)


CHILD_BARE = """
import sys, time, resource, json, duckdb
path, db = sys.argv[1], sys.argv[2]
t = time.perf_counter()
con = duckdb.connect(db)
con.execute("CREATE TABLE bare AS SELECT * FROM read_csv(?)", [path])
rows = con.execute("SELECT count(*) FROM bare").fetchone()[0]
con.close()
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_SAME_TYPES = """
import sys, time, resource, json, duckdb
path, db = sys.argv[1], sys.argv[2]
t = time.perf_counter()
con = duckdb.connect(db)
con.execute("CREATE TABLE bare AS SELECT * FROM read_csv(?, types = "
            "{'user_id': 'VARCHAR', 'item_id': 'VARCHAR', 'session_id': 'VARCHAR'})", [path])
rows = con.execute("SELECT count(*) FROM bare").fetchone()[0]
con.close()
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_PROJECT = """
import sys, time, resource, json
from personalization.data.ingest import ingest_file
path, db = sys.argv[1], sys.argv[2]
t = time.perf_counter()
report = ingest_file(path, kind="events", mode="replace", db=db)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": report.rows_loaded,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_PROFILE = """
import sys, time, json
from personalization.data import profile
db = sys.argv[2]
out = {}
for name, call in [("overview", lambda: profile.overview(db=db)),
                   ("profile_events", lambda: profile.profile_table("events", db=db)),
                   ("readiness", lambda: profile.readiness(db=db))]:
    t = time.perf_counter()
    call()
    out[name] = time.perf_counter() - t
print(json.dumps(out))
"""


def run_child(code: str, path: Path, db: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), str(db)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--csv", type=Path, help="reuse this events CSV instead of writing one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = args.csv or Path(tmp) / "events.csv"
        if args.csv is None:
            t = time.perf_counter()
            write_events_csv(csv, args.rows)
            print(
                f"wrote {args.rows:,} rows ({csv.stat().st_size / 1e6:.0f} MB) in "
                f"{time.perf_counter() - t:.1f} s"
            )
        bare = run_child(CHILD_BARE, csv, Path(tmp) / "bare.duckdb")
        same = run_child(CHILD_SAME_TYPES, csv, Path(tmp) / "same.duckdb")
        project = run_child(CHILD_PROJECT, csv, Path(tmp) / "project.duckdb")
        timings = run_child(CHILD_PROFILE, csv, Path(tmp) / "project.duckdb")
    result = {
        "rows": project["rows"],
        "bare": {**bare, "rows_per_s": bare["rows"] / bare["seconds"]},
        "bare_text_ids": {**same, "rows_per_s": same["rows"] / same["seconds"]},
        "project": {**project, "rows_per_s": project["rows"] / project["seconds"]},
        "ratio": project["seconds"] / bare["seconds"],
        "ratio_text_ids": project["seconds"] / same["seconds"],
        "profile_seconds": timings,
    }
    print(f"{'run':<16}{'seconds':>10}{'rows/s':>14}{'peak MB':>10}")
    for name in ("bare", "bare_text_ids", "project"):
        r = result[name]
        print(f"{name:<16}{r['seconds']:>10.2f}{r['rows_per_s']:>14,.0f}{r['peak_mb']:>10.0f}")
    print(
        f"ratio project/bare: {result['ratio']:.2f} (target <= 1.5); project/bare with "
        f"text ids as stored: {result['ratio_text_ids']:.2f}"
    )
    for name, seconds in timings.items():
        print(f"{name:<16}{seconds:>8.2f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ingest.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
