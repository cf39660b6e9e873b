"""Serving latency from a large database: one customer's top-10, their history, a new visitor.

Run by hand: ``python bench/serving.py [--rows N]``. Writes the generated events CSV of
``bench/ingest.py`` (5,000,000 rows by default: 200k users, 20k items) into a fresh database in a
temporary folder, trains the default recommender (SVD) and then times each call, model already
loaded, as the median of 7. Prints the figures and writes bench/out/serving.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import write_events_csv  # noqa: E402
from personalization.data.ingest import ingest_file  # noqa: E402
from personalization.recommendation import serving, training  # noqa: E402

OUT = ROOT / "bench" / "out" / "serving.json"


def median_ms(call) -> float:
    times = []
    for _ in range(7):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv, db = Path(tmp) / "events.csv", Path(tmp) / "serving.duckdb"
        write_events_csv(csv, args.rows)
        start = time.perf_counter()
        ingest_file(csv, db=db)
        result = {"rows": args.rows, "ingest_s": round(time.perf_counter() - start, 1)}
        start = time.perf_counter()
        trained = training.train_recommender(db=db)
        result["train_s"] = round(time.perf_counter() - start, 1)
        result["rank"] = trained["params"].get("rank_")
        user = "17"
        serving.recommend_for_user(user, k=10, db=db)  # loads the model once
        result["top10_ms"] = median_ms(lambda: serving.recommend_for_user(user, k=10, db=db))
        result["history_ms"] = median_ms(lambda: serving.user_history(user, db=db))
        result["new_visitor_ms"] = median_ms(
            lambda: serving.recommend_for_new_user({}, k=10, db=db)
        )
    print(json.dumps(result))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
