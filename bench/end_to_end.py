"""End-to-end benchmark: events CSV to an exported top-10 for every user, beside two peers.

Run by hand: ``python bench/end_to_end.py [--sizes 1M 4M 20M] [--repeat 1]``. For each size it
generates a clickstream CSV (Zipf item popularity within planted taste groups, four event types,
90 days; 1M events: 50k users x 10k items, 20M: 400k x 100k, in between on the power law through
those two; written in 1M-row chunks, so its memory does not grow with the size), then runs, each as
its own process and timed with its peak resident memory (``/usr/bin/time -v``):

- the product, with a fresh database: ``ingest``, ``train-recommender --algo svd`` (defaults,
  validation included) and ``export-recommendations -k 10`` (every user, with reasons);
- the ``implicit`` script: pandas read, the same event weights into a CSR, ``implicit``'s ALS
  with 64 factors, top-10 for every user, CSV write (``OPENBLAS_NUM_THREADS=1``);
- the bare path: a DuckDB read of the CSV, the same weights summed per pair, one randomized SVD
  (rank 64), a numpy top-10 for every user in blocks, CSV write (``OPENBLAS_NUM_THREADS=1`` too).

Writes ``bench/out/end_to_end.json`` and prints a markdown table. The timings are of whole
processes (imports included, with the package's bytecode compiled first, as an install leaves
it), so run it on an idle machine for figures to compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "end_to_end.json"
EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase"])
EVENT_SHARES = np.array([0.70, 0.20, 0.07, 0.03])
WEIGHTS = {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}
DAYS = 90
ALL_STEPS = ("product", "implicit", "bare")
CHUNK = 1_000_000
GROUPS = 50
IN_GROUP = 0.7
ZIPF_EXPONENT = 1.1


# ---------------------------------------------------------------- data


def shape_for(events: int) -> tuple[int, int]:
    """(users, items) for ``events``: 50k x 10k at 1M, 400k x 100k at 20M, a power law between."""
    scale = events / 1e6
    users = 50_000 * scale ** (np.log(8) / np.log(20))
    items = 10_000 * scale ** (np.log(10) / np.log(20))
    return max(10, int(round(users))), max(10, int(round(items)))


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmM]?)", text.strip())
    if not match:
        raise SystemExit(f"--sizes takes counts such as 1M, 250k or 4000000; got {text!r}")
    number, unit = float(match.group(1)), match.group(2).lower()
    return int(number * {"": 1, "k": 1e3, "m": 1e6}[unit])


def zipf_weights(n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** ZIPF_EXPONENT
    return weights / weights.sum()


def write_clickstream(path: Path, events: int, seed: int = 0) -> dict:
    """Write ``events`` rows (user_id, item_id, event_type, timestamp) to ``path`` chunk by chunk.

    Users are spread over ``GROUPS`` taste groups; each event picks its item from the user's group
    (with probability ``IN_GROUP``, Zipf over the group's items) or from the whole catalogue (Zipf
    over a global popularity order). Users' activity is lognormal; times are uniform over 90 days.
    """
    n_users, n_items = shape_for(events)
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(0.0, 1.0, n_users)
    activity /= activity.sum()
    user_group = rng.integers(GROUPS, size=n_users)
    item_group = rng.integers(GROUPS, size=n_items)
    order = np.argsort(item_group, kind="stable")
    starts = np.searchsorted(item_group[order], np.arange(GROUPS + 1))
    # each group's items in their own random popularity order
    for g in range(GROUPS):
        rng.shuffle(order[starts[g] : starts[g + 1]])
    global_order = rng.permutation(n_items)
    global_cdf = np.cumsum(zipf_weights(n_items))
    sizes = np.diff(starts)
    group_cdfs = {int(s): np.cumsum(zipf_weights(int(s))) for s in np.unique(sizes) if s > 0}
    start = np.datetime64("2024-01-01T00:00:00")
    user_cdf = np.cumsum(activity)
    with path.open("w") as fh:
        fh.write("user_id,item_id,event_type,timestamp\n")
        for lo in range(0, events, CHUNK):
            n = min(CHUNK, events - lo)
            users = np.minimum(np.searchsorted(user_cdf, rng.random(n)), n_users - 1)
            items = global_order[
                np.minimum(np.searchsorted(global_cdf, rng.random(n)), n_items - 1)
            ]
            group = user_group[users]
            inside = (rng.random(n) < IN_GROUP) & (sizes[group] > 0)
            local = np.empty(n, dtype=np.int64)
            draws = rng.random(n)
            for size, cdf in group_cdfs.items():
                mask = inside & (sizes[group] == size)
                local[mask] = np.minimum(np.searchsorted(cdf, draws[mask]), size - 1)
            items = np.where(inside, order[starts[group] + np.where(inside, local, 0)], items)
            kinds = EVENT_TYPES[np.searchsorted(np.cumsum(EVENT_SHARES), rng.random(n) * 0.999999)]
            seconds = np.sort(rng.integers(0, DAYS * 86400, n))
            frame = pd.DataFrame(
                {
                    "user_id": "U" + pd.Series(users).astype(str),
                    "item_id": "I" + pd.Series(items).astype(str),
                    "event_type": kinds,
                    "timestamp": (start + seconds.astype("timedelta64[s]")).astype(str),
                }
            )
            frame.to_csv(fh, header=False, index=False)
    return {"events": events, "users": n_users, "items": n_items}


# ---------------------------------------------------------------- peers (run as child processes)

IMPLICIT_SCRIPT = """
import sys, time
import numpy as np, pandas as pd, scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
path, out = sys.argv[1], sys.argv[2]
weights = {"view": 1.0, "click": 2.0, "add_to_cart": 4.0, "purchase": 8.0}
ev = pd.read_csv(path, usecols=["user_id", "item_id", "event_type"])
users, user_ids = pd.factorize(ev["user_id"])
items, item_ids = pd.factorize(ev["item_id"])
w = ev["event_type"].map(weights).fillna(1.0).to_numpy(np.float32)
m = sp.csr_matrix((w, (users, items)), shape=(len(user_ids), len(item_ids)))
m.sum_duplicates()
model = AlternatingLeastSquares(factors=64, iterations=15, random_state=0)
model.fit(m, show_progress=False)
ids, scores = model.recommend(np.arange(m.shape[0]), m, N=10, filter_already_liked_items=True)
ids = np.asarray(ids)
pd.DataFrame({
    "user_id": np.repeat(np.asarray(user_ids), ids.shape[1]),
    "rank": np.tile(np.arange(1, ids.shape[1] + 1), ids.shape[0]),
    "item_id": np.asarray(item_ids)[ids.ravel()],
    "score": np.asarray(scores).ravel(),
}).to_csv(out, index=False)
"""

BARE_SCRIPT = """
import sys
import duckdb, numpy as np, pandas as pd, scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd
path, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
frame = con.execute(
    "SELECT user_id, item_id, sum(CASE event_type WHEN 'view' THEN 1 WHEN 'click' THEN 2 "
    "WHEN 'add_to_cart' THEN 4 WHEN 'purchase' THEN 8 ELSE 1 END) AS w "
    "FROM read_csv(?) GROUP BY ALL", [path]).df()
users, user_ids = pd.factorize(frame["user_id"])
items, item_ids = pd.factorize(frame["item_id"])
m = sp.csr_matrix((np.log1p(frame["w"].to_numpy(np.float32)), (users, items)),
                  shape=(len(user_ids), len(item_ids)))
_, _, vt = randomized_svd(m, 64, n_iter=4, random_state=0)
v = vt.T.astype(np.float32)
ids = np.empty((m.shape[0], 10), dtype=np.int64)
for lo in range(0, m.shape[0], 2048):
    rows = m[lo:lo + 2048]
    scores = np.asarray(rows @ v) @ v.T
    r, c = rows.nonzero()
    scores[r, c] = -np.inf
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    order = np.argsort(-np.take_along_axis(scores, top, 1), axis=1)
    ids[lo:lo + 2048] = np.take_along_axis(top, order, 1)
pd.DataFrame({
    "user_id": np.repeat(np.asarray(user_ids), 10),
    "rank": np.tile(np.arange(1, 11), m.shape[0]),
    "item_id": np.asarray(item_ids)[ids.ravel()],
}).to_csv(out, index=False)
"""


# ---------------------------------------------------------------- running and measuring


def run_step(args: list[str], env: dict | None = None, cwd: Path = ROOT) -> dict:
    """Run ``args`` as a process; its wall time, exit code and peak RSS in MB (GNU time's
    "Maximum resident set size" where /usr/bin/time exists, else the children's ``ru_maxrss``)."""
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        wrapped = [timer, "-v", "-o", report.name, *args] if timer else args
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        child = subprocess.run(wrapped, cwd=cwd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", report.read())
    if found:
        peak_kb = int(found.group(1))
    else:
        peak_kb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    if child.returncode != 0:
        print(f"  FAILED ({child.returncode}): {' '.join(args[:5])}\n{child.stderr[-2000:]}")
    return {
        "seconds": round(seconds, 2),
        "peak_mb": round(peak_kb / 1024),
        "rc": child.returncode,
        "stdout": child.stdout[-4000:],
    }


def compile_package() -> None:
    """Write the package's bytecode caches, as an install or any first run does where Python
    may write them: this machine sets ``PYTHONDONTWRITEBYTECODE``, which would have every
    command compile the package from source again (about 0.09 s a command), while the peers'
    libraries come with theirs."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "personalization")],
        check=True,
        capture_output=True,
    )


def product_steps(csv: Path, work: Path) -> dict:
    db = work / "bench.duckdb"
    out = work / "recs.csv"
    cli = [sys.executable, "-m", "personalization", "--db", str(db)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    steps = {
        "ingest": [*cli, "ingest", str(csv), "--mode", "replace"],
        "train": [*cli, "train-recommender", "--algo", "svd"],
        "export": [*cli, "export-recommendations", "-k", "10", "--out", str(out)],
    }
    results = {}
    for name, args in steps.items():
        results[name] = run_step(args, env=env)
        print(f"  {name}: {results[name]['seconds']} s, {results[name]['peak_mb']} MB", flush=True)
        if results[name]["rc"] != 0:
            break
    if "train" in results and results["train"]["rc"] == 0:
        try:
            trained = json.loads(results["train"]["stdout"])
            results["train"]["params"] = trained.get("params")
            results["train"]["ndcg@10"] = (trained.get("metrics") or {}).get("ndcg@10")
        except ValueError:
            pass
    for step in results.values():
        step.pop("stdout", None)
    shutil.rmtree(work / "bench.duckdb", ignore_errors=True)
    for leftover in work.glob("bench.duckdb*"):
        leftover.unlink(missing_ok=True)
    return results


def peer(script: str, csv: Path, work: Path, name: str) -> dict:
    path = work / f"peer_{name}.py"  # not implicit.py: it would shadow the package
    path.write_text(script)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}  # as implicit asks; the bare path too
    result = run_step([sys.executable, str(path), str(csv), str(work / f"{name}.csv")], env=env)
    result.pop("stdout", None)
    print(f"  {name}: {result['seconds']} s, {result['peak_mb']} MB", flush=True)
    return result


def median_of(runs: list[dict]) -> dict:
    keys = ("seconds", "peak_mb")
    out = {k: float(np.median([r[k] for r in runs])) for k in keys}
    out["rc"] = max(r["rc"] for r in runs)
    return out


def bench_size(events: int, repeat: int, work: Path, seed: int, only=ALL_STEPS) -> dict:
    csv = work / f"events_{events}.csv"
    start = time.perf_counter()
    shape = write_clickstream(csv, events, seed)
    print(
        f"{events:,} events ({shape['users']:,} users x {shape['items']:,} items): "
        f"generated in {time.perf_counter() - start:.1f} s, {csv.stat().st_size / 2**20:.0f} MB",
        flush=True,
    )
    runs: dict[str, list[dict]] = {}
    extra: dict = {}
    for _ in range(repeat):
        if "product" in only:
            for step, result in product_steps(csv, work).items():
                runs.setdefault(step, []).append(result)
                for key in ("params", "ndcg@10"):
                    if key in result:
                        extra[key] = result[key]
        for name, script in (("implicit", IMPLICIT_SCRIPT), ("bare", BARE_SCRIPT)):
            if name in only:
                runs.setdefault(name, []).append(peer(script, csv, work, name))
    csv.unlink(missing_ok=True)
    steps = {name: median_of(found) for name, found in runs.items()}
    total = sum(steps[s]["seconds"] for s in ("ingest", "train", "export") if s in steps)
    if "product" not in only:
        total = None
    return {
        **shape,
        "repeat": repeat,
        "steps": steps,
        "product_seconds": None if total is None else round(total, 2),
        **extra,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| step | " + " | ".join(f"{r['events'] / 1e6:g}M events" for r in results) + " |",
        "|---|" + "---|" * len(results),
    ]
    names = [
        ("ingest", "`ingest`"),
        ("train", "`train-recommender --algo svd`"),
        ("export", "`export-recommendations -k 10`"),
        ("product", "product, end to end"),
        ("implicit", "`implicit` script (ALS 64)"),
        ("bare", "bare DuckDB + randomized SVD"),
    ]
    for key, label in names:
        cells = []
        for r in results:
            if key == "product" and r["product_seconds"] is None:
                cells.append("-")
            elif key == "product":
                peak = max(
                    r["steps"].get(s, {}).get("peak_mb", 0) for s in ("ingest", "train", "export")
                )
                cells.append(f"{r['product_seconds']} s, {peak / 1024:.2f} GB max")
            elif key in r["steps"]:
                s = r["steps"][key]
                mark = "" if s["rc"] == 0 else " (failed)"
                cells.append(f"{s['seconds']:g} s, {s['peak_mb'] / 1024:.2f} GB{mark}")
            else:
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1M", "4M"], help="e.g. 1M 4M 20M")
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (medians reported)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", nargs="+", choices=ALL_STEPS, default=list(ALL_STEPS), help="what to run"
    )
    parser.add_argument("--workdir", help="where the CSV and database go (default: a temp dir)")
    parser.add_argument("--generate-only", metavar="FILE", help="only write the CSV of one size")
    args = parser.parse_args()
    sizes = [parse_size(s) for s in args.sizes]
    if args.generate_only:
        print(write_clickstream(Path(args.generate_only), sizes[0], args.seed))
        return
    results = []
    compile_package()
    base = Path(args.workdir) if args.workdir else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        for events in sizes:
            results.append(bench_size(events, args.repeat, Path(tmp), args.seed, args.only))
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps(results, indent=2))
    print()
    print(table(results))


if __name__ == "__main__":
    main()
