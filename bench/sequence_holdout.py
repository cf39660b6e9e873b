"""The sequence trial of issue 14 as a new user runs it: last event held out, the CLI, scored outside.

Run by hand: ``python bench/sequence_holdout.py [--k 20] [--keep DIR]``. On the Taobao
UserBehavior head of ../shared/data/clickstream (headerless: user, item, category, behavior,
Unix time), each visitor's last event (by time, then file order) is held out for the visitors
with two events or more. The rest is written as the same headerless CSV and goes through the
command line as it is, into a fresh database (``--db``): ``ingest`` (no mapping),
``train-recommender --algo sequence`` and ``--algo svd`` with no parameters, then
``export-next-items -k K`` for the sequence model (repeats allowed: no ``--filter-seen``) and
``export-recommendations -k K --include-seen`` for SVD. The exported lists are scored here, with
pandas only, against the held-out events: HR@K (the held-out item is in the visitor's list) and
MRR@K (1 / its rank, 0 when absent), over every visitor with a held-out event (a visitor
without a list counts as a miss). Popularity (the K most frequent items of the training rest)
is scored the same way as a floor. Prints a markdown table and writes
bench/out/sequence_holdout.json. Command times are wall seconds of whole processes; on a shared
machine they are noisy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TAOBAO = ROOT.parent / "shared" / "data" / "clickstream" / "taobao_userbehavior_head.csv.gz"
OUT = ROOT / "bench" / "out" / "sequence_holdout.json"
COLUMNS = ["user", "item", "category", "behavior", "ts"]


def cli(db: Path, *args: str) -> tuple[dict, float]:
    """Run one command on ``db``; its JSON answer and wall seconds (raises on a failure)."""
    start = time.perf_counter()
    command = [sys.executable, "-m", "personalization", "--db", str(db), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), seconds


def split_last_events(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, held): each user's last event by time (file order breaks ties) is held out for
    users with two events or more."""
    ordered = raw.assign(line=range(len(raw))).sort_values(["user", "ts", "line"], kind="stable")
    count = ordered.groupby("user")["item"].transform("size")
    last = ~ordered.duplicated("user", keep="last") & (count >= 2)
    return ordered[~last].sort_values("line"), ordered[last]


def score(lists: pd.DataFrame, held: pd.DataFrame, k: int) -> dict:
    """HR@k and MRR@k of ``lists`` (user, item, rank) against ``held`` (user, item)."""
    top = lists[lists["rank"] <= k]
    found = held[["user", "item"]].merge(top, on=["user", "item"], how="left")
    rank = found.groupby("user")["rank"].min().reindex(held["user"].unique())
    hits = rank.notna()
    return {
        f"hr@{k}": round(float(hits.mean()), 4),
        f"mrr@{k}": round(float((1.0 / rank).fillna(0.0).mean()), 4),
        "users_with_a_list": int(held["user"].isin(lists["user"]).sum()),
        "users": int(len(held)),
    }


def exported(path: Path) -> pd.DataFrame:
    """An exported list file as (user, item, rank) strings and ints."""
    frame = pd.read_csv(path, dtype=str)
    names = {c.lower(): c for c in frame.columns}
    out = pd.DataFrame(
        {
            "user": frame[names["user_id"]].astype(str),
            "item": frame[names["item_id"]].astype(str),
            "rank": pd.to_numeric(frame[names["rank"]]),
        }
    )
    return out


def popularity_lists(rest: pd.DataFrame, users: pd.Series, k: int) -> pd.DataFrame:
    top = rest["item"].value_counts().index[:k]
    return pd.DataFrame(
        {
            "user": users.repeat(len(top)).to_numpy(),
            "item": list(top) * len(users),
            "rank": list(range(1, len(top) + 1)) * len(users),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--data", default=str(TAOBAO), help="a headerless Taobao-format file")
    parser.add_argument("--keep", default=None, help="work folder to keep (default: temporary)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if not Path(args.data).exists():
        raise SystemExit(f"{args.data} is absent; nothing to try.")
    raw = pd.read_csv(args.data, header=None, names=COLUMNS, dtype=str)
    raw["ts"] = pd.to_numeric(raw["ts"])
    rest, held = split_last_events(raw)
    folder = Path(args.keep or tempfile.mkdtemp(prefix="sequence_holdout_"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "trial.duckdb"
    if db.exists():
        db.unlink()
    data = folder / "taobao_rest.csv"
    rest[COLUMNS].to_csv(data, header=False, index=False)
    print(f"{len(raw):,} events, {len(held):,} held out, the rest in {data}", flush=True)
    seconds: dict[str, float] = {}
    loaded, seconds["ingest"] = cli(db, "ingest", str(data))
    found: dict[str, dict] = {}
    k = str(args.k)
    for algo in ("sequence", "svd"):
        trained, seconds[f"train {algo}"] = cli(db, "train-recommender", "--algo", algo)
        out = folder / f"{algo}.csv"
        if algo == "sequence":
            command = ["export-next-items", "--model", trained["model_id"], "-k", k]
        else:
            command = ["export-recommendations", "--model", trained["model_id"], "-k", k]
            command.append("--include-seen")
        _, seconds[f"export {algo}"] = cli(db, *command, "--out", str(out))
        found[algo] = {
            **score(exported(out), held, args.k),
            "params": trained.get("params", {}),
            "train_seconds": round(seconds[f"train {algo}"], 1),
        }
    users = pd.Series(held["user"].unique())
    found["popularity"] = score(popularity_lists(rest, users, args.k), held, args.k)
    result = {
        "data": str(args.data),
        "events": len(raw),
        "held_out": len(held),
        "rows_loaded": loaded.get("rows_loaded"),
        "mapping": loaded.get("mapping"),
        "seconds": {name: round(value, 1) for name, value in seconds.items()},
        "models": found,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(f"\n| model | HR@{args.k} | MRR@{args.k} | users with a list | train s |")
    print("|---|---:|---:|---:|---:|")
    for name, got in found.items():
        print(
            f"| {name} | {got[f'hr@{args.k}']:.4f} | {got[f'mrr@{args.k}']:.4f} | "
            f"{got['users_with_a_list']} / {got['users']} | {got.get('train_seconds', '')} |"
        )
    print(f"\nsteps (s): {result['seconds']}\nwritten: {args.out}")


if __name__ == "__main__":
    main()
