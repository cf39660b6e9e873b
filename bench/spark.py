"""Local engine vs Spark (local[2]) on generated events: time, peak memory and NDCG@10.

Run by hand: ``python bench/spark.py --events 1000000 20000000 [--algo svd als]`` (needs
requirements-spark.txt and Java). For each size, events of ``users = events / 20`` customers in taste groups are written
as gzip CSV parts; each engine then runs the documented commands in a fresh database, as separate
processes (so peak memory is that of one command, its JVM included for Spark):
``ingest`` (local: one file; spark: the folder), ``train-recommender --algo svd`` (the default,
settings chosen on validation by both engines) or ``--algo als`` with the same parameters, and
``export-recommendations -k 10`` (local: one Parquet file; spark: a folder of parts). Prints one line per engine and size with seconds
per step, peak RSS and the holdout NDCG@10, then an estimate for 1B events on a 16-node cluster
from the measured Spark throughput per core (events per second per core of ingest + train),
assuming ``NODE_CORES`` cores per node and linear scaling (an upper bound on speed: shuffles
and the driver-side matrix of the artifact do not scale that well). Writes bench/out/spark.json.
The machine's load changes these figures: run it on a quiet machine and quote medians.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "spark.json"
PARAMS = ["--param", "factors=32", "--param", "regularization=0.05", "--param", "alpha=5"]
MAP = ["--map", "user_id=customer", "--map", "item_id=product", "--map", "timestamp=ts"]
PART_ROWS = 250_000
NODE_CORES = 16
NODES = 16
TARGET = 1_000_000_000
DRIVER_MEMORY = "4g"


def write_events(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` events in gzip CSV parts of ``PART_ROWS`` in ``folder``; also one file for local."""
    rng = np.random.default_rng(seed)
    users, items, groups = max(10, n // 20), max(50, n // 200), 50
    folder.mkdir(parents=True)
    whole = folder.parent / "all.csv.gz"
    for part, start in enumerate(range(0, n, PART_ROWS)):
        size = min(PART_ROWS, n - start)
        user = rng.integers(0, users, size)
        inside = rng.random(size) < 0.8
        per_group = items // groups
        item = np.where(
            inside,
            (user % groups) * per_group + rng.integers(0, per_group, size),
            rng.integers(0, items, size),
        )
        frame = pd.DataFrame(
            {
                "customer": np.char.add("u", user.astype(str)),
                "product": np.char.add("i", item.astype(str)),
                "event_type": rng.choice(["view", "click", "purchase"], size, p=[0.7, 0.2, 0.1]),
                "ts": pd.Timestamp("2024-01-01")
                + pd.to_timedelta(rng.integers(0, 90 * 86400, size), unit="s"),
            }
        )
        frame.to_csv(folder / f"part-{part:04d}.csv.gz", index=False)
        frame.to_csv(whole, index=False, mode="a", header=part == 0)
    return whole


def tree_rss_gb(root: int) -> float:
    """Resident memory (GB) of process ``root`` and all its descendants (the JVM too), from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    family, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    total = 0
    for pid in family:
        try:
            line = next(
                x
                for x in Path(f"/proc/{pid}/status").read_text().splitlines()
                if x.startswith("VmRSS")
            )
            total += int(line.split()[1])
        except (OSError, StopIteration, ValueError):
            continue
    return total / 2**20


def run(db: Path, *args: str) -> tuple[dict, float, float]:
    """One command in its own process: its JSON, seconds and peak RSS of its process tree (GB,
    sampled every 0.2 s, the JVM of Spark included)."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "personalization", "--db", str(db), *args]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_gb(proc.pid))
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:1])} failed: {stderr.decode()[-2000:]}")
    return json.loads(stdout), time.perf_counter() - start, peak


def engine(root: Path, name: str, source: Path, n: int, algo: str) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    db = root / f"{name}.duckdb"
    flags = ["--engine", "spark", "--spark-master", "local[2]"] if name == "spark" else []
    ingested, t_ingest, m1 = run(db, "ingest", str(source), *MAP, *flags)
    params = PARAMS if algo == "als" else []
    trained, t_train, m2 = run(db, "train-recommender", "--algo", algo, *params, *flags)
    out = str(root / f"{name}-{algo}.parquet")
    model = ["--model", trained["model_id"]]
    exported, t_export, m3 = run(db, "export-recommendations", *model, "--out", out, *flags)
    return {
        "engine": name,
        "algo": algo,
        "events": n,
        "rows_loaded": ingested["rows_loaded"],
        "ingest_s": round(t_ingest, 1),
        "ingest_peak_rss_gb": round(m1, 2),
        "train_peak_rss_gb": round(m2, 2),
        "export_peak_rss_gb": round(m3, 2),
        "fit_s": trained.get("fit_seconds"),
        "train_s": round(t_train, 1),
        "export_s": round(t_export, 1),
        "peak_rss_gb": round(max(m1, m2, m3), 2),
        "ndcg@10": round(trained["metrics"].get("ndcg@10", float("nan")), 4),
        "export_rows": exported["rows"],
    }


def estimate(spark: dict) -> dict:
    """1B events on NODES x NODE_CORES cores from the measured throughput of local[2]."""
    per_core = spark["events"] / (spark["ingest_s"] + spark["train_s"]) / 2
    seconds = TARGET / (per_core * NODES * NODE_CORES)
    return {
        "events_per_second_per_core": round(per_core),
        "estimate_1b_events_16_nodes_minutes": round(seconds / 60, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 20_000_000])
    parser.add_argument("--algo", nargs="+", default=["svd"], choices=["svd", "als"])
    args = parser.parse_args()
    if "PERSONALIZATION_SPARK_CONF" not in os.environ:  # a driver big enough for 20M events
        conf = Path(tempfile.mkdtemp()) / "spark.json"
        conf.write_text(json.dumps({"spark.driver.memory": DRIVER_MEMORY}))
        os.environ["PERSONALIZATION_SPARK_CONF"] = str(conf)
    results = []
    for n in args.events:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            whole = write_events(root / "parts", n)
            for algo in args.algo:
                for name, source in (("local", whole), ("spark", root / "parts")):
                    row = engine(root / algo, name, source, n, algo)
                    if name == "spark":
                        row.update(estimate(row))
                    print(json.dumps(row), flush=True)
                    results.append(row)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
