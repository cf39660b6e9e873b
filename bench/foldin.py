"""How close fold-in stays to a full retrain, and how fast it is.

Run by hand: ``python bench/foldin.py [--shares 0.1,0.3,0.5] [--seed 0]``. Data: the UCI online
retail invoices from ../shared/data (customers x products, purchase lines, cancellations dropped),
or the bundled sample shop's events when that folder is absent.

Protocol: a random 20% of each customer's products is held out (``evaluation.split_random``) and
NDCG@10 is measured on them for every customer with held-out products. "Full retrain" fits the
model on every customer's remaining products. "Fold-in at share s" fits it on the other (1 - s)
of the customers only, then folds the share s in (``fold_in``: ALS solves each one's factors
against the fixed item factors; SVD projects each row through its item factors) and scores
everyone on the same hold-out. Products only the new customers bought are unknown to the
fold-in model (they wait for a retrain), as in production. Also timed: fold-in of 1,000
customers into a model fitted on the rest (median of 5). Prints a table and writes
bench/out/foldin.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization import evaluation  # noqa: E402
from personalization.recommendation.interactions import build_interactions  # noqa: E402
from personalization.recommendation.models import make_recommender  # noqa: E402

RETAIL = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
SAMPLE = ROOT / "sample_data" / "events.csv"
OUT = ROOT / "bench" / "out" / "foldin.json"
K = 10
FOLD_USERS = 1000
MODELS = {
    "svd": {"rank": 64, "reg": 3.0, "popularity_reg": 0.3, "weighting": "log"},
    "als": {"factors": 64, "iterations": 15, "regularization": 0.05, "alpha": 2.0},
}


def load_events() -> tuple[pd.DataFrame, str]:
    if RETAIL.exists():
        lines = pd.read_csv(
            RETAIL, usecols=["InvoiceNo", "StockCode", "Quantity", "CustomerID"], dtype=str
        )
        lines = lines[lines["CustomerID"].notna() & ~lines["InvoiceNo"].str.startswith("C")]
        lines = lines[pd.to_numeric(lines["Quantity"], errors="coerce") > 0]
        events = pd.DataFrame(
            {
                "user_id": lines["CustomerID"],
                "item_id": lines["StockCode"],
                "event_type": "purchase",
            }
        )
        return events, "UCI online retail"
    return pd.read_csv(SAMPLE, dtype=str), "sample shop"


def ndcg(model, matrix, test, users) -> float:
    recs, _ = model.recommend(users, matrix, n=K)
    return evaluation.ranking_metrics(recs, test, K, users)[f"ndcg@{K}"]


def folded(algo: str, train, share: float, rng) -> tuple[object, np.ndarray, float]:
    """A model fitted on the old users and folded in the new ones; the row order used (old
    users first) and the seconds of the fold-in."""
    n = train.shape[0]
    new = rng.random(n) < share
    order = np.concatenate([np.flatnonzero(~new), np.flatnonzero(new)])
    permuted = train[order]
    n_old = int((~new).sum())
    model = make_recommender(algo, **MODELS[algo]).fit(permuted[:n_old])
    start = time.perf_counter()
    model.fold_in(np.arange(n_old, n), permuted)
    return model, order, time.perf_counter() - start


def fold_time(algo: str, train, rng, repeats: int = 5) -> float:
    """Median seconds to fold ``FOLD_USERS`` random users into a model fitted on the others."""
    n = train.shape[0]
    new = rng.choice(n, min(FOLD_USERS, n), replace=False)
    rest = np.setdiff1d(np.arange(n), new)
    permuted = train[np.concatenate([rest, new])]
    model = make_recommender(algo, **MODELS[algo]).fit(permuted[: len(rest)])
    times = []
    for _ in range(repeats):
        trial = copy.deepcopy(model)
        start = time.perf_counter()
        trial.fold_in(np.arange(len(rest), n), permuted)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shares", default="0.1,0.3,0.5")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    shares = [float(s) for s in args.shares.split(",")]
    events, source = load_events()
    inter = build_interactions(events)
    train, test = evaluation.split_random(inter.matrix, 0.2, args.seed)
    test = evaluation.unseen_relevant(test, train)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    print(
        f"{source}: {train.shape[0]} users x {train.shape[1]} items, {train.nnz} train cells, "
        f"{len(users)} users with held-out items; NDCG@{K}"
    )
    results = []
    print(f"{'model':<6}{'new users':>10}{'full':>9}{'fold-in':>9}{'ratio':>8}{'fold s':>9}")
    for algo in MODELS:
        full = make_recommender(algo, **MODELS[algo]).fit(train)
        full_score = ndcg(full, train, test, users)
        for share in shares:
            rng = np.random.default_rng(args.seed)
            model, order, seconds = folded(algo, train, share, rng)
            position = np.empty_like(order)
            position[order] = np.arange(len(order))
            permuted_test = test[order]
            score = ndcg(model, train[order], permuted_test, np.sort(position[users]))
            row = {
                "algo": algo,
                "share_new": share,
                "full": round(full_score, 4),
                "fold_in": round(score, 4),
                "ratio": round(score / full_score, 3) if full_score else None,
                "fold_seconds": round(seconds, 4),
            }
            results.append(row)
            print(
                f"{algo:<6}{share:>10.0%}{full_score:>9.4f}{score:>9.4f}"
                f"{row['ratio']:>8.3f}{seconds:>9.3f}"
            )
        seconds = fold_time(algo, train, np.random.default_rng(args.seed))
        results.append({"algo": algo, "fold_1000_users_seconds": round(seconds, 4)})
        print(
            f"{algo}: fold-in of {min(FOLD_USERS, train.shape[0])} users: {seconds * 1000:.1f} ms"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": source, "k": K, "results": results}, indent=2))


if __name__ == "__main__":
    main()
