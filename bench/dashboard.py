"""Dashboard benchmark: is the dashboard interactive on a large events table?

Run by hand: ``python bench/dashboard.py [--events 5000000] [--runs 5] [--pages]``. The first
run generates the events with DuckDB SQL (Zipf-like items, ``events / 50`` customers,
``events / 200`` products, four event types over 90 days) as a Parquet file and loads it
through the product's own ingest (``ingest_file``), both cached under ``bench/out/`` (git-ignored)
and reused by later runs; ``--rebuild`` makes them again. Then it times, as medians of ``--runs``:

- ``history``: a customer's history as the Recommendations page asks it
  (``serving.user_history``: ``read_user_events`` plus the item labels, three connections), and
  ``history_one_connection`` (``store.events.read_user_history``: the same on one connection),
  for the most active, a typical and the least active customer;
- ``overview``, ``profile`` (of ``events``) and ``readiness``: what the Home and Data pages
  compute, first uncached (``cold``) and then through the library's cache (``warm``);
- with ``--pages``: the Home, Data, Train and Export pages rendered by Streamlit's AppTest in one
  session: a first visit of each (empty caches), then two rounds of page switches back to each
  (what a page switch costs once the page was seen; the target is under 3 s).

Writes ``bench/out/dashboard_<events>.json`` and prints it. Timings on a busy machine are noisy:
read the medians, and re-run on a quiet machine for figures to report.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

GENERATE_SQL = """
COPY (
    SELECT
        'u' || CAST(CAST(floor(random() * $users) AS BIGINT) AS VARCHAR) AS user_id,
        'SKU' || CAST(CAST(floor(pow(random(), 3) * $items) AS BIGINT) AS VARCHAR) AS item_id,
        (['view', 'view', 'view', 'view', 'click', 'click', 'add_to_cart', 'purchase'])
            [1 + CAST(floor(random() * 8) AS INTEGER)] AS event_type,
        TIMESTAMP '2024-01-01' + to_seconds(CAST(floor(random() * 90 * 86400) AS BIGINT))
            AS "timestamp",
        round(random() * 100, 2) AS value
    FROM range($events)
) TO '{path}' (FORMAT parquet)
"""


def build(events: int, rebuild: bool = False) -> Path:
    """The database with ``events`` generated events loaded by the product's ingest (cached)."""
    from personalization.data import ingest

    OUT.mkdir(parents=True, exist_ok=True)
    parquet = OUT / f"dashboard_{events}.parquet"
    db = OUT / f"dashboard_{events}.duckdb"
    if rebuild:
        for path in (parquet, db, Path(f"{db}.wal")):
            path.unlink(missing_ok=True)
    if not parquet.exists():
        t = time.perf_counter()
        con = duckdb.connect()
        con.execute("SELECT setseed(0.42)")
        sql = GENERATE_SQL.replace("{path}", str(parquet).replace("'", "''"))
        params = {"users": max(events // 50, 20), "items": max(events // 200, 10)}
        con.execute(sql, {**params, "events": events})
        con.close()
        print(f"generated {parquet.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if not db.exists():
        t = time.perf_counter()
        ingest.ingest_file(parquet, kind="events", mode="replace", db=db)
        print(f"ingested into {db.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return db


def timed(fn, runs: int) -> dict[str, float]:
    """Median, min and max seconds of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return {
        "median_ms": round(1000 * statistics.median(times), 1),
        "min_ms": round(1000 * min(times), 1),
        "max_ms": round(1000 * max(times), 1),
    }


def customers(db: Path) -> dict[str, str]:
    """A heavy, a typical and a light customer of the events, by number of events."""
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT user_id, count(*) AS n FROM events GROUP BY user_id ORDER BY n DESC, user_id"
    ).fetchall()
    con.close()
    return {"heaviest": rows[0][0], "median": rows[len(rows) // 2][0], "lightest": rows[-1][0]}


def time_library(db: Path, runs: int) -> dict:
    from personalization.data import profile
    from personalization.recommendation import serving
    from personalization.store import events

    out: dict = {}
    for label, user in customers(db).items():
        serving.user_history(user, limit=20, db=db)  # warm the file cache once
        out[f"history_{label}"] = timed(lambda u=user: serving.user_history(u, 20, db=db), runs)
        out[f"history_one_connection_{label}"] = timed(
            lambda u=user: events.read_user_history(u, "events", 20, db=db), runs
        )
    for name, fn in (
        ("overview", lambda: profile.overview(db=db)),
        ("profile", lambda: profile.profile_table("events", db=db)),
        ("readiness", lambda: profile.readiness(db=db)),
    ):
        cached = getattr(profile, "clear_cache", None)
        if cached is not None:
            out[f"{name}_cold"] = timed(
                lambda f=fn: (profile.clear_cache(), f()), max(runs // 2, 1)
            )
            fn()
            out[f"{name}_warm"] = timed(fn, runs)
        else:
            out[f"{name}_cold"] = timed(fn, max(runs // 2, 1))
    return out


PAGES = ("pages/home.py", "pages/data.py", "pages/train.py", "pages/export.py")


def time_pages(db: Path, runs: int) -> dict:
    """Each page through AppTest in one session, as a user clicks through the sidebar: a first
    visit of each (empty caches), then page switches back to each (the target: under 3 s)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from personalization.data import profile

    os.environ["PERSONALIZATION_DB"] = str(db)
    os.environ["PERSONALIZATION_SAMPLE_DB"] = str(OUT / "no_sample.duckdb")

    def run(at: AppTest, page: str | None) -> float:
        t = time.perf_counter()
        (at.switch_page(page) if page else at).run()
        if at.exception:
            raise RuntimeError(f"{page}: {at.exception}")
        return time.perf_counter() - t

    firsts: dict[str, list[float]] = {p: [] for p in PAGES}
    seconds: dict[str, list[float]] = {p: [] for p in PAGES}
    for _ in range(max(runs // 2, 1)):
        st.cache_data.clear()
        profile.clear_cache()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=900)
        at.session_state["workspace"] = "mine"
        firsts[PAGES[0]].append(run(at, None))  # the app opens on Home
        for page in PAGES[1:]:
            firsts[page].append(run(at, page))
        for _ in range(2):
            for page in PAGES:
                seconds[page].append(run(at, page))
    out: dict = {}
    for page in PAGES:
        name = Path(page).stem
        out[f"page_{name}_first_s"] = round(statistics.median(firsts[page]), 2)
        out[f"page_{name}_switch_s"] = round(statistics.median(seconds[page]), 2)
        out[f"page_{name}_switch_max_s"] = round(max(seconds[page]), 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="20000000 for the big run")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pages", action="store_true", help="also time pages through AppTest")
    parser.add_argument("--rebuild", action="store_true", help="generate and load again")
    args = parser.parse_args()
    db = build(args.events, args.rebuild)
    result = {"events": args.events, "db": str(db), "runs": args.runs, "cores": os.cpu_count()}
    result.update(time_library(db, args.runs))
    if args.pages:
        result.update(time_pages(db, args.runs))
    path = OUT / f"dashboard_{args.events}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
