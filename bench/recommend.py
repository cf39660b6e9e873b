"""Recommender benchmark: fit time, NDCG@10, top-10 throughput and peak memory, with peers.

Run by hand: ``python bench/recommend.py [--data retail|generated|both]``. Datasets: the UCI
online retail purchases (CustomerID x StockCode, cancellations dropped) from ../shared/data, and a
generated 50k users x 20k items matrix with about 1M interactions (planted groups). Split: a
random 80/20 holdout of each user's interactions (users with 2 or more); on retail also a split
by time (the last 20% of the events; relevant: the items new to each user). Peers: ``implicit``'s ALS
and BPR at the same rank (pip install -r requirements-bench.txt; run with OPENBLAS_NUM_THREADS=1, set here) and a plain EASE on log1p weights
with its lambda chosen on a validation split of the training part (catalogues up to 12k items).
Prints a table and writes bench/out/recommend.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

# implicit asks for single-threaded OpenBLAS (its own threads do the work); set before numpy loads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy.sparse as sp  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from personalization.evaluation import (  # noqa: E402
    align,
    ndcg_at_k,
    split_temporal,
    unseen_relevant,
)
from personalization.recommendation.interactions import build_interactions  # noqa: E402
from personalization.recommendation.models import make_recommender  # noqa: E402
from personalization.recommendation.models.base import top_n  # noqa: E402

RETAIL = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
OUT = ROOT / "bench" / "out" / "recommend.json"
RANK = 64
K = 10
EASE_LAMBDAS = (100.0, 300.0, 1000.0, 3000.0)


def load_retail() -> pd.DataFrame:
    raw = pd.read_csv(RETAIL, dtype={"InvoiceNo": str, "StockCode": str}, encoding="utf-8")
    raw = raw[
        raw["CustomerID"].notna() & ~raw["InvoiceNo"].str.startswith("C") & (raw["Quantity"] > 0)
    ]
    return pd.DataFrame(
        {
            "user_id": raw["CustomerID"].astype(int).astype(str),
            "item_id": raw["StockCode"],
            "event_type": "purchase",
            "timestamp": pd.to_datetime(raw["InvoiceDate"]),
            "value": raw["Quantity"],
        }
    )


def retail_matrix(events: pd.DataFrame) -> sp.csr_matrix:
    start = time.perf_counter()
    matrix = build_interactions(events).matrix
    print(
        f"retail: {len(events)} events -> {matrix.shape} nnz {matrix.nnz} "
        f"in {time.perf_counter() - start:.2f}s"
    )
    return matrix


def temporal_split(events: pd.DataFrame) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The last 20% of the events by time are the test set: items new to each known user."""
    train_ev, test_ev = split_temporal(events, 0.2)
    train, tested = build_interactions(train_ev), build_interactions(test_ev)
    test = align(tested.matrix, tested.user_ids, tested.item_ids, train.user_ids, train.item_ids)
    return train.matrix, unseen_relevant(test, train.matrix)


def generate(n_users=50_000, n_items=20_000, per_user=20, groups=50, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    user_group = rng.integers(groups, size=n_users)
    popularity = rng.pareto(1.2, n_items) + 1
    item_group = rng.integers(groups, size=n_items)
    order = np.argsort(item_group, kind="stable")
    starts = np.searchsorted(item_group[order], np.arange(groups + 1))
    rows = np.repeat(np.arange(n_users), per_user)
    group = user_group[rows]
    in_group = rng.random(len(rows)) < 0.8
    size = starts[group + 1] - starts[group]
    local = order[starts[group] + (rng.random(len(rows)) ** 2 * size).astype(int)]
    cols = np.where(
        in_group, local, rng.choice(n_items, len(rows), p=popularity / popularity.sum())
    )
    matrix = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    return matrix


def split(matrix: sp.csr_matrix, fraction=0.2, seed=0):
    rng = np.random.default_rng(seed)
    keys = rng.random(matrix.nnz)
    counts = np.diff(matrix.indptr)
    rows = np.repeat(np.arange(matrix.shape[0]), counts)
    order = np.lexsort((keys, rows))
    rank = np.empty(matrix.nnz, dtype=np.int64)
    rank[order] = np.arange(matrix.nnz) - matrix.indptr[rows[order]]
    n_test = np.where(counts >= 2, np.maximum(1, np.floor(counts * fraction)), 0)
    test_mask = rank < n_test[rows]
    train, test = matrix.copy(), matrix.copy()
    train.data = np.where(test_mask, 0, train.data).astype(np.float32)
    test.data = np.where(test_mask, test.data, 0).astype(np.float32)
    train.eliminate_zeros()
    test.eliminate_zeros()
    return train, test


def ours(algo, params):
    def run(train):
        model = make_recommender(algo, **params)
        start = time.perf_counter()
        model.fit(train)
        fit = time.perf_counter() - start
        users = np.arange(train.shape[0])
        start = time.perf_counter()
        ids, _ = model.recommend(users, train, n=K)
        rec = time.perf_counter() - start
        extra = {"rank": int(model.rank_)} if hasattr(model, "rank_") else {}
        for learned in ("reg_", "popularity_reg_"):
            if hasattr(model, learned):
                extra[learned.rstrip("_")] = getattr(model, learned)
        return ids, fit, rec, extra

    return run


def implicit_model(kind):
    def run(train):
        from implicit.cpu.als import AlternatingLeastSquares
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        model = (
            AlternatingLeastSquares(factors=RANK, iterations=15, random_state=0)
            if kind == "als"
            else BayesianPersonalizedRanking(factors=RANK, iterations=100, random_state=0)
        )
        start = time.perf_counter()
        model.fit(train, show_progress=False)
        fit = time.perf_counter() - start
        users = np.arange(train.shape[0])
        start = time.perf_counter()
        ids, _ = model.recommend(users, train, N=K, filter_already_liked_items=True)
        rec = time.perf_counter() - start
        return np.asarray(ids), fit, rec, {}

    return run


def log_weights(matrix: sp.csr_matrix) -> sp.csr_matrix:
    out = matrix.copy()
    out.data = np.log1p(out.data)
    return out


def ease_weights(train: sp.csr_matrix, lam: float) -> np.ndarray:
    gram = (train.T @ train).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)
    np.fill_diagonal(weights, 0.0)
    return weights.astype(np.float32)


def ease_top(weights: np.ndarray, train: sp.csr_matrix) -> np.ndarray:
    ids = np.full((train.shape[0], K), -1, dtype=np.int64)
    for start in range(0, train.shape[0], 1024):
        rows = train[start : start + 1024]
        scores = np.asarray(log_weights(rows) @ weights)
        seen_rows, seen_cols = rows.nonzero()
        scores[seen_rows, seen_cols] = -np.inf
        ids[start : start + 1024] = top_n(scores, K)[0]
    return ids


def ease_peer(train):
    """Plain EASE on log1p weights, lambda chosen by NDCG@10 on a validation split of train."""
    fit_part, validation = split(train, seed=1)
    scores = {
        lam: ndcg_at_k(ease_top(ease_weights(log_weights(fit_part), lam), fit_part), validation, K)
        for lam in EASE_LAMBDAS
    }
    lam = max(scores, key=scores.get)
    start = time.perf_counter()
    weights = ease_weights(log_weights(train), lam)
    fit = time.perf_counter() - start
    start = time.perf_counter()
    ids = ease_top(weights, train)
    return ids, fit, time.perf_counter() - start, {"lambda": lam}


def models(n_items: int) -> dict:
    out = {
        "popularity": ours("popularity", {}),
        "svd (auto rank)": ours("svd", {}),
        "svd (rank 64)": ours("svd", {"rank": RANK}),
        "als": ours("als", {"factors": RANK}),
        "itemknn": ours("itemknn", {}),
    }
    if n_items <= 12000:
        out["ease"] = ours("ease", {})
        out["ease log1p (peer)"] = ease_peer
    out["implicit als"] = implicit_model("als")
    out["implicit bpr"] = implicit_model("bpr")
    return out


def bench(name: str, train: sp.csr_matrix, test: sp.csr_matrix) -> list[dict]:
    rows = []
    for label, run in models(train.shape[1]).items():
        try:
            ids, fit, rec, extra = run(train)
        except ImportError as exc:
            print(f"  {label}: skipped ({exc})")
            continue
        row = {
            "data": name,
            "model": label,
            "fit_s": round(fit, 2),
            "ndcg@10": round(ndcg_at_k(ids, test, K), 4),
            "users_per_s": round(train.shape[0] / rec),
            "peak_mb": round(peak_mb()),
            **extra,
        }
        print(
            f"  {label:18s} fit {fit:7.2f}s  ndcg@10 {row['ndcg@10']:.4f}  "
            f"{row['users_per_s']:>8} users/s  peak {row['peak_mb']} MB {extra or ''}",
            flush=True,
        )
        rows.append(row)
    return rows


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", choices=["retail", "generated", "both"], default="both")
    args = parser.parse_args()
    results = []
    if args.data in ("retail", "both") and RETAIL.exists():
        events = load_retail()
        results += bench("retail", *split(retail_matrix(events)))
        results += bench("retail, by time", *temporal_split(events))
    if args.data in ("generated", "both"):
        matrix = generate()
        print(f"generated: {matrix.shape} nnz {matrix.nnz}")
        results += bench("generated", *split(matrix))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(pd.DataFrame(results).to_string(index=False))


if __name__ == "__main__":
    main()
