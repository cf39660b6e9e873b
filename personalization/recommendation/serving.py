"""Serving recommendations: one public API for a user, a new visitor, a segment, many users and
similar items, used by the command line, the pages and ``batch`` (export files).

- ``recommend_for_user``: a known user's list; a user who is in the ``users`` table but has no
  events is served as a new visitor from their attributes.
- ``recommend_for_new_user`` / ``segment_top_items``: the one cold-start path, what is popular with
  the users sharing the visitor's attributes (device, location, ...).
- ``ListMaker``: the lists of many users at once, known and new ones alike (``batch`` streams it).
- ``similar_items``, ``user_history``, ``item_labels``; ``attribute_choices`` and
  ``users_matching`` (the segments a page offers).

``ListRules`` holds the business rules of a list (hide what the user has, leave out items or
categories, only items with a true flag, extra item columns); it is built once per call and handed
down. Every row carries a ``reason`` (see ``personalization.recommendation.reasons``), the same
for a user on a page as in an export.

Scoring a known user reads no events: the model artifact holds the training matrix and the id
maps, so "already seen" means seen in the training data, and events loaded after training are
ignored until the model is trained again. Models come from the registry's cache of loaded models
(``load_artifact``). ``k`` larger than what can be recommended is capped; the frame's
``attrs["note"]`` then says so. Unknown ids raise ``NotFoundError`` with a few real ids.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import registry, values
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
DEFAULT_ITEM_COLUMNS = ("title", "category", "price")
LIST_COLUMNS = ("rank", "item_id", "score", "reason")


@dataclass(frozen=True)
class ListRules:
    """The business rules of a recommendation list, the same for one user and for an export.

    ``filter_seen`` drops what the user touched in the training data, except the ``rebuyable``
    item ids; ``exclude_items`` / ``exclude_categories`` remove items for everyone; ``only_if``
    keeps only items whose column(s) hold a true value (``in_stock``); ``item_columns`` are item
    columns added after title, category and price (with ``only_item_columns``, instead of them).
    A single text is read as one id or name.
    """

    filter_seen: bool = True
    exclude_items: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    only_if: tuple[str, ...] = ()
    rebuyable: tuple[str, ...] = ()
    item_columns: tuple[str, ...] = ()
    only_item_columns: bool = False

    def __post_init__(self) -> None:
        for name in ("exclude_items", "exclude_categories", "only_if", "rebuyable", "item_columns"):
            object.__setattr__(self, name, _texts(getattr(self, name)))


def _texts(given: str | Iterable[Any] | None) -> tuple[str, ...]:
    if given is None:
        return ()
    if isinstance(given, str):
        return (given,)
    return tuple(str(value) for value in given)


def load_artifact(model_id: str | None = None, db=None) -> tuple[RecommenderArtifact, dict]:
    """The recommender ``model_id`` (None: the promoted one) and its catalog row, from the
    registry's cache of loaded models. Raises ``NotFoundError`` for another kind of artifact."""
    artifact, info = registry.load_model(model_id, kind="recommender", db=db)
    if not isinstance(artifact, RecommenderArtifact):
        raise NotFoundError(
            f"Model {info['model_id']} is not a recommender artifact; train one with "
            f"train-recommender."
        )
    return artifact, info


# ---------------------------------------------------------------- one user, a visitor, a segment


def recommend_for_user(
    user_id: Any,
    k: int = 10,
    model_id: str | None = None,
    rules: ListRules | None = None,
    db=None,
) -> pd.DataFrame:
    """Top ``k`` items for one user: ``rank``, ``item_id``, ``score``, ``reason`` + item columns.

    A user known only from the ``users`` table is served as a new visitor from their attributes
    (``rules.filter_seen`` and ``rules.rebuyable`` then have nothing to act on). Raises
    ``NotFoundError`` for an unknown user (with a few real ids) and ``BadInputError`` for bad
    rules or ``k`` < 1.
    """
    art, _ = load_artifact(model_id, db)
    maker = ListMaker(art, k, rules)
    ids = np.array([str(user_id)], dtype=object)
    frame = maker.for_users(ids, user_segments(art, ids, db))
    return maker.with_note(frame.drop(columns="user_id"))


def recommend_for_new_user(
    attributes: Mapping[str, Any] | None = None,
    k: int = 10,
    model_id: str | None = None,
    rules: ListRules | None = None,
    db=None,
) -> pd.DataFrame:
    """What is popular among users with the same ``attributes`` (e.g. device, location).

    When fewer than ``MIN_SEGMENT_USERS`` users with events match them all, the last attributes
    are dropped one by one; with none left, what is popular overall. The reason names the
    audience used. Raises ``BadInputError`` for an attribute that is not a users column.
    """
    art, _ = load_artifact(model_id, db)
    maker = ListMaker(art, k, rules)
    return maker.with_note(maker.for_segment(dict(attributes or {})))


def segment_top_items(
    column: str, value: Any, k: int = 10, model_id: str | None = None, db=None
) -> pd.DataFrame:
    """The items most users of a segment (``users.column == value``) touched, with reasons."""
    return recommend_for_new_user({column: value}, k=k, model_id=model_id, db=db)


def similar_items(
    item_id: Any,
    k: int = 10,
    model_id: str | None = None,
    item_columns: Sequence[str] = (),
    db=None,
) -> pd.DataFrame:
    """The ``k`` items most similar to ``item_id`` by the model: ``rank``, ``item_id``, ``score``,
    ``reason`` ("Similar to X") + item columns. An item with no events that is in the items table
    is matched by its attributes (same category first, then words of the title)."""
    art, _ = load_artifact(model_id, db)
    k = check_k(k)
    columns = _texts(item_columns)
    _check_item_columns(art, columns)
    iid = str(item_id)
    col = art.interactions.item_index(iid)
    if col is not None:
        ids, scores = art.model.similar_items(col, n=k)
        title = art.titles(np.array([col]))[0]
    else:
        ids, scores, title = _similar_by_attributes(art, iid, k, db)
    owners = np.zeros((1, len(ids)), dtype=np.int64)
    frame = _top_frame(art, owners, ids[None, :], scores[None, :], columns)
    frame = frame.drop(columns=["_row", "_item"])
    frame["reason"] = f"Similar to {title}"
    return _order_columns(frame, columns)


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


def item_labels(frame: pd.DataFrame) -> pd.Series:
    """A name per row of a list for people to read: the ``title`` where there is one, else the
    ``item_id``."""
    ids = frame["item_id"].astype(str)
    if "title" not in frame:
        return ids
    titles = frame["title"].where(frame["title"].map(lambda t: isinstance(t, str) and t != ""))
    return titles.fillna(ids).astype(str)


# ---------------------------------------------------------------- segments of users


def attribute_choices(users: pd.DataFrame) -> dict[str, list[str]]:
    """User attributes that make segments (``values.segment_columns``: device, location, segment,
    ...), best first, each with its distinct values as sorted text. ``users`` has a ``user_id``
    column or index."""
    return {
        column: sorted(users[column].dropna().astype(str).unique())
        for column in values.segment_columns(users, exclude=("user_id",))
    }


def users_matching(users: pd.DataFrame, chosen: Mapping[str, Any]) -> pd.DataFrame:
    """The rows of ``users`` whose columns equal every ``chosen`` value (compared as text)."""
    keep = np.ones(len(users), dtype=bool)
    for column, value in chosen.items():
        keep &= (users[column].astype(str) == str(value)).to_numpy()
    return users[keep]


def user_segments(art: RecommenderArtifact, user_ids: np.ndarray, db=None) -> dict[str, dict]:
    """The segment attributes (at most ``MAX_SEGMENT_ATTRIBUTES``, from the few-valued columns of
    the users table) of each id the model has no events for: the live users row first, then the
    model's copy. Raises ``NotFoundError`` naming ids that are in neither."""
    user_ids = np.asarray(user_ids, dtype=object).astype(str)
    ids = [str(uid) for uid in user_ids[art.interactions.user_indices(user_ids) < 0]]
    if not ids:
        return {}
    live = store_events.read_attribute_rows("users", "user_id", ids, db=db)
    unknown = [uid for uid in ids if uid not in live.index and uid not in art.users.index]
    if len(unknown) == 1:
        raise NotFoundError(_unknown("user", unknown[0], art.interactions.user_ids))
    if unknown:
        raise NotFoundError(
            f"{len(unknown)} of the users asked for are unknown (e.g. {', '.join(unknown[:3])}); "
            f"known users look like: {', '.join(map(str, art.interactions.user_ids[:5]))}."
        )
    stats = art.users if not art.users.empty else live
    keys = set(values.segment_columns(stats))
    out = {}
    for uid in ids:
        row = (live if uid in live.index else art.users).loc[uid]
        picked = {str(c): v for c, v in row.items() if c in keys and c in stats and not pd.isna(v)}
        out[uid] = dict(list(picked.items())[:MAX_SEGMENT_ATTRIBUTES])
    return out


# ---------------------------------------------------------------- many users


class ListMaker:
    """Lists of one loaded model under one set of rules, for any number of users and segments.

    Built once per call: it checks ``k`` and the rules (``BadInputError``) and resolves them into
    masks over the item columns. ``for_users`` scores known users in blocks (no Python loop per
    user) and gives each user without events their segment's list, computed once per segment.
    """

    def __init__(self, art: RecommenderArtifact, k: int, rules: ListRules | None = None) -> None:
        self.art = art
        self.k = check_k(k)
        self.rules = rules or ListRules()
        _check_item_columns(art, self.rules.item_columns)
        self.banned = _banned_items(art, self.rules)
        self.rebuy = _item_mask(art, self.rules.rebuyable)
        self._segments: dict[tuple, pd.DataFrame] = {}

    def for_users(self, user_ids: np.ndarray, segments: Mapping[str, dict]) -> pd.DataFrame:
        """``user_id``, ``rank``, ``item_id``, ``score``, ``reason`` + item columns for
        ``user_ids`` (text), in their order; ids the model has no rows for are served from
        ``segments`` (``user_segments``)."""
        rows = self.art.interactions.user_indices(user_ids)
        known = rows >= 0
        parts = [self._known(rows[known]), self._cold(user_ids[~known], segments)]
        frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        position = pd.Series(np.arange(len(user_ids)), index=user_ids)
        order = np.lexsort((frame["rank"].to_numpy(), position[frame["user_id"]].to_numpy()))
        return self._ordered(frame.iloc[order], with_user=True)

    def for_segment(self, attributes: Mapping[str, Any]) -> pd.DataFrame:
        """``rank``, ``item_id``, ``score``, ``reason`` + item columns: what is popular among the
        users with ``attributes``, relaxed from the last attribute until ``MIN_SEGMENT_USERS``
        users with events match; the reason names the audience used."""
        key = tuple(attributes.items())
        if key not in self._segments:
            scores, used = _segment_scores(self.art, dict(attributes))
            masked = np.where(self.banned, -np.inf, scores).astype(np.float32)
            ids, top = top_n(masked[None, :], min(self.k, self.art.n_items))
            owners = np.zeros(ids.shape, dtype=np.int64)
            frame = _top_frame(self.art, owners, ids, top, self.rules.item_columns)
            frame = frame.drop(columns=["_row", "_item"])
            frame["reason"] = audience(used)
            self._segments[key] = self._ordered(frame)
        return self._segments[key].copy()

    def with_note(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with ``attrs["note"]`` saying why it is shorter than ``k``, if it is."""
        if len(frame) < self.k:
            eligible = int(self.art.n_items - self.banned.sum())
            frame.attrs["note"] = (
                f"Asked for {self.k} items; {len(frame)} can be recommended ({self.art.n_items} "
                f"in the catalogue, {eligible} after filters, minus what the user already has)."
            )
        return frame

    def empty(self) -> pd.DataFrame:
        """A list of no users, with the columns and types of ``for_users``."""
        return self._ordered(self._empty(), with_user=True)

    def _ordered(self, frame: pd.DataFrame, with_user: bool = False) -> pd.DataFrame:
        columns, only = self.rules.item_columns, self.rules.only_item_columns
        return _order_columns(frame, columns, with_user=with_user, only_chosen=only)

    def _known(self, rows: np.ndarray) -> pd.DataFrame:
        if len(rows) == 0:
            return self._empty()
        art, rules = self.art, self.rules
        ids, scores = _top_items(art, rows, self.k, self.banned, rules.filter_seen, self.rebuy)
        owners = rows[:, None].repeat(ids.shape[1], axis=1)
        frame = _top_frame(art, owners, ids, scores, rules.item_columns)
        frame["reason"] = item_reasons(art, frame["_row"].to_numpy(), frame["_item"].to_numpy())
        users = art.interactions.user_ids[frame.pop("_row").to_numpy()].astype(str)
        frame.insert(0, "user_id", users)
        return frame.drop(columns="_item")

    def _cold(self, user_ids: np.ndarray, segments: Mapping[str, dict]) -> pd.DataFrame:
        if len(user_ids) == 0:
            return self._empty()
        groups: dict[tuple, list[str]] = {}
        for uid in user_ids:
            groups.setdefault(tuple(segments[uid].items()), []).append(uid)
        parts = []
        for attributes, members in groups.items():
            frame = self.for_segment(dict(attributes))
            repeated = frame.loc[frame.index.repeat(len(members))].reset_index(drop=True)
            repeated.insert(0, "user_id", np.tile(members, len(frame)))
            parts.append(repeated)
        return pd.concat(parts, ignore_index=True)

    def _empty(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "user_id": pd.Series([], dtype=object),
                "rank": pd.Series([], dtype=np.int64),
                "item_id": pd.Series([], dtype=object),
                "score": pd.Series([], dtype=float),
                "reason": pd.Series([], dtype=object),
            }
        )
        return _join_item_columns(self.art, frame, self.rules.item_columns)


# ---------------------------------------------------------------- scoring helpers


def _top_items(art, rows, k, banned, filter_seen, rebuy) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` item columns and scores for matrix ``rows``, in blocks; -1 pads."""
    matrix = art.interactions.matrix
    n = min(k, art.n_items)
    ids = np.full((len(rows), n), -1, dtype=np.int64)
    scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
    step = max(1, BLOCK_CELLS // art.n_items)
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        block_scores = np.array(art.model.score(block, matrix), dtype=np.float32)
        block_scores[:, banned] = -np.inf
        if filter_seen:
            seen_r, seen_c = matrix[block].nonzero()
            keep = ~rebuy[seen_c]
            block_scores[seen_r[keep], seen_c[keep]] = -np.inf
        ids[start : start + step], scores[start : start + step] = top_n(block_scores, n)
    return ids, scores


def _top_frame(art, owners: np.ndarray, ids: np.ndarray, scores: np.ndarray, item_columns):
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
    return _join_item_columns(art, frame, item_columns)


def _check_item_columns(art, item_columns: Sequence[str]) -> None:
    missing = [c for c in item_columns if c not in art.items.columns]
    if missing:
        raise BadInputError(
            f"The items have no column {', '.join(missing)}; columns: "
            f"{', '.join(map(str, art.items.columns)) or 'none (load an items table)'}."
        )


def _join_item_columns(art, frame: pd.DataFrame, item_columns: Sequence[str]) -> pd.DataFrame:
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


def _order_columns(
    frame: pd.DataFrame,
    item_columns: Sequence[str],
    with_user: bool = False,
    only_chosen: bool = False,
) -> pd.DataFrame:
    head = (["user_id"] if with_user else []) + list(LIST_COLUMNS)
    extra = [] if only_chosen else [c for c in DEFAULT_ITEM_COLUMNS if c in frame]
    extra += [c for c in item_columns if c not in extra and c not in head]
    return frame[head + [c for c in extra if c in frame]].reset_index(drop=True)


def _banned_items(art, rules: ListRules) -> np.ndarray:
    banned = _item_mask(art, rules.exclude_items)
    categories = [c.lower() for c in rules.exclude_categories]
    if categories:
        column = first_present(art.items, CATEGORY_COLUMNS)
        if column is None:
            raise BadInputError(
                "The items have no category column, so no category can be excluded."
            )
        cats = art.items[column].reindex(art.interactions.item_ids.astype(str))
        cats = cats.astype(str).str.lower()
        known = set(art.items[column].dropna().astype(str).str.lower())
        unknown = sorted(set(categories) - known)
        if unknown:
            raise BadInputError(
                f"Unknown categories: {', '.join(unknown)}; known: {', '.join(sorted(known)[:15])}."
            )
        banned |= cats.isin(categories).to_numpy()
    for column in rules.only_if:
        banned |= ~_truthy(art, column)
    return banned


def _truthy(art, column: str) -> np.ndarray:
    """True per item column where the item's ``column`` reads as yes (a number: not zero)."""
    if column not in art.items.columns:
        raise BadInputError(
            f"only_if names {column!r}, which is not an item column; columns: "
            f"{', '.join(map(str, art.items.columns)) or 'none (load an items table)'}."
        )
    flags = art.items[column].reindex(art.interactions.item_ids.astype(str))
    if pd.api.types.is_numeric_dtype(flags) and not pd.api.types.is_bool_dtype(flags):
        return flags.fillna(0).astype(float).to_numpy() != 0
    return values.is_true(flags).to_numpy()


def _item_mask(art, item_ids: Iterable[str]) -> np.ndarray:
    """Boolean per item column: True for the given ids (unknown ids are ignored)."""
    mask = np.zeros(art.n_items, dtype=bool)
    ids = [str(i) for i in item_ids]
    if ids:
        cols = art.interactions.item_indices(ids)
        mask[cols[cols >= 0]] = True
    return mask


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
        overlap = (
            catalogue[title_col]
            .fillna("")
            .astype(str)
            .str.lower()
            .str.split()
            .map(lambda w: len(words & set(w)) / (1 + len(words)))
        )
        score += overlap.to_numpy(dtype=np.float32)
    score += 1e-3 * (art.model.item_popularity_ / max(1.0, float(art.model.item_popularity_.max())))
    ids, top = top_n(score[None, :], min(k, art.n_items))
    return ids[0], top[0], title


def _unknown(kind: str, value: str, known: Iterable[Any]) -> str:
    sample = ", ".join(map(str, list(known)[:5])) or "none"
    return (
        f"There is no {kind} {value!r} in the model or the {kind}s table; "
        f"{kind}s look like: {sample}."
    )
