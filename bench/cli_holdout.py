"""The recommender as a new user tries it: a raw file in, default training, lists out, scored outside.

Run by hand: ``python bench/cli_holdout.py``. The UCI online retail invoices from ../shared/data are
split two ways: by time (the last 20% of the invoice lines are held out) and by invoice (a random
fifth of the invoices). The earlier part goes through the command line as it is (``ingest`` with
``--set event_type=purchase``, ``train-recommender --algo svd`` with no parameters,
``export-recommendations -k 10``) into a fresh database; the exported lists are then scored here by
NDCG@10 against the held-out purchases of items new to each customer, beside popularity and EASE
(log1p counts, each lambda of ``EASE_LAMBDAS``) computed here from the same training lines.
Prints one line per split and writes bench/out/cli_holdout.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parent.parent
RETAIL = ROOT.parent / "shared" / "data" / "online-retail" / "online_retail.csv.gz"
OUT = ROOT / "bench" / "out" / "cli_holdout.json"
EASE_LAMBDAS = (100.0, 300.0, 1000.0, 3000.0)
K = 10


def cli(db: Path, *args: str) -> float:
    start = time.perf_counter()
    command = [sys.executable, "-m", "personalization", "--db", str(db), *args]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def purchases(lines: pd.DataFrame) -> pd.DataFrame:
    """Customer x product purchase lines (the cleaning the ingest does: no id, cancellations)."""
    keep = (
        lines["CustomerID"].notna()
        & ~lines["InvoiceNo"].str.startswith("C")
        & (lines["Quantity"] > 0)
    )
    out = lines[keep]
    return pd.DataFrame(
        {"user": out["CustomerID"].astype(int).astype(str), "item": out["StockCode"]}
    )


def ndcg(lists: dict[str, list[str]], truth: dict[str, set[str]]) -> float:
    discounts = 1 / np.log2(np.arange(2, K + 2))
    scores = []
    for user, relevant in truth.items():
        gains = [discounts[i] for i, item in enumerate(lists.get(user, [])[:K]) if item in relevant]
        scores.append(sum(gains) / discounts[: min(len(relevant), K)].sum())
    return float(np.mean(scores))


def reference_lists(train: pd.DataFrame) -> dict[str, dict[str, list[str]]]:
    """Popularity and EASE top-K lists (seen items removed) from the training purchases."""
    users, user_ids = pd.factorize(train["user"])
    items, item_ids = pd.factorize(train["item"])
    matrix = sp.csr_matrix((np.ones(len(train)), (users, items)))
    matrix.sum_duplicates()
    matrix.data = np.log1p(matrix.data)
    seen_rows, seen_cols = matrix.nonzero()
    gram = (matrix.T @ matrix).toarray()
    out = {}
    popularity = np.tile(np.diff(matrix.tocsc().indptr).astype(float), (matrix.shape[0], 1))
    candidates = {"popularity": popularity}
    for lam in EASE_LAMBDAS:
        inverse = np.linalg.inv(gram + lam * np.eye(len(gram)))
        weights = -inverse / np.diag(inverse)
        np.fill_diagonal(weights, 0.0)
        candidates[f"ease {lam:g}"] = np.asarray(matrix @ weights)
    for name, scores in candidates.items():
        scores[seen_rows, seen_cols] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :K]
        out[name] = {user: list(item_ids[top[row]]) for row, user in enumerate(user_ids)}
    return out


def run(name: str, train_lines: pd.DataFrame, test_lines: pd.DataFrame, folder: Path) -> dict:
    db, raw = folder / f"{name}.duckdb", folder / f"{name}.csv"
    train_lines.to_csv(raw, index=False)
    ingest_s = cli(db, "ingest", str(raw), "--set", "event_type=purchase")
    train_s = cli(db, "train-recommender", "--algo", "svd")
    exported = folder / f"{name}_top10.csv"
    export_s = cli(db, "export-recommendations", "--out", str(exported), "-k", str(K))
    lists = pd.read_csv(exported, dtype={"user_id": str, "item_id": str}).sort_values(
        ["user_id", "rank"]
    )
    train = purchases(train_lines)
    seen = train.groupby("user")["item"].agg(set)
    truth = {}
    for user, group in purchases(test_lines).groupby("user"):
        if user in seen.index and (new := set(group["item"]) - seen[user]):
            truth[user] = new
    row = {
        "split": name,
        "users_scored": len(truth),
        "ingest_s": round(ingest_s, 1),
        "train_s": round(train_s, 1),
        "export_s": round(export_s, 1),
        "svd (defaults, CLI)": round(
            ndcg(lists.groupby("user_id")["item_id"].agg(list).to_dict(), truth), 4
        ),
    }
    for label, reference in reference_lists(train).items():
        row[label] = round(ndcg(reference, truth), 4)
    best = max(value for label, value in row.items() if label.startswith("ease"))
    row["svd vs best ease"] = f"{row['svd (defaults, CLI)'] / best - 1:+.1%}"
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    if not RETAIL.exists():
        raise SystemExit(f"{RETAIL} is absent")
    lines = pd.read_csv(RETAIL, dtype={"InvoiceNo": str, "StockCode": str})
    when = pd.to_datetime(lines["InvoiceDate"])
    later = when >= when.quantile(0.8)
    invoices = lines["InvoiceNo"].unique()
    held = np.random.default_rng(0).choice(invoices, size=len(invoices) // 5, replace=False)
    by_invoice = lines["InvoiceNo"].isin(set(held))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            run("by time", lines[~later], lines[later], Path(tmp)),
            run("by invoice", lines[~by_invoice], lines[by_invoice], Path(tmp)),
        ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
