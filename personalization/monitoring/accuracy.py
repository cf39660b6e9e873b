"""Accuracy over time: how the promoted models do on data that came after them.

- ``classifier_accuracy``: ROC-AUC and precision (at the model's threshold) per time window of a
  labelled table, beside the model's own test ROC-AUC as the baseline.
- ``recommender_accuracy``: hit rate and NDCG at ``k`` per time window of the events, for the
  model's lists and for the popularity baseline (most touched items, the user's own removed).
  A window's relevant items are what each known customer touched in it and had not touched in
  the training data; customers the model does not know are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import registry, store
from personalization.errors import BadInputError
from personalization.evaluation import ranking_metrics
from personalization.propensity.target import resolve_target
from personalization.recommendation.models.base import top_n
from personalization.recommendation.serving import ListMaker, ListRules, load_artifact

FREQUENCIES = ("D", "W", "M", "Q")


def windows(times: pd.Series, freq: str) -> pd.Series:
    """The start of the ``freq`` period (day, week, month, quarter) of each time."""
    if freq not in FREQUENCIES:
        raise BadInputError(f"Window must be one of {', '.join(FREQUENCIES)}; got {freq!r}.")
    return pd.to_datetime(times).dt.to_period(freq).dt.start_time


def classifier_accuracy(
    table: str | None = None,
    time_column: str | None = None,
    freq: str = "M",
    model_id: str | None = None,
    db=None,
) -> pd.DataFrame:
    """Per window of ``time_column`` (one window ``all`` without it): ``window``, ``rows``,
    ``positives``, ``roc_auc`` (None with one class), ``precision`` (None with no positive
    decision) and ``baseline_auc`` (the model's test ROC-AUC). Raises ``BadInputError`` when the
    table lacks the target, a feature or the time column."""
    from sklearn.metrics import precision_score, roc_auc_score

    artifact, _ = registry.load_model(model_id, kind="classifier", db=db)
    frame = store.read_table(table or artifact.table, db=db)
    needed = [*artifact.features, artifact.target] + ([time_column] if time_column else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise BadInputError(
            f"The labelled table lacks {', '.join(missing)}; give rows with the model's features "
            f"and its target {artifact.target!r}."
        )
    frame, y, _, _ = resolve_target(frame, artifact.target, artifact.positive, drop_missing=True)
    scores = artifact.predict_proba(frame)
    keys = windows(frame[time_column], freq) if time_column else pd.Series("all", index=frame.index)
    baseline = artifact.metrics.get("test", {}).get("roc_auc")
    rows = []
    for window, index in keys.groupby(keys.to_numpy(), sort=True).groups.items():
        at = frame.index.get_indexer(index)
        truth, score = y[at], scores[at]
        decided = score >= artifact.threshold
        rows.append(
            {
                "window": window,
                "rows": len(at),
                "positives": int(truth.sum()),
                "roc_auc": float(roc_auc_score(truth, score))
                if 0 < truth.sum() < len(at)
                else None,
                "precision": float(precision_score(truth, decided, zero_division=0))
                if decided.any()
                else None,
                "baseline_auc": baseline,
            }
        )
    return pd.DataFrame(
        rows, columns=["window", "rows", "positives", "roc_auc", "precision", "baseline_auc"]
    )


def recommender_accuracy(
    table: str = "events",
    freq: str = "W",
    k: int = 10,
    model_id: str | None = None,
    since: Any = None,
    db=None,
) -> pd.DataFrame:
    """Per window of the events (after ``since`` when given): ``window``, ``users`` (known
    customers with new items), ``hit_rate``, ``ndcg`` and ``baseline_hit_rate``,
    ``baseline_ndcg`` (popularity) at ``k``. Raises ``BadInputError`` when no window holds events
    of known customers."""
    from personalization.store import events as store_events

    art, _ = load_artifact(model_id, db)
    events = store_events.read_events(table, ["user_id", "item_id", "timestamp"], db=db)
    if since is not None:
        events = events[events["timestamp"] > pd.Timestamp(since)]
    inter = art.interactions
    rows_of = inter.user_indices(events["user_id"].astype(str).to_numpy())
    cols_of = inter.item_indices(events["item_id"].astype(str).to_numpy())
    keep = (rows_of >= 0) & (cols_of >= 0)
    events = events[keep].assign(row=rows_of[keep], col=cols_of[keep])
    if len(events):
        seen = inter.matrix[events["row"].to_numpy(), events["col"].to_numpy()]
        events = events[np.asarray(seen).ravel() == 0]
    if events.empty:
        raise BadInputError(
            f"No events in {table!r} of customers the model knows, on items they had not touched; "
            f"load newer events before measuring accuracy over time."
        )
    events = events.assign(window=windows(events["timestamp"], freq))
    maker = ListMaker(art, k, ListRules(filter_seen=True))
    popularity = np.asarray((inter.matrix > 0).sum(axis=0)).ravel().astype(np.float32)
    out = []
    for window, part in events.groupby("window", sort=True):
        users = np.unique(part["row"].to_numpy())
        local = pd.Series(np.arange(len(users)), index=users)
        test = sp.csr_matrix(
            (np.ones(len(part)), (local[part["row"]].to_numpy(), part["col"].to_numpy())),
            shape=(len(users), art.n_items),
        )
        test.data[:] = 1.0
        model = ranking_metrics(model_recs(maker, art, users, k), test, k)
        base = ranking_metrics(popular_recs(art, users, popularity, k), test, k)
        out.append(
            {
                "window": window,
                "users": len(users),
                "hit_rate": model[f"hit_rate@{k}"],
                "ndcg": model[f"ndcg@{k}"],
                "baseline_hit_rate": base[f"hit_rate@{k}"],
                "baseline_ndcg": base[f"ndcg@{k}"],
            }
        )
    return pd.DataFrame(out)


def model_recs(maker: ListMaker, art: Any, users: np.ndarray, k: int) -> np.ndarray:
    """The model's top ``k`` item columns for matrix ``users`` (-1 pads)."""
    ids = art.interactions.user_ids[users].astype(str)
    frame = maker.for_users(ids, {})
    recs = np.full((len(users), k), -1, dtype=np.int64)
    where = pd.Series(np.arange(len(ids)), index=ids)
    recs[where[frame["user_id"]].to_numpy(), frame["rank"].to_numpy() - 1] = (
        art.interactions.item_indices(frame["item_id"].to_numpy())
    )
    return recs


def popular_recs(art: Any, users: np.ndarray, popularity: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` most touched item columns each user has not touched."""
    scores = np.tile(popularity, (len(users), 1))
    seen_r, seen_c = art.interactions.matrix[users].nonzero()
    scores[seen_r, seen_c] = -np.inf
    ids, _ = top_n(scores, min(k, art.n_items))
    if ids.shape[1] < k:
        ids = np.hstack([ids, np.full((len(users), k - ids.shape[1]), -1)])
    return ids
