"""The recommendation service the command line and the pages call.

Train, evaluate and tune recommenders on the events in DuckDB; recommend for a known user, a new
user (by attributes such as device and location), a segment, or everyone at once; find similar
items; export lists. Every row carries a ``reason`` a marketer can read:

- "Because you bought Linen Tea Towel and viewed Oak Tray": the user's history items most
  similar to the recommended item, with the verb of the strongest event the user had with each.
  For one user (``recommend_for_user``) the candidates are what the model's own ``explain()``
  says drove the score (svd, als, itemknn, ease, content, hybrid); for many users at once
  (``recommendations_for_users``, exports) the history items with the highest item-item
  similarity, vectorised. Similarity is the cosine of the model's item factors (svd, als,
  hybrid's collaborative part), of item features (content), the model's item-item weights
  (itemknn) or co-occurrence (others). A history item is named only when that similarity is at
  least ``REASON_SIMILARITY`` of its kind (set so that, on the sample shop, nine in ten named
  pairs share a category), twice that when the two items are of different categories;
  otherwise, in this order:
- "Popular in kitchen, a category you browse": the item's category is one the user touched;
- "Trending this week": among the items most users touched in the last 7 days of the data;
- "Popular with customers who shop like you": the model's collaborative signal, nothing nameable;
- "Popular with mobile users in Berlin": for new users, what similar users touched;
- "Similar to X": for ``similar_items``.

Scoring a known user reads no events: the model artifact holds the training matrix and the id
maps, so "already seen" means seen in the training data, and events loaded after training are
ignored until the model is trained again. Loaded artifacts are kept in memory (a few per
process, keyed by their file), so only the first call for a model pays for reading it.

``k`` larger than what can be recommended is capped; the frame's ``attrs["note"]`` then says so.
A user who is in the ``users`` table but has no events is a new user: recommendations come from
users with the same attributes. Unknown ids raise ``NotFoundError`` with a few real ids.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import config, ranking, registry, store
from personalization.errors import BadInputError, NotEnoughDataError, NotFoundError
from personalization.export import FORMATS, write_blocks
from personalization.interactions import (
    DEFAULT_EVENT_WEIGHTS,
    RATING,
    Interactions,
    build_interactions,
    with_items,
)
from personalization.recommenders import ALGORITHMS, Recommender, make_recommender
from personalization.recommenders.base import top_n
from personalization.store import events as store_events

Progress = Callable[[float, str], None] | None

MIN_INTERACTIONS = 20
MIN_SEGMENT_USERS = 10
MAX_SEGMENT_ATTRIBUTES = 2
AUTO_WEIGHTINGS = ("log", "binary", "bm25")
FEATURE_ALGOS = ("content", "hybrid")
EVAL_MAX_USERS = 5000
NEIGHBOURS = 30
TRENDING_DAYS = 7
TRENDING_TOP = 20
BLOCK_CELLS = 1 << 22
EXPORT_BLOCK_USERS = 2000
LOADED_MODELS = 4
REASON_SIMILARITY = {"factors": 0.4, "features": 0.3, "itemknn": 0.1, "cooccurrence": 0.2}
EXPLAINED_ALGOS = ("svd", "als", "itemknn", "ease", "content", "hybrid")
LIKE_YOU = "Popular with customers who shop like you"
TITLE_COLUMNS = ("title", "name", "product_name", "description", "Description")
CATEGORY_COLUMNS = ("category", "department", "product_type", "categories")
PRICE_COLUMNS = ("price", "unit_price", "UnitPrice")
PLACE_COLUMNS = ("location", "city", "country", "region", "state", "Country")
DEFAULT_ITEM_COLUMNS = ("title", "category", "price")
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to cart",
    "remove_from_cart": "removed from cart",
    "view": "viewed",
    "click": "clicked",
    "rating": "rated",
}
TRUE_TEXT = {"true", "yes", "y", "1", "t"}
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "svd": {"rank": (4, 128, "log"), "weighting": ["none", "log", "binary", "bm25"]},
    "als": {
        "factors": (8, 128, "log"),
        "regularization": (0.001, 1.0, "log"),
        "alpha": (1.0, 100.0, "log"),
    },
    "itemknn": {"k": (10, 400, "log"), "shrink": (0.0, 100.0)},
    "ease": {"l2": (10.0, 5000.0, "log")},
    "trending": {"window_days": (1, 60, "log")},
}


@dataclass
class RecommenderArtifact:
    """What a saved recommender holds: the model and everything needed to score and explain.

    ``interactions`` is the training matrix with its id maps; ``items`` and ``users`` hold the
    attributes (indexed by id as text); ``pair_types`` (same shape as the matrix) the code + 1 of
    the strongest event type of each pair in ``event_types``; ``neighbours`` (items x items) the
    top co-occurrence cosines of each item; ``trending`` a boolean per item column.
    """

    model: Recommender
    algo: str
    params: dict
    interactions: Interactions
    event_weights: dict
    half_life_days: float | None
    table: str
    items: pd.DataFrame
    users: pd.DataFrame
    pair_types: sp.csr_matrix
    event_types: list[str]
    neighbours: sp.csr_matrix
    trending: np.ndarray
    metrics: dict = field(default_factory=dict)

    @property
    def n_items(self) -> int:
        return self.interactions.matrix.shape[1]

    def titles(self, item_indices: np.ndarray) -> np.ndarray:
        ids = self.interactions.item_ids[item_indices]
        column = _first_present(self.items, TITLE_COLUMNS)
        if column is None:
            return ids.astype(str)
        found = self.items[column].reindex(ids.astype(str)).to_numpy(dtype=object)
        return np.char.strip(np.where(pd.isna(found), ids.astype(str), found).astype(str))


# ---------------------------------------------------------------- train, evaluate, tune


def train_recommender(
    algo: str = "svd",
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    table: str = "events",
    name: str | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Fit ``algo`` on all events of ``table``, save it, and return what was done.

    Before the final fit a quick holdout (temporal 80/20 when there are timestamps, else random)
    measures the model beside the popularity baseline; those metrics are saved with the model.
    Good defaults: SVD chooses its rank itself; without a ``weighting`` param the service picks
    log, binary or bm25 by NDCG@10 on a validation split carved from the holdout's train part.
    Returns ``model_id``, ``algo``, ``params`` (including learned choices such as ``rank_``),
    ``n_users``, ``n_items``, ``nnz``, ``fit_seconds``, ``metrics`` (``ndcg@10``, ... and
    ``baseline`` with the same keys). Raises ``NotEnoughDataError`` for too few interactions.
    """
    params = dict(params or {})
    _check_algo(algo, params)
    _report(progress, 0.05, f"reading {table}")
    events = store_events.read_events(table, db=db)
    weights = _weights(event_weights)
    inter = _interactions(events, weights, half_life_days)
    items, users = _attributes(table, db)
    _report(progress, 0.15, "choosing defaults and measuring on a holdout split")
    metrics, params = _quick_metrics(algo, params, events, weights, half_life_days, items)
    if algo in FEATURE_ALGOS:
        inter = with_items(inter, items.index.astype(str))
    _report(progress, 0.55, f"fitting {algo} on {inter.matrix.nnz} interactions")
    model, seconds = _fit(algo, params, inter, items)
    _report(progress, 0.85, "saving the model")
    artifact = _artifact(
        model, algo, params, inter, events, weights, half_life_days, table, items, users
    )
    artifact.metrics = metrics
    saved_params = {
        **_public_params(model), "event_weights": weights, "half_life_days": half_life_days
    }
    model_id = registry.save_model(
        artifact,
        "recommender",
        algo,
        saved_params,
        metrics,
        _fingerprint(table, inter),
        name=name,
        db=db,
    )
    _report(progress, 1.0, "done")
    return {
        "model_id": model_id,
        "algo": algo,
        "params": saved_params,
        "n_users": int(inter.matrix.shape[0]),
        "n_items": int(inter.matrix.shape[1]),
        "nnz": int(inter.matrix.nnz),
        "fit_seconds": round(seconds, 3),
        "metrics": metrics,
    }


def evaluate_recommender(
    algo: str = "svd",
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    split: str = "temporal",
    test_size: float = 0.2,
    k: int = 10,
    folds: int | None = None,
    seed: int = 0,
    half_life_days: float | None = None,
    table: str = "events",
    db=None,
    progress: Progress = None,
) -> dict:
    """Offline evaluation of ``algo`` beside the popularity baseline.

    Without ``folds``: one split of the events (``random`` by user-item pair, ``temporal`` global
    cut-off, ``leave-last`` per user); metrics on the test users' items that are new to them.
    SVD without a ``weighting`` gets it chosen on a validation part of the train split.
    With ``folds`` (>= 2): k-fold cross-validation over the interactions (random split), the
    metrics being fold means, with ``metrics_std`` / ``baseline_std`` beside.
    Returns ``metrics`` and ``baseline`` (``precision@K``, ``recall@K``, ``ndcg@K``, ``map@K``,
    ``hit_rate@K``, ``mrr``, ``coverage``, ``novelty``, ``diversity``), ``fit_seconds``,
    ``split``, ``k``, ``n_test_users``. Raises ``BadInputError`` when ``k`` exceeds the catalogue.
    """
    params = dict(params or {})
    _check_algo(algo, params)
    k = _check_k(k)
    weights = _weights(event_weights)
    _report(progress, 0.05, f"reading {table}")
    events = store_events.read_events(table, db=db)
    inter = _interactions(events, weights, half_life_days)
    _check_k_fits(k, inter.matrix.shape[1])
    if folds:
        items, _ = _attributes(table, db)
        return _cross_validate(algo, params, inter, k, int(folds), seed, items, progress)
    _report(progress, 0.1, f"{split} split")
    train_ev, test_ev = ranking.split_events(events, split, test_size, seed)
    items, _ = _attributes(table, db)
    params = _auto_params(algo, params, train_ev, split, weights, half_life_days, items, seed)
    result = _holdout(algo, params, train_ev, test_ev, weights, half_life_days, k, seed, items)
    _report(progress, 1.0, "done")
    return {**result, "split": split, "test_size": test_size, "k": k}


def tune_recommender(
    algo: str = "svd",
    search: str = "bayes",
    trials: int = 20,
    space: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    event_weights: Mapping[str, float] | None = None,
    split: str = "temporal",
    test_size: float = 0.2,
    k: int = 10,
    metric: str | None = None,
    seed: int = 0,
    half_life_days: float | None = None,
    table: str = "events",
    on_trial: Callable[[dict], None] | None = None,
    db=None,
    progress: Progress = None,
) -> dict:
    """Search ``space`` (default ``DEFAULT_SPACES[algo]``) on a validation split, then test once.

    The events are split into train and test by ``split``; the train part is split again the
    same way into fit and validation parts. Every trial fits on the fit part and is scored on
    validation (``metric``, default ``ndcg@K``); the test part is used only once, for the best
    setting refitted on the whole train part. ``params`` are fixed and not searched.
    Returns ``best_params``, ``best_metrics`` (validation), ``test_metrics``, ``baseline`` (test),
    ``trials`` (each ``trial``, ``params``, ``metrics``, ``value``, ``seconds``), ``metric``.
    """
    fixed = dict(params or {})
    _check_algo(algo, fixed)
    k = _check_k(k)
    metric = metric or f"ndcg@{k}"
    space = _space(algo, space, fixed)
    weights = _weights(event_weights)
    events = store_events.read_events(table, db=db)
    _check_k_fits(k, _interactions(events, weights, half_life_days).matrix.shape[1])
    train_ev, test_ev = ranking.split_events(events, split, test_size, seed)
    fit_ev, val_ev = ranking.split_events(train_ev, split, test_size, seed + 1)
    data = _eval_data(fit_ev, val_ev, weights, half_life_days, seed)
    items, _ = _attributes(table, db)

    def objective(trial_params: dict) -> dict:
        model, _ = _fit(algo, {**fixed, **trial_params}, data["inter"], items)
        return _score_model(model, data, k)

    def stage(fraction: float, message: str) -> None:
        _report(progress, 0.9 * fraction, message)

    found = ranking.search_params(objective, space, search, trials, metric, seed, on_trial, stage)
    best_params = {**fixed, **found["best_params"]}
    _report(progress, 0.92, "refitting the best setting and testing it once")
    final = _holdout(algo, best_params, train_ev, test_ev, weights, half_life_days, k, seed, items)
    _report(progress, 1.0, "done")
    return {
        "best_params": best_params,
        "best_metrics": found["best_metrics"],
        "test_metrics": final["metrics"],
        "baseline": final["baseline"],
        "metric": metric,
        "search": search,
        "trials": found["trials"],
    }


# ---------------------------------------------------------------- recommend


def recommend_for_user(
    user_id: Any,
    k: int = 10,
    model_id: str | None = None,
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    item_columns: Sequence[str] = (),
    db=None,
) -> pd.DataFrame:
    """Top ``k`` items for one user: ``rank``, ``item_id``, ``score``, ``reason`` + item columns.

    ``filter_seen`` drops what the user touched in the training data (events loaded after
    training count once the model is retrained), except the ``rebuyable`` item ids;
    ``exclude_items`` / ``exclude_categories`` remove items for everyone; ``only_if`` keeps only
    items whose column(s) hold a true value (``in_stock``). A user known only from the ``users``
    table is served as a new user from their attributes. Raises ``NotFoundError`` for an unknown
    user (with a few real ids) and ``BadInputError`` for bad filters or ``k`` < 1.
    """
    art, _ = _load(model_id, db)
    k = _check_k(k)
    uid = str(user_id)
    row = art.interactions.user_index(uid)
    banned = _banned(art, exclude_items, exclude_categories, only_if)
    if row is None:
        attributes = _known_user_attributes(art, uid, db)
        return _segment_frame(art, attributes, k, banned, item_columns)
    rebuy = _item_mask(art, rebuyable)
    ids, scores = _top_items(art, np.array([row]), k, banned, filter_seen, rebuy)
    frame = _frame(art, np.zeros(ids.shape, dtype=np.int64), ids, scores, item_columns)
    items = frame.pop("_item").to_numpy()
    frame["reason"] = _reasons(art, np.full(len(frame), row), items, explain=True)
    frame = frame.drop(columns="_row")
    return _with_note(_order(frame, item_columns), k, art, banned)


def recommend_for_new_user(
    attributes: Mapping[str, Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    item_columns: Sequence[str] = (),
    db=None,
) -> pd.DataFrame:
    """What is popular among users with the same ``attributes`` (e.g. device, location).

    When fewer than ``MIN_SEGMENT_USERS`` users with events match them all, the last attributes
    are dropped one by one; with none left, what is popular overall. The reason names the
    audience used. Raises ``BadInputError`` for an attribute that is not a users column.
    """
    art, _ = _load(model_id, db)
    banned = _banned(art, exclude_items, exclude_categories, only_if)
    return _segment_frame(art, dict(attributes or {}), _check_k(k), banned, item_columns)


def segment_top_items(
    column: str, value: Any, k: int = 10, model_id: str | None = None, db=None
) -> pd.DataFrame:
    """The items most users of a segment (``users.column == value``) touched, with reasons."""
    return recommend_for_new_user({column: value}, k=k, model_id=model_id, db=db)


def similar_items(
    item_id: Any, k: int = 10, model_id: str | None = None, item_columns: Sequence[str] = (), db=None
) -> pd.DataFrame:
    """The ``k`` items most similar to ``item_id`` by the model: ``rank``, ``item_id``, ``score``,
    ``reason`` ("Similar to X") + item columns. An item with no events that is in the items table
    is matched by its attributes (same category first, then words of the title)."""
    art, _ = _load(model_id, db)
    k = _check_k(k)
    iid = str(item_id)
    col = art.interactions.item_index(iid)
    if col is not None:
        ids, scores = art.model.similar_items(col, n=k)
        title = art.titles(np.array([col]))[0]
    else:
        ids, scores, title = _similar_by_attributes(art, iid, k, db)
    owners = np.zeros((1, len(ids)), dtype=np.int64)
    frame = _frame(art, owners, ids[None, :], scores[None, :], item_columns)
    frame = frame.drop(columns=["_row", "_item"])
    frame["reason"] = f"Similar to {title}"
    return _order(frame, item_columns)


def user_history(user_id: Any, limit: int = 20, table: str = "events", db=None) -> pd.DataFrame:
    """The user's ``limit`` most recent events, newest first, with item title and category.

    Reads only that user's rows (one parameterised query) and the items they touched. A user in
    the users table without events gets an empty frame; an unknown user raises
    ``NotFoundError`` with a few real ids.
    """
    uid = str(user_id)
    mine = store_events.read_user_events(uid, table, int(limit), db=db)
    if mine.empty:
        users = store_events.read_attribute_rows("users", "user_id", [uid], db=db)
        if uid not in users.index:
            known = store_events.sample_values(table, "user_id", db=db)
            raise NotFoundError(_unknown("user", uid, known))
    mine["item_id"] = mine["item_id"].astype(str)
    items = store_events.read_attribute_rows("items", "item_id", mine["item_id"].unique(), db=db)
    for role, names in (("title", TITLE_COLUMNS), ("category", CATEGORY_COLUMNS)):
        column = _first_present(items, names)
        if column is not None:
            mine[role] = items[column].reindex(mine["item_id"].astype(str)).to_numpy()
    return mine


def recommendations_for_users(
    users: Iterable[Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    item_columns: Sequence[str] = (),
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    db=None,
    progress: Progress = None,
) -> pd.DataFrame:
    """Top ``k`` for many users at once: ``user_id``, ``rank``, ``item_id``, ``score``, ``reason``
    and the chosen item columns. Users are scored in blocks (no Python loop per user); the
    filters work as in ``recommend_for_user``. For large sets prefer ``export_recommendations``,
    which writes block by block instead of holding every row.

    ``users=None`` means every user of the model. Users without events but in the users table
    get their segment's favourites. Raises ``NotFoundError`` naming ids that are neither.
    """
    blocks = recommendation_blocks(
        users, k, model_id, item_columns, filter_seen, exclude_items, exclude_categories,
        only_if, rebuyable, db=db, progress=progress,
    )
    return pd.concat(list(blocks), ignore_index=True)


def recommendation_blocks(
    users: Iterable[Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    item_columns: Sequence[str] = (),
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    db=None,
    progress: Progress = None,
) -> Iterator[pd.DataFrame]:
    """``recommendations_for_users`` as a stream of frames of at most ``EXPORT_BLOCK_USERS``
    users each, in the order of ``users``; at least one frame (empty when there are no users).

    Everything that can fail on bad input (model, ``k``, filters, unknown users) is checked
    before the first frame is produced.
    """
    art, _ = _load(model_id, db)
    k = _check_k(k)
    ids = art.interactions.user_ids.astype(str) if users is None else _unique_text(users)
    rows = art.interactions.user_indices(ids) if users is not None else np.arange(len(ids))
    banned = _banned(art, exclude_items, exclude_categories, only_if)
    _join_items(art, pd.DataFrame({"item_id": []}), item_columns)
    cold = _cold_attributes(art, ids[rows < 0], db)
    rebuy = _item_mask(art, rebuyable)
    return _blocks(art, ids, rows, k, banned, filter_seen, rebuy, cold, item_columns, progress)


def export_recommendations(
    out: str | Path,
    k: int = 10,
    model_id: str | None = None,
    users: Iterable[Any] | None = None,
    item_columns: Sequence[str] = (),
    filter_seen: bool = True,
    exclude_items: Iterable[str] = (),
    exclude_categories: Iterable[str] = (),
    only_if: str | Sequence[str] | None = None,
    rebuyable: Iterable[str] = (),
    only_chosen_columns: bool = False,
    db=None,
    progress: Progress = None,
) -> dict:
    """Write the top ``k`` of ``users`` (None: everyone) to ``out`` (.csv, formula-safe, or
    .parquet), scored and written block by block so memory stays flat for any number of users.

    Filters as in ``recommend_for_user``. The file has ``user_id``, ``rank``, ``item_id``,
    ``score``, ``reason``, then title, category and price when the items have them, and
    ``item_columns``; with ``only_chosen_columns`` only ``item_columns`` follow the reason.
    Returns ``path``, ``rows`` and ``users`` (number of users in the file). Raises
    ``BadInputError`` for another extension, before any scoring.
    """
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise BadInputError(
            f"Cannot export to {path.name!r}: use a file name ending in .csv or .parquet."
        )
    blocks = recommendation_blocks(
        users, k, model_id, item_columns, filter_seen, exclude_items, exclude_categories,
        only_if, rebuyable, db=db, progress=progress,
    )
    counted = {"users": 0}
    head = ["user_id", "rank", "item_id", "score", "reason"]

    def shaped() -> Iterator[pd.DataFrame]:
        for block in blocks:
            counted["users"] += int(block["user_id"].nunique())
            if only_chosen_columns:
                block = block[head + [c for c in item_columns if c not in head]]
            yield block

    written, rows = write_blocks(shaped(), path)
    return {"path": str(written), "rows": int(rows), "users": counted["users"]}


# ---------------------------------------------------------------- fitting and evaluation helpers


def _check_algo(algo: str, params: dict) -> None:
    if algo not in ALGORITHMS:
        raise BadInputError(
            f"Unknown recommender {algo!r}; choose one of: {', '.join(ALGORITHMS)}."
        )
    make_recommender(algo, **params)


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise BadInputError(f"k must be a whole number of items >= 1; got {k!r}.")
    return int(k)


def _check_k_fits(k: int, n_items: int) -> None:
    if k > n_items:
        raise BadInputError(
            f"k={k} is larger than the catalogue of {n_items} items; metrics at k would be "
            f"meaningless. Use -k {n_items} or less."
        )


def _weights(event_weights: Mapping[str, float] | None) -> dict[str, float]:
    out = dict(DEFAULT_EVENT_WEIGHTS)
    for key, value in (event_weights or {}).items():
        try:
            out[str(key)] = float(value)
        except (TypeError, ValueError):
            raise BadInputError(
                f"The weight of event type {key!r} must be a number; got {value!r}."
            ) from None
    return out


def _interactions(
    events: pd.DataFrame, weights: dict, half_life_days: float | None, now=None
) -> Interactions:
    _check_weights_known(events, weights)
    inter = build_interactions(events, weights, half_life_days, now=now)
    _check_enough(inter, len(events))
    return inter


def _check_weights_known(events: pd.DataFrame, weights: dict) -> None:
    present = set(events["event_type"].dropna().astype(str)) if "event_type" in events else set()
    known = set(DEFAULT_EVENT_WEIGHTS) | {RATING} | present
    unknown = sorted(set(weights) - known)
    if unknown:
        raise BadInputError(
            f"Weights were given for unknown event types: {', '.join(unknown)}; the events have "
            f"{', '.join(sorted(present)) or 'no event_type column'}. Use one of those names."
        )


def _check_enough(inter: Interactions, n_events: int) -> None:
    n_users, n_items = inter.matrix.shape
    if inter.matrix.nnz < MIN_INTERACTIONS or n_users < 2 or n_items < 2:
        raise NotEnoughDataError(
            f"Too few interactions to train a recommender: {n_events} events give "
            f"{inter.matrix.nnz} user-item interactions ({n_users} users, {n_items} items); at "
            f"least {MIN_INTERACTIONS} interactions between 2 or more users and items are needed. "
            f"Load more events, e.g. the sample data."
        )


def _fit(
    algo: str, params: dict, inter: Interactions, items: pd.DataFrame
) -> tuple[Recommender, float]:
    model = make_recommender(algo, **params)
    takes_age = "age_days" in inspect.signature(model.fit).parameters
    extra = {"age_days": inter.age_days} if takes_age else {}
    start = time.perf_counter()
    model.fit(inter.matrix, item_features=_item_frame(items, inter.item_ids), **extra)
    return model, time.perf_counter() - start


def _item_frame(items: pd.DataFrame, item_ids: np.ndarray) -> pd.DataFrame | None:
    """Item attributes aligned with the matrix columns, for the models that use them."""
    if items.empty:
        return None
    return items.reindex(pd.Index(item_ids).astype(str))


def _public_params(model: Recommender) -> dict:
    params = {k: v for k, v in model.get_params().items() if _plain(v)}
    for learned in ("rank_",):
        if hasattr(model, learned):
            params[learned] = int(getattr(model, learned))
    return params


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool | tuple | list)


def _eval_data(train_ev, test_ev, weights, half_life_days, seed) -> dict:
    """Train interactions and the aligned binary test matrix of items new to each user."""
    inter = _interactions(train_ev, weights, half_life_days)
    present = set(test_ev["event_type"].dropna().astype(str)) if "event_type" in test_ev else set()
    test_weights = {t: w for t, w in weights.items() if t in present or t in DEFAULT_EVENT_WEIGHTS}
    try:
        tested = build_interactions(test_ev, test_weights)
    except NotEnoughDataError:
        tested = None
    if tested is None:
        test = sp.csr_matrix(inter.matrix.shape, dtype=np.float32)
    else:
        test = ranking.align(
            tested.matrix, tested.user_ids, tested.item_ids, inter.user_ids, inter.item_ids
        )
    test = ranking.unseen_relevant(test, inter.matrix)
    users = np.flatnonzero(np.diff(test.indptr) > 0)
    if len(users) == 0:
        raise NotEnoughDataError(
            f"The test part ({len(test_ev)} events) has no user who is in the training part and "
            f"touched an item new to them there; use a larger --test-size or --split random."
        )
    if len(users) > EVAL_MAX_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, EVAL_MAX_USERS, replace=False))
    return {"inter": inter, "test": test, "users": users}


def _score_model(model: Recommender, data: dict, k: int) -> dict:
    inter, users = data["inter"], data["users"]
    recs, _ = model.recommend(users, inter.matrix, n=min(k, inter.matrix.shape[1]), filter_seen=True)
    return ranking.evaluate_recs(recs, data["test"], inter.matrix, k, users)


def _holdout(algo, params, train_ev, test_ev, weights, half_life_days, k, seed, items) -> dict:
    data = _eval_data(train_ev, test_ev, weights, half_life_days, seed)
    model, seconds = _fit(algo, params, data["inter"], items)
    baseline, _ = _fit("popularity", {}, data["inter"], items)
    return {
        "metrics": _score_model(model, data, k),
        "baseline": _score_model(baseline, data, k),
        "fit_seconds": round(seconds, 3),
        "n_test_users": int(len(data["users"])),
        "params": _public_params(model),
    }


def _quick_metrics(algo, params, events, weights, half_life_days, items) -> tuple[dict, dict]:
    """Holdout metrics (80/20, temporal when there are timestamps) and the params to fit with,
    after ``_auto_params`` chose what was left open on the training part."""
    method = "temporal" if _has_times(events) else "random"
    try:
        train_ev, test_ev = ranking.split_events(events, method, 0.2, 0)
        params = _auto_params(algo, params, train_ev, method, weights, half_life_days, items, 0)
        result = _holdout(algo, params, train_ev, test_ev, weights, half_life_days, 10, 0, items)
    except NotEnoughDataError as exc:
        return {"note": f"no holdout metrics: {exc}"}, params
    return {**result["metrics"], "baseline": result["baseline"], "split": method}, params


def _auto_params(algo, params, train_ev, method, weights, half_life_days, items, seed) -> dict:
    """For SVD without a ``weighting``, the one of ``AUTO_WEIGHTINGS`` with the best NDCG@10 on
    a validation split carved from ``train_ev`` (never the test part); else ``params`` as given."""
    if algo != "svd" or "weighting" in params:
        return params
    try:
        fit_ev, val_ev = ranking.split_events(train_ev, method, 0.2, seed + 1)
        data = _eval_data(fit_ev, val_ev, weights, half_life_days, seed)
    except NotEnoughDataError:
        return params
    scores = {}
    for weighting in AUTO_WEIGHTINGS:
        model, _ = _fit(algo, {**params, "weighting": weighting}, data["inter"], items)
        scores[weighting] = _score_model(model, data, 10)["ndcg@10"]
    return {**params, "weighting": max(scores, key=scores.get)}


def _cross_validate(algo, params, inter, k, folds, seed, items, progress) -> dict:
    seconds: list[float] = []

    def run(name: str, chosen: dict) -> Callable:
        def evaluate(train, test):
            fold = Interactions(train, inter.user_ids, inter.item_ids)
            model, took = _fit(name, chosen, fold, items)
            if name == algo:
                seconds.append(took)
            relevant = ranking.unseen_relevant(test, train)
            users = np.flatnonzero(np.diff(relevant.indptr) > 0)
            return _score_model(model, {"inter": fold, "test": relevant, "users": users}, k)

        return evaluate

    model_cv = ranking.cross_validate(run(algo, params), inter.matrix, folds, seed, progress)
    base_cv = ranking.cross_validate(run("popularity", {}), inter.matrix, folds, seed)
    return {
        "metrics": model_cv["mean"],
        "metrics_std": model_cv["std"],
        "baseline": base_cv["mean"],
        "baseline_std": base_cv["std"],
        "fit_seconds": round(float(np.mean(seconds)), 3),
        "split": "random",
        "folds": folds,
        "k": k,
    }


def _space(algo: str, space: Mapping[str, Any] | None, fixed: dict) -> dict:
    accepted = set(make_recommender(algo).get_params())
    chosen = dict(space) if space else {
        name: spec for name, spec in DEFAULT_SPACES.get(algo, {}).items() if name in accepted
    }
    chosen = {name: spec for name, spec in chosen.items() if name not in fixed}
    unknown = sorted(set(chosen) - accepted)
    if unknown:
        raise BadInputError(
            f"{algo} has no parameter {', '.join(unknown)} to search; "
            f"it takes: {', '.join(sorted(accepted))}."
        )
    if not chosen:
        raise BadInputError(
            f"{algo} has nothing to tune; choose another algorithm or give a space."
        )
    return chosen


def _has_times(events: pd.DataFrame) -> bool:
    return "timestamp" in events and events["timestamp"].notna().sum() >= 2


def _fingerprint(table: str, inter: Interactions) -> str:
    return registry.fingerprint(
        table, inter.matrix.shape, int(inter.matrix.nnz), round(float(inter.matrix.sum()), 3), inter.now
    )


# ---------------------------------------------------------------- artifact


def _artifact(model, algo, params, inter, events, weights, half_life_days, table, items, users):
    codes, types = _pair_types(events, inter, weights)
    return RecommenderArtifact(
        model=model,
        algo=algo,
        params=dict(params),
        interactions=inter,
        event_weights=weights,
        half_life_days=half_life_days,
        table=table,
        items=items,
        users=users,
        pair_types=codes,
        event_types=types,
        neighbours=_neighbours(inter.matrix),
        trending=_trending(events, inter),
    )


def _attributes(table: str, db) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item and user attributes; without an items table, item columns kept in the events."""
    items = store_events.read_attributes("items", "item_id", db=db)
    if items.empty:
        items = _items_from_events(table, db)
    users = store_events.read_attributes("users", "user_id", db=db)
    return items, users


def _items_from_events(table: str, db) -> pd.DataFrame:
    present = [name for name, _ in store.table_columns(table, db=db)]
    wanted = [c for c in TITLE_COLUMNS + CATEGORY_COLUMNS + PRICE_COLUMNS if c in present]
    if not wanted:
        return pd.DataFrame(index=pd.Index([], name="item_id", dtype=object))
    frame = store_events.read_events(table, columns=["item_id", *wanted], db=db)
    frame = frame[frame["item_id"].notna()]
    frame["item_id"] = frame["item_id"].astype(str)
    return frame.groupby("item_id", sort=False).first()


def _pair_types(
    events: pd.DataFrame, inter: Interactions, weights: dict
) -> tuple[sp.csr_matrix, list[str]]:
    """Code + 1 of the strongest event type of each (user, item) pair of the matrix."""
    if "event_type" not in events:
        return sp.csr_matrix(inter.matrix.shape, dtype=np.int16), []
    frame = events[["user_id", "item_id", "event_type"]].dropna().astype(str)
    frame = frame.assign(w=frame["event_type"].map(weights).fillna(1.0).to_numpy())
    frame = frame.sort_values("w", kind="stable")
    frame = frame.drop_duplicates(["user_id", "item_id"], keep="last")
    codes, types = pd.factorize(frame["event_type"])
    rows = inter.user_indices(frame["user_id"])
    cols = inter.item_indices(frame["item_id"])
    keep = (rows >= 0) & (cols >= 0)
    matrix = sp.csr_matrix(
        ((codes[keep] + 1).astype(np.int16), (rows[keep], cols[keep])), shape=inter.matrix.shape
    )
    return matrix, [str(t) for t in types]


def _neighbours(matrix: sp.csr_matrix, n: int = NEIGHBOURS) -> sp.csr_matrix:
    """Each item's ``n`` most co-occurring items by cosine of their binary user columns."""
    item_users = (matrix.T.tocsr() > 0).astype(np.float32)
    norms = np.sqrt(np.asarray(item_users.sum(axis=1)).ravel())
    inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    unit = (sp.diags(inverse) @ item_users).tocsr()
    n_items = matrix.shape[1]
    n = min(n, max(1, n_items - 1))
    step = max(1, BLOCK_CELLS // max(1, n_items))
    rows, cols, vals = [], [], []
    for start in range(0, n_items, step):
        block = np.arange(start, min(n_items, start + step))
        sims = (unit[block] @ unit.T).toarray()
        sims[np.arange(len(block)), block] = -np.inf
        ids, values = top_n(sims, n)
        ok = (ids >= 0) & (values > 0)
        rows.append(np.repeat(block, n)[ok.ravel()])
        cols.append(ids[ok])
        vals.append(values[ok])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items)
    )


def _trending(events: pd.DataFrame, inter: Interactions) -> np.ndarray:
    """Items among the ``TRENDING_TOP`` most users touched in the last week of the data."""
    out = np.zeros(inter.matrix.shape[1], dtype=bool)
    if not _has_times(events):
        return out
    ts = pd.to_datetime(events["timestamp"], errors="coerce")
    recent = events[ts >= ts.max() - pd.Timedelta(days=TRENDING_DAYS)]
    counts = recent.groupby(recent["item_id"].astype(str))["user_id"].nunique()
    top = counts.nlargest(TRENDING_TOP)
    cols = inter.item_indices(top[top >= 2].index)
    out[cols[cols >= 0]] = True
    return out


# ---------------------------------------------------------------- scoring helpers


_LOADED: OrderedDict[tuple, tuple[RecommenderArtifact, dict]] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def _load(model_id: str | None, db) -> tuple[RecommenderArtifact, dict]:
    """The artifact of ``model_id`` (None: the promoted recommender), read from disk once and
    then kept for the ``LOADED_MODELS`` most recently used model files."""
    info = registry.resolve(model_id, kind="recommender", db=db)
    folder = config.models_dir(db) / info["model_id"]
    key = (str(folder.resolve()), *(_mtime(folder / name) for name in ("model.joblib", "meta.json")))
    with _LOADED_LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key][0], info
    artifact, info = registry.load_model(info["model_id"], kind="recommender", db=db)
    if not isinstance(artifact, RecommenderArtifact):
        raise NotFoundError(
            f"Model {info['model_id']} is not a recommender artifact; train one with train-recommender."
        )
    with _LOADED_LOCK:
        _LOADED[key] = (artifact, info)
        while len(_LOADED) > LOADED_MODELS:
            _LOADED.popitem(last=False)
    return artifact, info


def _mtime(path: Path) -> int | None:
    return path.stat().st_mtime_ns if path.exists() else None


def _top_items(art, rows, k, banned, filter_seen, rebuy) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` item columns and scores for matrix ``rows``, in blocks; -1 pads."""
    matrix = art.interactions.matrix
    n = min(k, art.n_items)
    ids = np.full((len(rows), n), -1, dtype=np.int64)
    scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
    step = max(1, BLOCK_CELLS // art.n_items)
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        values = np.array(art.model.score(block, matrix), dtype=np.float32)
        values[:, banned] = -np.inf
        if filter_seen:
            seen_r, seen_c = matrix[block].nonzero()
            keep = ~rebuy[seen_c]
            values[seen_r[keep], seen_c[keep]] = -np.inf
        ids[start : start + step], scores[start : start + step] = top_n(values, n)
    return ids, scores


def _frame(
    art, owners: np.ndarray, ids: np.ndarray, scores: np.ndarray, item_columns
) -> pd.DataFrame:
    """Long frame (``_row``, ``rank``, ``item_id``, ``score``, ``_item``) of padded top lists."""
    valid = ids >= 0
    ranks = np.broadcast_to(np.arange(1, ids.shape[1] + 1), ids.shape)
    items = ids[valid]
    frame = pd.DataFrame(
        {
            "_row": owners[valid],
            "rank": ranks[valid],
            "item_id": art.interactions.item_ids[items].astype(str),
            "score": scores[valid].astype(float),
            "_item": items,
        }
    )
    return _join_items(art, frame, item_columns)


def _join_items(art, frame: pd.DataFrame, item_columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in item_columns if c not in art.items.columns]
    if missing:
        raise BadInputError(
            f"The items have no column {', '.join(missing)}; columns: "
            f"{', '.join(map(str, art.items.columns)) or 'none (load an items table)'}."
        )
    picks = {
        "title": _first_present(art.items, TITLE_COLUMNS),
        "category": _first_present(art.items, CATEGORY_COLUMNS),
        "price": _first_present(art.items, PRICE_COLUMNS),
    }
    looked_up = art.items.reindex(frame["item_id"])
    for role, column in picks.items():
        if column is not None:
            frame[role] = looked_up[column].to_numpy()
    for column in item_columns:
        if column not in frame:
            frame[column] = looked_up[column].to_numpy()
    return frame


def _order(
    frame: pd.DataFrame, item_columns: Sequence[str], with_user: bool = False
) -> pd.DataFrame:
    head = (["user_id"] if with_user else []) + ["rank", "item_id", "score", "reason"]
    extra = [c for c in DEFAULT_ITEM_COLUMNS if c in frame]
    extra += [c for c in item_columns if c not in DEFAULT_ITEM_COLUMNS]
    return frame[head + [c for c in extra if c in frame]].reset_index(drop=True)


def _with_note(frame: pd.DataFrame, k: int, art, banned: np.ndarray) -> pd.DataFrame:
    if len(frame) < k:
        eligible = int(art.n_items - banned.sum())
        frame.attrs["note"] = (
            f"Asked for {k} items; {len(frame)} can be recommended ({art.n_items} in the catalogue, "
            f"{eligible} after filters, minus what the user already has)."
        )
    return frame


def _reasons(art, rows: np.ndarray, items: np.ndarray, explain: bool = False) -> np.ndarray:
    """One readable reason per (matrix row, item column) pair; vectorised over pairs, except
    with ``explain`` (one user's short list), which asks the model's ``explain()`` per row."""
    reasons = np.full(len(rows), LIKE_YOU, dtype=object)
    if art.algo in ("popularity", "trending") or len(rows) == 0:
        label = "Trending this week" if art.algo == "trending" else "Popular with all customers"
        reasons[:] = label
        return reasons
    reasons[art.trending[items]] = "Trending this week"
    _category_reasons(art, rows, items, reasons)
    if explain and art.algo in EXPLAINED_ALGOS:
        _explained_reasons(art, rows, items, reasons)
    else:
        _history_reasons(art, rows, items, reasons)
    return reasons


def _explained_reasons(art, rows, items, reasons) -> None:
    """Name the history items the model's ``explain()`` gives for each pair, keeping those
    whose similarity to the recommended item reaches ``REASON_SIMILARITY``."""
    matrix = art.interactions.matrix
    for p, (row, item) in enumerate(zip(rows.tolist(), items.tolist(), strict=True)):
        drivers = np.array([j for j, _ in art.model.explain(row, matrix, item, n=5)], dtype=np.int64)
        if len(drivers) == 0:
            continue
        sims, floor = _pair_similarity(art, np.full(len(drivers), item), drivers)
        strong = drivers[sims >= floor][:2]
        if len(strong):
            verbs = _verbs(art, np.full(len(strong), row), strong)
            reasons[p] = _because(list(zip(verbs, art.titles(strong), strict=True)))


def _history_reasons(art, rows, items, reasons) -> None:
    """Name, per pair, the two history items most similar to the recommended item (blocks of
    pairs x history entries; no Python loop over the history)."""
    links = art.interactions.matrix[rows].tocoo()
    pair, hist = links.row.astype(np.int64), links.col.astype(np.int64)
    other = hist != items[pair]
    pair, hist = pair[other], hist[other]
    sims, floor = _pair_similarity(art, items[pair], hist)
    strong = sims >= floor
    pair, hist, sims = pair[strong], hist[strong], sims[strong]
    if len(pair) == 0:
        return
    order = np.lexsort((-sims, pair))
    pair, hist = pair[order], hist[order]
    first = np.r_[True, pair[1:] != pair[:-1]]
    start = np.maximum.accumulate(np.where(first, np.arange(len(pair)), 0))
    top = (np.arange(len(pair)) - start) < 2
    pair, hist = pair[top], hist[top]
    verbs = np.asarray(_verbs(art, rows[pair], hist), dtype=object)
    titles = art.titles(hist).astype(object)
    lead = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    texts = "Because you " + verbs[lead] + " " + titles[lead]
    second = lead + 1
    has = second < len(pair)
    has[has] = pair[second[has]] == pair[lead[has]]
    same_verb = np.zeros(len(lead), dtype=bool)
    same_verb[has] = verbs[second[has]] == verbs[lead[has]]
    joined = np.where(same_verb, " and ", " and " + verbs[np.minimum(second, len(pair) - 1)] + " ")
    texts[has] = texts[has] + joined[has] + titles[second[has]]
    reasons[pair[lead]] = texts


def _pair_similarity(art, items: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, float]:
    """Similarity (float32) of each ``items[i]`` to ``others[i]`` by the model's own item
    representation (see the module notes), computed in blocks; and the least similarity that
    makes a truthful "because you bought" for each pair (doubled across categories)."""
    sims, base = _raw_similarity(art, items, others)
    codes = _category_codes(art)
    cross = (codes[items] != codes[others]) & (codes[items] >= 0) & (codes[others] >= 0)
    return sims, np.where(cross, 2 * base, base)


def _category_codes(art) -> np.ndarray:
    """Category code per item column (-1 where unknown or without a category column)."""
    column = _first_present(art.items, CATEGORY_COLUMNS)
    if column is None:
        return np.full(art.n_items, -1, dtype=np.int64)
    cats = art.items[column].reindex(art.interactions.item_ids.astype(str))
    return pd.factorize(cats)[0].astype(np.int64)


def _raw_similarity(art, items: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, float]:
    model = getattr(art.model, "collaborative_", art.model)
    vectors = _item_vectors(model)
    out = np.zeros(len(items), dtype=np.float32)
    if vectors is None and hasattr(model, "similarity_"):
        if len(items):
            out[:] = np.asarray(model.similarity_[others, items]).ravel()
        return out, REASON_SIMILARITY["itemknn"]
    if vectors is None:
        if len(items):
            out[:] = np.asarray(art.neighbours[items, others]).ravel()
        return out, REASON_SIMILARITY["cooccurrence"]
    step = max(1, BLOCK_CELLS // max(1, vectors.shape[1]))
    for start in range(0, len(items), step):
        a, b = vectors[items[start : start + step]], vectors[others[start : start + step]]
        if sp.issparse(vectors):
            out[start : start + step] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
        else:
            out[start : start + step] = np.einsum("ij,ij->i", a, b)
    return out, REASON_SIMILARITY["features" if sp.issparse(vectors) else "factors"]


def _item_vectors(model) -> np.ndarray | sp.csr_matrix | None:
    """Unit-length item vectors of a factor model (or the content model's item features)."""
    factors = getattr(model, "item_factors_", None)
    if factors is not None:
        scale = getattr(model, "singular_values_", None)
        vectors = np.asarray(factors * scale if scale is not None else factors, dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    return getattr(model, "item_features_", None)


def _because(parts: list[tuple[str, str]]) -> str:
    (verb, title), rest = parts[0], parts[1:]
    text = f"Because you {verb} {title}"
    if rest:
        other_verb, other = rest[0]
        text += f" and {other}" if other_verb == verb else f" and {other_verb} {other}"
    return text


def _verbs(art, rows: np.ndarray, cols: np.ndarray) -> list[str]:
    """The verb of the strongest event type of each (row, column) pair ("bought", "viewed")."""
    if len(rows) == 0:
        return []
    codes = np.asarray(art.pair_types[rows, cols]).ravel().astype(np.int64)
    words = np.array(["chose"] + [VERBS.get(t, "chose") for t in art.event_types], dtype=object)
    return words[np.clip(codes, 0, len(words) - 1)].tolist()


def _category_reasons(art, rows, items, reasons) -> None:
    column = _first_present(art.items, CATEGORY_COLUMNS)
    if column is None:
        return
    cats = art.items[column].reindex(art.interactions.item_ids.astype(str))
    codes, names = pd.factorize(cats)
    valid_items = codes >= 0
    if not valid_items.any():
        return
    onehot = sp.csr_matrix(
        (
            np.ones(valid_items.sum(), dtype=np.float32),
            (np.flatnonzero(valid_items), codes[valid_items]),
        ),
        shape=(art.n_items, len(names)),
    )
    touched = (art.interactions.matrix[rows] > 0).astype(np.float32) @ onehot
    item_codes = codes[items]
    ok = item_codes >= 0
    liked = np.zeros(len(rows), dtype=bool)
    liked[ok] = np.asarray(touched[np.flatnonzero(ok), item_codes[ok]]).ravel() > 0
    labels = np.array([f"Popular in {name}, a category you browse" for name in names], dtype=object)
    reasons[liked] = labels[item_codes[liked]]


def _banned(art, exclude_items, exclude_categories, only_if) -> np.ndarray:
    banned = _item_mask(art, exclude_items)
    categories = [str(c).lower() for c in exclude_categories]
    if categories:
        column = _first_present(art.items, CATEGORY_COLUMNS)
        if column is None:
            raise BadInputError("The items have no category column, so no category can be excluded.")
        cats = art.items[column].reindex(art.interactions.item_ids.astype(str))
        cats = cats.astype(str).str.lower()
        known = set(art.items[column].dropna().astype(str).str.lower())
        unknown = sorted(set(categories) - known)
        if unknown:
            raise BadInputError(
                f"Unknown categories: {', '.join(unknown)}; known: {', '.join(sorted(known)[:15])}."
            )
        banned |= cats.isin(categories).to_numpy()
    for column in [only_if] if isinstance(only_if, str) else list(only_if or []):
        banned |= ~_truthy(art, column)
    return banned


def _truthy(art, column: str) -> np.ndarray:
    if column not in art.items.columns:
        raise BadInputError(
            f"only_if names {column!r}, which is not an item column; columns: "
            f"{', '.join(map(str, art.items.columns)) or 'none (load an items table)'}."
        )
    values = art.items[column].reindex(art.interactions.item_ids.astype(str))
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        return values.fillna(0).astype(float).to_numpy() != 0
    return values.astype(str).str.strip().str.lower().isin(TRUE_TEXT).to_numpy()


def _item_mask(art, item_ids: Iterable[str]) -> np.ndarray:
    """Boolean per item column: True for the given ids (unknown ids are ignored)."""
    mask = np.zeros(art.n_items, dtype=bool)
    ids = [str(i) for i in item_ids]
    if ids:
        cols = art.interactions.item_indices(ids)
        mask[cols[cols >= 0]] = True
    return mask


# ---------------------------------------------------------------- new users and segments


def _known_user_attributes(art, uid: str, db) -> dict:
    """Attributes of a user without events (live users row first, then the model's copy)."""
    live = store_events.read_attribute_rows("users", "user_id", [uid], db=db)
    stats = art.users if not art.users.empty else live
    for frame in (live, art.users):
        if uid in frame.index:
            return _segment_attributes(frame.loc[uid], stats)
    raise NotFoundError(_unknown("user", uid, art.interactions.user_ids))


def _segment_attributes(row: pd.Series, frame: pd.DataFrame) -> dict:
    """The first ``MAX_SEGMENT_ATTRIBUTES`` categorical attributes of a user row (columns with
    few distinct values; not dates or numbers), e.g. device and location."""
    out = {}
    for column, value in row.items():
        series = frame[column]
        numeric = pd.api.types.is_numeric_dtype(series)
        if pd.isna(value) or numeric or pd.api.types.is_datetime64_any_dtype(series):
            continue
        if series.nunique() <= max(20, len(series) // 20):
            out[str(column)] = value
    return dict(list(out.items())[:MAX_SEGMENT_ATTRIBUTES])


def _segment_scores(art, attributes: dict) -> tuple[np.ndarray, dict]:
    """Share of matching users who touched each item, relaxing attributes until users match."""
    users = art.users
    unknown = [a for a in attributes if a not in users.columns]
    if unknown and not users.empty:
        raise BadInputError(
            f"Unknown user attribute {', '.join(map(str, unknown))}; the users table has: "
            f"{', '.join(map(str, users.columns))}."
        )
    matrix = art.interactions.matrix
    used = {} if users.empty else dict(attributes)
    while used:
        match = np.ones(len(users), dtype=bool)
        for column, value in used.items():
            match &= users[column].astype(str).str.lower().to_numpy() == str(value).lower()
        rows = art.interactions.user_indices(users.index[match])
        rows = rows[rows >= 0]
        if len(rows) >= min(MIN_SEGMENT_USERS, len(users)) and len(rows):
            stored = users[match].iloc[0]
            return _touch_share(matrix[rows]), {column: stored[column] for column in used}
        used = dict(list(used.items())[:-1])
    return _touch_share(matrix), {}


def _touch_share(rows: sp.csr_matrix) -> np.ndarray:
    """Share of the users (rows) who touched each item (positive weight)."""
    counts = np.bincount(rows.indices, weights=rows.data > 0, minlength=rows.shape[1])
    return counts / max(1, rows.shape[0])


def _audience(used: dict) -> str:
    if not used:
        return "Popular with all customers"
    places = [str(v) for c, v in used.items() if c in PLACE_COLUMNS]
    others = [str(v).replace("_", " ") for c, v in used.items() if c not in PLACE_COLUMNS]
    text = " ".join(others + ["users"]) if others else "users"
    if places:
        text += " in " + " and ".join(places)
    return f"Popular with {text}"


def _segment_frame(art, attributes: dict, k: int, banned: np.ndarray, item_columns) -> pd.DataFrame:
    scores, used = _segment_scores(art, attributes)
    values = np.where(banned, -np.inf, scores).astype(np.float32)
    ids, top = top_n(values[None, :], min(k, art.n_items))
    frame = _frame(art, np.zeros(ids.shape, dtype=np.int64), ids, top, item_columns)
    frame = frame.drop(columns=["_row", "_item"])
    frame["reason"] = _audience(used)
    frame.attrs["audience"] = used
    return _with_note(_order(frame, item_columns), k, art, banned)


def _blocks(art, ids, rows, k, banned, filter_seen, rebuy, cold, item_columns, progress):
    """Frames of ``EXPORT_BLOCK_USERS`` users, in the order of ``ids``; one empty frame when
    there are none."""
    step = EXPORT_BLOCK_USERS
    segments: dict[tuple, pd.DataFrame] = {}
    for start in range(0, len(ids), step):
        block_ids, block_rows = ids[start : start + step], rows[start : start + step]
        known = block_rows >= 0
        parts = [
            _known_users_frame(art, block_rows[known], k, banned, filter_seen, rebuy, item_columns),
            _cold_users_frame(art, block_ids[~known], cold, k, banned, item_columns, segments),
        ]
        frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        position = pd.Series(np.arange(len(block_ids)), index=block_ids)
        order = np.lexsort((frame["rank"].to_numpy(), position[frame["user_id"]].to_numpy()))
        done = start + len(block_ids)
        _report(progress, done / len(ids), f"{done:,} of {len(ids):,} customers scored")
        yield _order(frame.iloc[order], item_columns, with_user=True)
    if len(ids) == 0:
        yield _order(_empty_frame(art, item_columns), item_columns, with_user=True)


def _empty_frame(art, item_columns) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "user_id": pd.Series([], dtype=object),
            "rank": pd.Series([], dtype=np.int64),
            "item_id": pd.Series([], dtype=object),
            "score": pd.Series([], dtype=float),
            "reason": pd.Series([], dtype=object),
        }
    )
    return _join_items(art, frame, item_columns)


def _known_users_frame(art, rows, k, banned, filter_seen, rebuy, item_columns) -> pd.DataFrame:
    if len(rows) == 0:
        return _empty_frame(art, item_columns)
    ids, scores = _top_items(art, rows, k, banned, filter_seen, rebuy)
    frame = _frame(art, rows[:, None].repeat(ids.shape[1], axis=1), ids, scores, item_columns)
    frame["reason"] = _reasons(art, frame["_row"].to_numpy(), frame["_item"].to_numpy())
    owners = art.interactions.user_ids[frame.pop("_row").to_numpy()].astype(str)
    frame.insert(0, "user_id", owners)
    return frame.drop(columns="_item")


def _cold_attributes(art, ids: np.ndarray, db) -> dict[str, tuple]:
    """Segment attributes of each user id without events (narrow read of the users table).
    Raises ``NotFoundError`` naming ids that are not in the users table either."""
    if len(ids) == 0:
        return {}
    live = store_events.read_attribute_rows("users", "user_id", list(ids), db=db)
    unknown = [u for u in ids if u not in live.index and u not in art.users.index]
    if unknown:
        raise NotFoundError(
            f"{len(unknown)} of the users asked for are unknown (e.g. {', '.join(unknown[:3])}); "
            f"known users look like: {', '.join(map(str, art.interactions.user_ids[:5]))}."
        )
    stats = art.users if not art.users.empty else live
    return {
        uid: tuple(_segment_attributes((live if uid in live.index else art.users).loc[uid], stats).items())
        for uid in ids
    }


def _cold_users_frame(art, ids, cold, k, banned, item_columns, segments) -> pd.DataFrame:
    """Segment favourites for users without events; one ranking per distinct segment."""
    if len(ids) == 0:
        return _empty_frame(art, item_columns)
    groups: dict[tuple, list[str]] = {}
    for uid in ids:
        groups.setdefault(cold[uid], []).append(uid)
    parts = []
    for attributes, members in groups.items():
        if attributes not in segments:
            segments[attributes] = _segment_frame(art, dict(attributes), k, banned, item_columns)
        frame = segments[attributes]
        repeated = frame.loc[frame.index.repeat(len(members))].reset_index(drop=True)
        repeated.insert(0, "user_id", np.tile(members, len(frame)))
        parts.append(repeated)
    return pd.concat(parts, ignore_index=True)


def _similar_by_attributes(art, iid: str, k: int, db) -> tuple[np.ndarray, np.ndarray, str]:
    live = store_events.read_attribute_rows("items", "item_id", [iid], db=db)
    source = live if iid in live.index else art.items
    if iid not in source.index:
        raise NotFoundError(_unknown("item", iid, art.interactions.item_ids))
    row = source.loc[iid]
    title_col = _first_present(source, TITLE_COLUMNS)
    title = str(row[title_col]) if title_col and pd.notna(row[title_col]) else iid
    catalogue = art.items.reindex(art.interactions.item_ids.astype(str))
    score = np.zeros(art.n_items, dtype=np.float32)
    cat_col = _first_present(source, CATEGORY_COLUMNS)
    if cat_col and cat_col in catalogue and pd.notna(row[cat_col]):
        same = catalogue[cat_col].astype(str).str.lower() == str(row[cat_col]).lower()
        score += same.to_numpy()
    if title_col and title_col in catalogue:
        words = set(title.lower().split())
        overlap = catalogue[title_col].fillna("").astype(str).str.lower().str.split().map(
            lambda w: len(words & set(w)) / (1 + len(words))
        )
        score += overlap.to_numpy(dtype=np.float32)
    score += 1e-3 * (art.model.item_popularity_ / max(1.0, float(art.model.item_popularity_.max())))
    ids, values = top_n(score[None, :], min(k, art.n_items))
    return ids[0], values[0], title


# ---------------------------------------------------------------- small helpers


def _first_present(frame: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _unique_text(values: Iterable[Any]) -> np.ndarray:
    return pd.unique(pd.Series([str(v) for v in values], dtype=object)).astype(object)


def _unknown(kind: str, value: str, known: Iterable[Any]) -> str:
    sample = ", ".join(map(str, list(known)[:5])) or "none"
    return (
        f"There is no {kind} {value!r} in the model or the {kind}s table; "
        f"{kind}s look like: {sample}."
    )


def _report(progress: Progress, fraction: float, message: str) -> None:
    if progress is not None:
        progress(min(max(fraction, 0.0), 1.0), message)
