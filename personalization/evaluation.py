"""Offline evaluation of recommenders: splits, ranking metrics, cross-validation.

Pure functions over a CSR interactions matrix (users x items) or an events frame; nothing here
reads storage or fits a model. Conventions (close to ``recommenders.evaluation.python_evaluation``):

- ``recs`` is an ``(n_users, K)`` integer array of item indices, best first; ``-1`` pads a row
  that has fewer than ``K`` items. Row ``i`` belongs to user ``users[i]`` of ``test`` (default:
  row ``i``). Items should not repeat within a row.
- An item is relevant for a user when ``test[user, item] > 0`` (binary relevance).
- Accuracy metrics (precision, recall, NDCG, MAP, hit rate, MRR) are averaged over the users that
  have at least one relevant item; users without any are left out. With no such user (empty
  input) every accuracy metric is ``0.0``, as in the ``recommenders`` library.
- Every metric lies in ``[0, 1]`` except novelty, which is ``>= 0`` (bits).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.errors import BadInputError, NotEnoughDataError
from personalization.progress import Progress, report

SPLITS = ("random", "temporal", "leave-last", "next-event", "rest-of-session")
SEQUENCE_SPLITS = ("next-event", "rest-of-session")
ACCURACY = ("precision", "recall", "ndcg", "map", "hit_rate")
DIVERSITY_CELLS = 1 << 22


# ---------------------------------------------------------------- splits


def split_random(
    matrix: sp.csr_matrix, test_size: float = 0.2, seed: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Move a random ``test_size`` share of the stored interactions to a test matrix.

    Each non-zero cell goes to exactly one side, so train and test never share a cell.
    Returns ``(train, test)``, both of the input's shape.
    """
    _check_test_size(test_size)
    coo = sp.coo_matrix(matrix)
    rng = np.random.default_rng(seed)
    in_test = rng.random(coo.nnz) < test_size
    return _part(coo, ~in_test), _part(coo, in_test)


def holdout_split(
    user_items: sp.csr_matrix,
    fraction: float,
    n_users: int,
    rng: np.random.RandomState | np.random.Generator,
) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix]:
    """Hold out ``fraction`` (at least one) of the interactions of up to ``n_users`` random users
    with two or more, for a model to choose its own settings on (validation inside ``fit``).

    Returns the remaining matrix (the input's shape), those users (sorted row indices) and their
    held-out rows (len(users) x n_items), float32.
    """
    counts = np.diff(user_items.indptr)
    candidates = np.flatnonzero(counts >= 2)
    users = np.sort(rng.choice(candidates, size=min(n_users, len(candidates)), replace=False))
    chosen = np.zeros(user_items.shape[0], dtype=bool)
    chosen[users] = True
    rows = np.repeat(np.arange(user_items.shape[0]), counts)
    order = np.lexsort((rng.random(user_items.nnz), rows))
    rank = np.empty(user_items.nnz, dtype=np.int64)
    rank[order] = np.arange(user_items.nnz) - user_items.indptr[rows[order]]
    n_held = np.where(chosen, np.maximum(1, np.floor(counts * fraction)), 0)
    mask = rank < n_held[rows]
    held = user_items.copy()
    held.data = np.where(mask, held.data, 0).astype(np.float32)
    held.eliminate_zeros()
    train = user_items.copy()
    train.data = np.where(mask, 0, train.data).astype(np.float32)
    train.eliminate_zeros()
    return train, users, held[users]


def kfold(
    matrix: sp.csr_matrix, folds: int = 5, seed: int = 0
) -> Iterator[tuple[sp.csr_matrix, sp.csr_matrix]]:
    """Yield ``folds`` pairs ``(train, test)``; every stored cell is in exactly one test fold."""
    if folds < 2:
        raise BadInputError(f"folds must be 2 or more; got {folds}")
    coo = sp.coo_matrix(matrix)
    if coo.nnz < folds:
        raise NotEnoughDataError(
            f"{folds}-fold cross-validation needs at least {folds} interactions; found {coo.nnz}"
        )
    fold_of = np.random.default_rng(seed).permutation(coo.nnz) % folds
    for f in range(folds):
        yield _part(coo, fold_of != f), _part(coo, fold_of == f)


def split_events(
    events: pd.DataFrame,
    method: str = "temporal",
    test_size: float = 0.2,
    seed: int = 0,
    n: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split an events frame (``user_id``, ``item_id``, ``timestamp``, ...) by ``method``.

    ``random``: ``test_size`` of the (user, item) pairs with all their events; ``temporal``: every
    event at or after the global cut-off time that leaves ``test_size`` of the events after it;
    ``leave-last``: for each user the ``n`` items they touched last (see ``split_leave_last``);
    ``next-event``: each user's last event (``split_next_event``); ``rest-of-session``: the
    second half of each user's last session (``split_rest_of_session``).
    """
    if method == "random":
        return split_events_random(events, test_size, seed)
    if method == "temporal":
        return split_temporal(events, test_size)
    if method == "leave-last":
        return split_leave_last(events, n)
    if method == "next-event":
        return split_next_event(events)
    if method == "rest-of-session":
        return split_rest_of_session(events)
    raise BadInputError(f"split must be one of {', '.join(SPLITS)}; got {method!r}")


def split_columns(method: str) -> tuple[str, ...]:
    """The columns ``split_events`` reads for ``method`` (a split of a frame of only these
    gives the same rows)."""
    return {"random": ("user_id", "item_id"), "temporal": ("timestamp",)}.get(
        method, ("user_id", "item_id", "timestamp")
    )


def split_events_random(
    events: pd.DataFrame, test_size: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split by (user, item) pair: all events of a pair land on the same side."""
    _check_test_size(test_size)
    pair = pd.MultiIndex.from_arrays([events["user_id"], events["item_id"]])
    codes, uniques = pd.factorize(pair)
    in_test = np.random.default_rng(seed).random(len(uniques)) < test_size
    mask = in_test[codes]
    return events[~mask], events[mask]


def split_temporal(
    events: pd.DataFrame, test_size: float = 0.2
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Global cut-off: events at or after the ``1 - test_size`` time quantile are the test set.

    Events without a timestamp stay in train. Raises ``NotEnoughDataError`` when there are no
    timestamps or when all events share one time.
    """
    _check_test_size(test_size)
    if "timestamp" in events:
        ts = pd.to_datetime(events["timestamp"])
    else:
        ts = pd.Series(pd.NaT, index=events.index, dtype="datetime64[ns]")
    if ts.notna().sum() < 2:
        raise NotEnoughDataError(
            "A temporal split needs event timestamps; found none. Use --split random or "
            "--split leave-last, or load events with a timestamp column."
        )
    cutoff = ts.quantile(1 - test_size)
    in_test = (ts >= cutoff).to_numpy()
    if in_test.all() or not in_test.any():
        raise NotEnoughDataError(
            f"All timestamped events fall on one side of the cut-off {cutoff}; use --split random."
        )
    return events[~in_test], events[in_test]


def split_leave_last(events: pd.DataFrame, n: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per user, the ``n`` items first touched last go to test with all their events.

    Only users with more than ``n`` distinct items contribute to the test set, so each test
    user keeps some history in train. Without timestamps, the row order stands in for time.
    """
    if n < 1:
        raise BadInputError(f"leave-last needs n >= 1; got {n}")
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"].to_numpy(),
            "item_id": events["item_id"].to_numpy(),
            "t": _time_order(events),
        }
    )
    first = frame.groupby(["user_id", "item_id"], sort=False)["t"].min().reset_index()
    first = first.sort_values(["user_id", "t", "item_id"], kind="stable")
    rank_from_end = first.groupby("user_id").cumcount(ascending=False)
    n_items = first.groupby("user_id")["item_id"].transform("size")
    chosen = first[(rank_from_end < n) & (n_items > n)]
    key = pd.MultiIndex.from_arrays([events["user_id"], events["item_id"]])
    mask = key.isin(pd.MultiIndex.from_arrays([chosen["user_id"], chosen["item_id"]]))
    return events[~mask], events[mask]


def split_next_event(events: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each user's last event by time (ties: the later row) is the test set; only users with
    two events or more give one, so every test user keeps history in train. Both parts come
    back ordered by user and time. Raises ``NotEnoughDataError`` when no user has two events."""
    ordered = _by_user_and_time(events)
    users = ordered["user_id"].to_numpy()
    last = np.r_[users[1:] != users[:-1], True] if len(users) else np.zeros(0, dtype=bool)
    counts = ordered.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    in_test = last & (counts >= 2)
    if not in_test.any():
        raise NotEnoughDataError(
            "The next-event split needs users with two events or more; found none. "
            "Load more events per user or use --split random."
        )
    return ordered[~in_test], ordered[in_test]


def split_rest_of_session(
    events: pd.DataFrame, gap_minutes: float = 30.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The second half (rounded down, at least one event) of each user's last session with two
    events or more is the test set. Sessions: the ``session`` column when present, else
    ``session_id``, else a split after ``gap_minutes`` without an event. Both parts come back
    ordered by user and time. Raises ``NotEnoughDataError`` when no session has two events."""
    ordered = _by_user_and_time(events)
    session = _sessions(ordered, gap_minutes)
    frame = pd.DataFrame({"user": ordered["user_id"].to_numpy(), "session": session})
    size = frame.groupby("session")["session"].transform("size").to_numpy()
    last = frame.groupby("user")["session"].transform("max").to_numpy()
    position = frame.groupby("session").cumcount().to_numpy()
    chosen = (session == last) & (size >= 2)
    in_test = chosen & (position >= size - size // 2)
    if not in_test.any():
        raise NotEnoughDataError(
            "The rest-of-session split needs sessions with two events or more; found none. "
            "Use --split next-event."
        )
    return ordered[~in_test], ordered[in_test]


def next_event_metrics(ranks: np.ndarray, k: int = 20) -> dict[str, float]:
    """``hr@K`` (share of held-out events in the top ``k``), ``mrr@K`` (mean of 1 / rank, 0
    beyond ``k``) and ``ndcg@K`` (1 / log2(rank + 1), 0 beyond ``k``) from the 1-based rank of
    each held-out event's item (``inf`` where it was not ranked). All in [0, 1]; 0 for none."""
    ranks = np.asarray(ranks, dtype=np.float64)
    keys = (f"hr@{k}", f"mrr@{k}", f"ndcg@{k}")
    if ranks.size == 0:
        return dict.fromkeys(keys, 0.0)
    inside = ranks <= k
    safe = np.where(inside, ranks, 1.0)
    values = (inside, np.where(inside, 1.0 / safe, 0.0), np.where(inside, 1 / np.log2(safe + 1), 0))
    return {key: float(np.mean(v)) for key, v in zip(keys, values, strict=True)}


def ranks_in(recs: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """1-based position of ``truth[i]`` in row ``i`` of ``recs`` (users x K), ``inf`` when
    absent."""
    recs = _as_recs(recs)
    found = recs == np.asarray(truth, dtype=np.int64)[:, None]
    return np.where(found.any(axis=1), found.argmax(axis=1) + 1.0, np.inf)


def _by_user_and_time(events: pd.DataFrame) -> pd.DataFrame:
    order = np.lexsort((_time_order(events), events["user_id"].astype(str).to_numpy()))
    return events.iloc[order]


def _sessions(ordered: pd.DataFrame, gap_minutes: float) -> np.ndarray:
    users = ordered["user_id"].astype(str).to_numpy()
    new_user = np.r_[True, users[1:] != users[:-1]] if len(users) else np.zeros(0, dtype=bool)
    if "session" in ordered:
        marks = ordered["session"].to_numpy()
        return np.cumsum(new_user | np.r_[True, marks[1:] != marks[:-1]][: len(users)]) - 1
    if "session_id" in ordered and ordered["session_id"].notna().any():
        marks = ordered["session_id"].astype(str).to_numpy()
        return np.cumsum(new_user | np.r_[True, marks[1:] != marks[:-1]][: len(users)]) - 1
    stamps = pd.to_datetime(ordered.get("timestamp"), errors="coerce")
    seconds = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) / 1e9
    gaps = np.r_[False, np.diff(seconds) > gap_minutes * 60.0] if len(users) else new_user
    return np.cumsum(new_user | gaps) - 1


def align(
    matrix: sp.csr_matrix,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    to_user_ids: np.ndarray,
    to_item_ids: np.ndarray,
) -> sp.csr_matrix:
    """Re-index ``matrix`` (rows ``user_ids``, columns ``item_ids``) onto another pair of id maps.

    Rows and columns whose ids are absent from the target maps are dropped.
    Returns a CSR of shape ``(len(to_user_ids), len(to_item_ids))``.
    """
    rows = pd.Index(to_user_ids).get_indexer(user_ids)
    cols = pd.Index(to_item_ids).get_indexer(item_ids)
    coo = sp.coo_matrix(matrix)
    r, c = rows[coo.row], cols[coo.col]
    keep = (r >= 0) & (c >= 0)
    shape = (len(to_user_ids), len(to_item_ids))
    return sp.csr_matrix((coo.data[keep], (r[keep], c[keep])), shape=shape)


def unseen_relevant(test: sp.csr_matrix, train: sp.csr_matrix) -> sp.csr_matrix:
    """Binary test matrix without the cells already in train (those cannot be recommended)."""
    rel = (sp.csr_matrix(test) > 0).astype(np.float32)
    seen = (sp.csr_matrix(train) != 0).astype(np.float32)
    out = (rel - rel.multiply(seen)).tocsr()
    out.eliminate_zeros()
    return out


# ---------------------------------------------------------------- metrics


def hits(recs: np.ndarray, test: sp.csr_matrix, users: np.ndarray | None = None) -> np.ndarray:
    """Boolean ``(n_users, K)``: whether each recommended item is relevant in ``test``."""
    recs = _as_recs(recs)
    rel = _relevant(test, users, len(recs))
    n_items = rel.shape[1]
    coo = rel.tocoo()
    truth = coo.row.astype(np.int64) * n_items + coo.col
    asked = np.arange(len(recs), dtype=np.int64)[:, None] * n_items + recs
    return np.isin(asked, truth) & (recs >= 0)


def precision_at_k(recs, test, k: int = 10, users=None) -> float:
    """Mean share of the top ``k`` that is relevant (denominator ``k``); in [0, 1]."""
    return ranking_metrics(recs, test, k, users)[f"precision@{k}"]


def recall_at_k(recs, test, k: int = 10, users=None) -> float:
    """Mean share of a user's relevant items found in the top ``k``; in [0, 1]."""
    return ranking_metrics(recs, test, k, users)[f"recall@{k}"]


def ndcg_at_k(recs, test, k: int = 10, users=None) -> float:
    """Mean NDCG with binary gains and ``log2(rank + 1)`` discounts; 1 for a perfect list."""
    return ranking_metrics(recs, test, k, users)[f"ndcg@{k}"]


def map_at_k(recs, test, k: int = 10, users=None) -> float:
    """Mean average precision; each user's sum is divided by ``min(k, n_relevant)``."""
    return ranking_metrics(recs, test, k, users)[f"map@{k}"]


def mrr(recs, test, k: int = 10, users=None) -> float:
    """Mean reciprocal rank of the first relevant item in the top ``k`` (0 when none)."""
    return ranking_metrics(recs, test, k, users)["mrr"]


def ranking_metrics(
    recs: np.ndarray, test: sp.csr_matrix, k: int | None = None, users: np.ndarray | None = None
) -> dict[str, float]:
    """Precision, recall, NDCG, MAP, hit rate at ``k`` and MRR in one pass.

    ``k`` defaults to the width of ``recs``; wider ``recs`` are cut to ``k`` columns, narrower
    ones count the missing places as misses. Keys: ``precision@K``, ``recall@K``, ``ndcg@K``,
    ``map@K``, ``hit_rate@K``, ``mrr``.
    """
    recs = _as_recs(recs)
    k = recs.shape[1] if k is None else int(k)
    if k < 1:
        raise BadInputError(f"k must be 1 or more; got {k}")
    recs = recs[:, :k]
    hit = hits(recs, test, users)
    n_rel = np.diff(_relevant(test, users, len(recs)).indptr)
    active = n_rel > 0
    keys = [f"{m}@{k}" for m in ACCURACY] + ["mrr"]
    if not active.any():
        return dict.fromkeys(keys, 0.0)
    hit, n_rel = hit[active], n_rel[active]
    width = hit.shape[1]
    positions = np.arange(1, width + 1)
    n_hit = hit.sum(axis=1)
    discounts = 1.0 / np.log2(positions + 1)
    dcg = (hit * discounts).sum(axis=1)
    ideal = np.cumsum(np.concatenate([[0.0], 1.0 / np.log2(np.arange(1, k + 1) + 1)]))
    idcg = ideal[np.minimum(n_rel, k)]
    precision_at = np.cumsum(hit, axis=1) / positions
    ap = (precision_at * hit).sum(axis=1) / np.minimum(n_rel, k)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, np.inf)
    values = [n_hit / k, n_hit / n_rel, dcg / idcg, ap, (n_hit > 0).astype(float), 1.0 / first]
    return {key: float(np.mean(v)) for key, v in zip(keys, values, strict=True)}


def catalog_coverage(recs: np.ndarray, n_items: int) -> float:
    """Share of the catalogue's ``n_items`` that appear in at least one list; in [0, 1]; 0 if empty."""
    recs = _as_recs(recs)
    if n_items <= 0 or recs.size == 0:
        return 0.0
    return float(np.unique(recs[recs >= 0]).size / n_items)


def novelty(recs: np.ndarray, train: sp.csr_matrix) -> float:
    """Mean self-information ``-log2(p(i))`` of recommended items, in bits (>= 0).

    ``p(i)`` is the share of training users who interacted with item ``i``; an item no training
    user touched counts as touched once. Higher means less obvious items. 0.0 for empty ``recs``.
    """
    recs = _as_recs(recs)
    valid = recs[recs >= 0]
    train = sp.csr_matrix(train)
    if valid.size == 0 or train.shape[0] == 0:
        return 0.0
    users_per_item = np.maximum(np.diff(train.tocsc().indptr), 1)
    info = -np.log2(users_per_item / train.shape[0])
    return float(info[valid].mean())


def intra_list_diversity(recs: np.ndarray, item_vectors: sp.spmatrix | np.ndarray) -> float:
    """Mean pairwise cosine distance ``1 - cos(v_i, v_j)`` between items of each list, in [0, 1].

    ``item_vectors`` has one row per item: item features (one-hot category, TF-IDF, ...) or,
    by default in this project, the item's column of the training matrix (``train.T``) so that
    items bought by the same users count as similar. Items with an all-zero vector count as
    dissimilar to everything. Lists with fewer than two items are skipped; 0.0 when none are left.

    The cosines come from the Gram matrix of the distinct recommended items only (one sparse
    product of their unit vectors), read at each list's pairs: the cost grows with the number of
    lists times the pairs in a list, not with lists times the length of the vectors.
    """
    recs = _as_recs(recs)
    size = (recs >= 0).sum(axis=1)
    keep = size >= 2
    if not keep.any():
        return 0.0
    recs, size = recs[keep], size[keep]
    distinct, position = np.unique(recs, return_inverse=True)
    position = position.reshape(recs.shape)
    valid = recs >= 0
    if distinct[0] < 0:
        distinct, position = distinct[1:], position - 1
    vectors = sp.csr_matrix(item_vectors, dtype=np.float64)[distinct]
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    unit = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ vectors
    gram = unit @ unit.T
    if len(distinct) ** 2 <= DIVERSITY_CELLS:  # a few thousand distinct items: read it dense
        gram = gram.toarray()
    else:
        gram = gram.tocsr()
    width = recs.shape[1]
    other_place = ~np.eye(width, dtype=bool)
    pair_sum = np.zeros(len(recs), dtype=np.float64)
    step = max(1, DIVERSITY_CELLS // (width * width))
    for start in range(0, len(recs), step):
        pos, ok = position[start : start + step], valid[start : start + step]
        pairs = ok[:, :, None] & ok[:, None, :] & other_place
        rows = np.broadcast_to(pos[:, :, None], pairs.shape)[pairs]
        cols = np.broadcast_to(pos[:, None, :], pairs.shape)[pairs]
        owner = np.broadcast_to(np.arange(len(pos))[:, None, None], pairs.shape)[pairs]
        cosines = np.asarray(gram[rows, cols], dtype=np.float64).ravel()
        pair_sum[start : start + step] = np.bincount(owner, cosines, minlength=len(pos))
    mean_sim = pair_sum / (size * (size - 1))
    return float(np.clip(1.0 - mean_sim, 0.0, 1.0).mean())


def evaluate_recs(
    recs: np.ndarray,
    test: sp.csr_matrix,
    train: sp.csr_matrix,
    k: int | None = None,
    users: np.ndarray | None = None,
    item_vectors: sp.spmatrix | None = None,
) -> dict[str, float]:
    """Every metric of this module: the ranking metrics plus ``coverage``, ``novelty``, ``diversity``.

    ``item_vectors`` defaults to ``train.T`` (co-occurrence; see ``intra_list_diversity``).
    """
    recs = _as_recs(recs)
    k = recs.shape[1] if k is None else int(k)
    out = ranking_metrics(recs, test, k, users)
    top = recs[:, :k]
    out["coverage"] = catalog_coverage(top, train.shape[1])
    out["novelty"] = novelty(top, train)
    out["diversity"] = intra_list_diversity(top, train.T if item_vectors is None else item_vectors)
    return out


# ---------------------------------------------------------------- cross-validation


def summarize_folds(results: list[dict[str, float]]) -> dict[str, Any]:
    """``{"mean": {metric: ...}, "std": {metric: ...}, "folds": results}`` (population std)."""
    if not results:
        return {"mean": {}, "std": {}, "folds": []}
    frame = pd.DataFrame(results)
    return {
        "mean": {c: float(frame[c].mean()) for c in frame},
        "std": {c: float(frame[c].std(ddof=0)) for c in frame},
        "folds": results,
    }


def cross_validate(
    evaluate: Callable[[sp.csr_matrix, sp.csr_matrix], dict[str, float]],
    matrix: sp.csr_matrix,
    folds: int = 5,
    seed: int = 0,
    progress: Progress = None,
) -> dict[str, Any]:
    """Run ``evaluate(train, test) -> metrics`` on each of ``folds`` random folds of ``matrix``.

    Returns ``summarize_folds`` of the per-fold metrics: mean and spread of every metric.
    """
    results = []
    for i, (train, test) in enumerate(kfold(matrix, folds, seed)):
        report(progress, i / folds, f"fold {i + 1} of {folds}")
        results.append(evaluate(train, test))
    report(progress, 1.0, "cross-validation done")
    return summarize_folds(results)


# ---------------------------------------------------------------- helpers


def _check_test_size(test_size: float) -> None:
    if not 0 < test_size < 1:
        raise BadInputError(f"test_size must be between 0 and 1 (exclusive); got {test_size}")


def _part(coo: sp.coo_matrix, mask: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix((coo.data[mask], (coo.row[mask], coo.col[mask])), shape=coo.shape)


def _time_order(events: pd.DataFrame) -> np.ndarray:
    if "timestamp" in events and events["timestamp"].notna().any():
        ts = pd.to_datetime(events["timestamp"])
        order = ts.rank(method="first").to_numpy()
        return np.where(np.isnan(order), -1.0, order)
    return np.arange(len(events), dtype=float)


def _as_recs(recs: np.ndarray) -> np.ndarray:
    recs = np.asarray(recs)
    if recs.ndim == 1 and recs.size == 0:
        recs = recs.reshape(0, 0)
    if recs.ndim != 2:
        raise BadInputError(f"recs must be a 2-D array (users x K); got shape {recs.shape}")
    return recs.astype(np.int64, copy=False)


def _relevant(test: sp.csr_matrix, users: np.ndarray | None, n_rows: int) -> sp.csr_matrix:
    test = sp.csr_matrix(test)
    rel = test[np.asarray(users)] if users is not None else test
    if rel.shape[0] != n_rows:
        raise BadInputError(
            f"recs has {n_rows} rows but the test matrix gives {rel.shape[0]}; "
            f"pass users= to match them"
        )
    rel = (rel > 0).astype(np.int8).tocsr()
    rel.eliminate_zeros()
    return rel
