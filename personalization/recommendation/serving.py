"""Serving recommendations: the per-user calls the command line and the pages make.

Recommend for a known user, a new user (by attributes such as device and location) or a
segment; find similar items; show a user's history. Every row carries a ``reason`` (see
``personalization.recommendation.reasons``). Training lives in ``rec_training``, lists for many users and
export files in ``rec_export``.

Scoring a known user reads no events: the model artifact holds the training matrix and the id
maps, so "already seen" means seen in the training data, and events loaded after training are
ignored until the model is trained again. Loaded artifacts are kept in memory (a few per
process, keyed by their file), so only the first call for a model pays for reading it. Models saved
before the split of this module were pickled as ``personalization.recommendation.serving.RecommenderArtifact``;
the import of that class here (used by ``load_artifact``) is what keeps them loadable.

``k`` larger than what can be recommended is capped; the frame's ``attrs["note"]`` then says so.
A user who is in the ``users`` table but has no events is a new user: recommendations come from
users with the same attributes. Unknown ids raise ``NotFoundError`` with a few real ids.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import config, registry
from personalization.errors import BadInputError, NotFoundError
from personalization.recommendation.artifact import (
    BLOCK_CELLS,
    CATEGORY_COLUMNS,
    PRICE_COLUMNS,
    TITLE_COLUMNS,
    RecommenderArtifact,
    check_k,
    first_present,
)
from personalization.recommendation.models.base import top_n
from personalization.recommendation.reasons import audience, item_reasons
from personalization.store import events as store_events

MIN_SEGMENT_USERS = 10
MAX_SEGMENT_ATTRIBUTES = 2
LOADED_MODELS = 4
DEFAULT_ITEM_COLUMNS = ("title", "category", "price")
TRUE_TEXT = {"true", "yes", "y", "1", "t"}


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
    art, _ = load_artifact(model_id, db)
    k = check_k(k)
    uid = str(user_id)
    row = art.interactions.user_index(uid)
    banned = banned_items(art, exclude_items, exclude_categories, only_if)
    if row is None:
        attributes = _known_user_attributes(art, uid, db)
        return segment_frame(art, attributes, k, banned, item_columns)
    rebuy = item_mask(art, rebuyable)
    ids, scores = top_items(art, np.array([row]), k, banned, filter_seen, rebuy)
    frame = top_frame(art, np.zeros(ids.shape, dtype=np.int64), ids, scores, item_columns)
    items = frame.pop("_item").to_numpy()
    frame["reason"] = item_reasons(art, np.full(len(frame), row), items)
    frame = frame.drop(columns="_row")
    return _with_note(order_columns(frame, item_columns), k, art, banned)


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
    art, _ = load_artifact(model_id, db)
    banned = banned_items(art, exclude_items, exclude_categories, only_if)
    return segment_frame(art, dict(attributes or {}), check_k(k), banned, item_columns)


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
    art, _ = load_artifact(model_id, db)
    k = check_k(k)
    iid = str(item_id)
    col = art.interactions.item_index(iid)
    if col is not None:
        ids, scores = art.model.similar_items(col, n=k)
        title = art.titles(np.array([col]))[0]
    else:
        ids, scores, title = _similar_by_attributes(art, iid, k, db)
    owners = np.zeros((1, len(ids)), dtype=np.int64)
    frame = top_frame(art, owners, ids[None, :], scores[None, :], item_columns)
    frame = frame.drop(columns=["_row", "_item"])
    frame["reason"] = f"Similar to {title}"
    return order_columns(frame, item_columns)


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
        column = first_present(items, names)
        if column is not None:
            mine[role] = items[column].reindex(mine["item_id"].astype(str)).to_numpy()
    return mine



# ---------------------------------------------------------------- loaded models


_LOADED: OrderedDict[tuple, tuple[RecommenderArtifact, dict]] = OrderedDict()
_LOADED_LOCK = threading.Lock()


def load_artifact(model_id: str | None, db) -> tuple[RecommenderArtifact, dict]:
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



# ---------------------------------------------------------------- scoring helpers


def top_items(art, rows, k, banned, filter_seen, rebuy) -> tuple[np.ndarray, np.ndarray]:
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


def top_frame(
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
    return join_item_columns(art, frame, item_columns)


def join_item_columns(art, frame: pd.DataFrame, item_columns: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in item_columns if c not in art.items.columns]
    if missing:
        raise BadInputError(
            f"The items have no column {', '.join(missing)}; columns: "
            f"{', '.join(map(str, art.items.columns)) or 'none (load an items table)'}."
        )
    picks = {
        "title": first_present(art.items, TITLE_COLUMNS),
        "category": first_present(art.items, CATEGORY_COLUMNS),
        "price": first_present(art.items, PRICE_COLUMNS),
    }
    looked_up = art.items.reindex(frame["item_id"])
    for role, column in picks.items():
        if column is not None:
            frame[role] = looked_up[column].to_numpy()
    for column in item_columns:
        if column not in frame:
            frame[column] = looked_up[column].to_numpy()
    return frame


def order_columns(
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


def banned_items(art, exclude_items, exclude_categories, only_if) -> np.ndarray:
    banned = item_mask(art, exclude_items)
    categories = [str(c).lower() for c in exclude_categories]
    if categories:
        column = first_present(art.items, CATEGORY_COLUMNS)
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


def item_mask(art, item_ids: Iterable[str]) -> np.ndarray:
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
            return segment_attributes(frame.loc[uid], stats)
    raise NotFoundError(_unknown("user", uid, art.interactions.user_ids))


def segment_attributes(row: pd.Series, frame: pd.DataFrame) -> dict:
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


def segment_frame(art, attributes: dict, k: int, banned: np.ndarray, item_columns) -> pd.DataFrame:
    scores, used = _segment_scores(art, attributes)
    values = np.where(banned, -np.inf, scores).astype(np.float32)
    ids, top = top_n(values[None, :], min(k, art.n_items))
    frame = top_frame(art, np.zeros(ids.shape, dtype=np.int64), ids, top, item_columns)
    frame = frame.drop(columns=["_row", "_item"])
    frame["reason"] = audience(used)
    frame.attrs["audience"] = used
    return _with_note(order_columns(frame, item_columns), k, art, banned)


def _similar_by_attributes(art, iid: str, k: int, db) -> tuple[np.ndarray, np.ndarray, str]:
    live = store_events.read_attribute_rows("items", "item_id", [iid], db=db)
    source = live if iid in live.index else art.items
    if iid not in source.index:
        raise NotFoundError(_unknown("item", iid, art.interactions.item_ids))
    row = source.loc[iid]
    title_col = first_present(source, TITLE_COLUMNS)
    title = str(row[title_col]) if title_col and pd.notna(row[title_col]) else iid
    catalogue = art.items.reindex(art.interactions.item_ids.astype(str))
    score = np.zeros(art.n_items, dtype=np.float32)
    cat_col = first_present(source, CATEGORY_COLUMNS)
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


def _unknown(kind: str, value: str, known: Iterable[Any]) -> str:
    sample = ", ".join(map(str, list(known)[:5])) or "none"
    return (
        f"There is no {kind} {value!r} in the model or the {kind}s table; "
        f"{kind}s look like: {sample}."
    )
