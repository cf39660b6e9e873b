"""Sequence recommenders benchmark: fit time, next-event HR@20 / NDCG@20 / MRR@20 and serving time
of each sequence family beside SVD, EASE (where its dense item matrix fits) and popularity, on
three clickstreams.

Run by hand: ``python bench/sequence.py [--data taobao,sample,generated] [--events 1000000]
[--no-sasrec]``. Datasets:

- ``taobao``: the Taobao UserBehavior head of ../shared/data/clickstream (84k events, 814 users;
  no session ids, so sessions split after 30 minutes without an event);
- ``sample``: the bundled sample shop (loaded into a temporary database);
- ``generated``: a generated clickstream of ``--events`` events (planted "what follows what":
  each item has a few successors within its category, visitors come back to items they viewed,
  popularity is Zipf-like), sessions split by time gaps.

Protocol (``training.evaluate_sequences``, the one ``evaluate-recommender --split next-event``
runs): each user's last event held out, every model fitted on the rest, up to 5000 users ranked
over every item with repeats allowed. ``serve_ms`` is the time of one ``next_items`` call (a
five-item session, with reasons) on the fitted model, median of 20. The readiness check comes
first; a family that refuses the data says why. Writes bench/out/sequence.json (with the load
average after each data set) and prints a markdown table. Timings on a shared machine are noisy:
re-run on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.errors import BadInputError  # noqa: E402
from personalization.recommendation import next_items, training  # noqa: E402
from personalization.recommendation.artifact import RecommenderArtifact  # noqa: E402
from personalization.recommendation.interactions import build_interactions  # noqa: E402
from personalization.recommendation.models.ease import EASERecommender  # noqa: E402
from personalization.recommendation.models.sasrec import torch_available  # noqa: E402
from personalization.recommendation.sequences import (  # noqa: E402
    build_sequences,
    read_sequence_events,
    session_readiness,
    sessions_from_gaps,
)

TAOBAO = ROOT.parent / "shared" / "data" / "clickstream" / "taobao_userbehavior_head.csv.gz"
OUT = ROOT / "bench" / "out" / "sequence.json"
K = 20
FAMILIES = ("recent", "transitions", "session-knn", "sasrec", "sequence")
BASELINES = ("popularity", "svd")
EASE_MAX_ITEMS = EASERecommender().max_items  # EASE inverts a dense items x items matrix
GAP_MINUTES = 30.0
TAOBAO_TYPES = {"pv": "view", "cart": "add_to_cart", "fav": "favourite", "buy": "purchase"}


def ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Events sorted by user and time with ``seconds`` and gap-split ``session`` columns."""
    frame = frame.sort_values(["user_id", "timestamp"], kind="stable").reset_index(drop=True)
    frame["seconds"] = (frame["timestamp"] - pd.Timestamp(0)).dt.total_seconds()
    frame["session"] = sessions_from_gaps(frame, GAP_MINUTES)
    return frame


def load_taobao() -> pd.DataFrame:
    raw = pd.read_csv(
        TAOBAO,
        header=None,
        names=["user_id", "item_id", "category", "event_type", "ts"],
        dtype={"user_id": str, "item_id": str, "category": str, "event_type": str},
    )
    return ordered(
        pd.DataFrame(
            {
                "user_id": raw["user_id"],
                "item_id": raw["item_id"],
                "event_type": raw["event_type"].map(TAOBAO_TYPES).fillna(raw["event_type"]),
                "timestamp": pd.to_datetime(raw["ts"], unit="s"),
            }
        )
    )


def load_sample() -> pd.DataFrame:
    from personalization.data import sample

    folder = Path(tempfile.mkdtemp(prefix="bench_sequence_"))
    db = folder / "sample.duckdb"
    sample.load_sample_data(db=db)
    frame = read_sequence_events("events", GAP_MINUTES, db=db)
    return frame[["user_id", "item_id", "event_type", "timestamp", "seconds", "session"]]


def generate(n_events: int, seed: int = 0) -> pd.DataFrame:
    """About ``n_events`` events: sessions of visitors walking from item to item."""
    rng = np.random.default_rng(seed)
    n_items = max(200, n_events // 50)
    n_users = max(50, n_events // 20)
    categories = rng.integers(0, max(10, n_items // 100), n_items)
    by_category = pd.Series(np.arange(n_items)).groupby(categories).apply(np.array)
    successors = np.stack(
        [rng.choice(by_category[c], 4) for c in categories]
    )  # what usually follows each item
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    popularity /= popularity.sum()
    n_sessions = n_events // 6
    owner = rng.integers(0, n_users, n_sessions)
    length = np.minimum(rng.geometric(1 / 6, n_sessions), 60)
    start = rng.uniform(0, 30 * 86400, n_sessions)
    current = rng.choice(n_items, n_sessions, p=popularity)
    rows_user, rows_item, rows_time = [], [], []
    clock = start.copy()
    for step in range(int(length.max())):
        live = np.flatnonzero(length > step)
        rows_user.append(owner[live])
        rows_item.append(current[live])
        rows_time.append(clock[live])
        draw = rng.random(len(live))
        follow = successors[current[live], rng.integers(0, 4, len(live))]
        jump = rng.choice(n_items, len(live), p=popularity)
        back = current[live]
        nxt = np.where(draw < 0.55, follow, np.where(draw < 0.8, back, jump))
        current[live] = nxt
        clock[live] += rng.uniform(20, 240, len(live))
    frame = pd.DataFrame(
        {
            "user_id": np.concatenate(rows_user).astype(str),
            "item_id": np.concatenate(rows_item).astype(str),
            "event_type": "view",
            "timestamp": pd.to_datetime(np.concatenate(rows_time) + 1.7e9, unit="s"),
        }
    )
    buys = rng.random(len(frame)) < 0.03
    frame.loc[buys, "event_type"] = "purchase"
    return ordered(frame)


def serve_ms(algo: str, frame: pd.DataFrame) -> float | None:
    """Median milliseconds of one ``next_items`` call on ``algo`` fitted on ``frame``."""
    inter = build_interactions(frame)
    seqs = build_sequences(frame, inter)
    from personalization.recommendation.models import make_recommender

    model = make_recommender(algo)
    try:
        if hasattr(model, "fit_sequences"):
            model.fit_sequences(seqs, inter.matrix)
        else:
            model.fit(inter.matrix)
    except BadInputError:
        return None
    art = RecommenderArtifact(
        model=model,
        algo=algo,
        params={},
        interactions=inter,
        event_weights={},
        half_life_days=None,
        table="events",
        items=pd.DataFrame(),
        users=pd.DataFrame(),
        pair_types=None,
        event_types=[],
        trending=np.zeros(inter.matrix.shape[1], dtype=bool),
    )
    session = list(inter.item_ids[seqs.items[-5:]])
    times = []
    for _ in range(20):
        start = time.perf_counter()
        next_items.next_items(art, session, k=K)
        times.append(time.perf_counter() - start)
    return round(1000 * float(np.median(times)), 2)


def run_dataset(name: str, frame: pd.DataFrame, families: list[str], serve: bool) -> dict:
    ready = session_readiness(frame["session"].to_numpy(), frame["seconds"].to_numpy())
    out = {
        "events": len(frame),
        "users": int(frame["user_id"].nunique()),
        "items": int(frame["item_id"].nunique()),
        "readiness": ready,
        "models": {},
    }
    print(f"## {name}: {len(frame):,} events; {ready['why']}", flush=True)
    baselines = BASELINES
    if out["items"] <= EASE_MAX_ITEMS:
        baselines += ("ease",)
    else:
        size = out["items"] ** 2 * 8 / 1e9
        out["models"]["ease"] = {
            "skipped": f"needs a dense {out['items']:,} x {out['items']:,} matrix ({size:.1f} GB); "
            f"its max_items is {EASE_MAX_ITEMS:,}"
        }
    for algo in families:
        start = time.perf_counter()
        try:
            found = training.evaluate_sequences(
                algo, {}, frame, "next-event", K, baselines=baselines
            )
        except BadInputError as exc:
            out["models"][algo] = {"refused": str(exc).splitlines()[0]}
            print(f"  {algo}: refused: {exc}", flush=True)
            continue
        for base, got in found["baselines"].items():
            out["models"][base] = got
        baselines = ()
        out["models"][algo] = {
            **found["metrics"],
            "fit_seconds": found["fit_seconds"],
            "params": found["params"],
            "n_test_users": found["n_test_users"],
            "wall_seconds": round(time.perf_counter() - start, 1),
        }
        if serve:
            out["models"][algo]["serve_ms"] = serve_ms(algo, frame)
        print(f"  {algo}: {out['models'][algo]}", flush=True)
    return out


def table(results: dict) -> str:
    lines = [
        f"| data | model | fit s | HR@{K} | NDCG@{K} | MRR@{K} | ms/user (batch) | serve ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for data, found in results.items():
        for model, m in found["models"].items():
            if "refused" in m or "skipped" in m:
                why = m.get("refused") or m.get("skipped")
                lines.append(f"| {data} | {model} | refused: {why[:90]} | | | | | |")
                continue
            lines.append(
                f"| {data} | {model} | {m['fit_seconds']:.2f} | {m[f'hr@{K}']:.4f} | "
                f"{m[f'ndcg@{K}']:.4f} | {m[f'mrr@{K}']:.4f} | {m.get('ms_per_user', '')} | "
                f"{m.get('serve_ms', '')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="taobao,sample,generated")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--no-sasrec", action="store_true", help="leave out the neural family")
    parser.add_argument("--no-serve", action="store_true", help="skip the serving timing")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    families = [
        f for f in FAMILIES if not (f == "sasrec" and (args.no_sasrec or not torch_available()))
    ]
    loaders = {
        "taobao": load_taobao,
        "sample": load_sample,
        "generated": lambda: generate(args.events),
    }
    results = {}
    for name in [d.strip() for d in args.data.split(",") if d.strip()]:
        if name == "taobao" and not TAOBAO.exists():
            print(f"## taobao: {TAOBAO} is absent; skipped")
            continue
        frame = loaders[name]()
        results[name] = run_dataset(name, frame, families, not args.no_serve)
        results[name]["load_average_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
        results[name]["peak_rss_mb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        )
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=2, default=str))
    print(table(results))
    print(f"\nwritten: {args.out}")


if __name__ == "__main__":
    main()
