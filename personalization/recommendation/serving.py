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

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization import config, registry, values
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
from personalization.recommendation.models.bounded import bounded_top_n, first_width
from personalization.recommendation.reasons import (
    audience,
    item_reasons,
    reason_tables,
    reason_texts,
    row_entries,
)
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


_BLAS: list = []


def blas_limit():
    """A context in which BLAS uses ``config.blas_threads()`` threads (1 by default): a one-row
    product on a busy machine is many times slower with threads that spin. Cheap to enter (the
    libraries are looked up once per process)."""
    if not _BLAS:
        from threadpoolctl import ThreadpoolController

        _BLAS.append(ThreadpoolController())
    return _BLAS[0].limit(limits=config.blas_threads())


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
    return ListMaker(art, k, ListRules(item_columns=item_columns)).similar(item_id, db=db)


def user_history(user_id: Any, limit: int = 20, table: str = "events", db=None) -> pd.DataFrame:
    """The user's ``limit`` most recent events, newest first, with item title and category.

    Reads only that user's rows and the items they touched, on one connection. A user in
    the users table without events gets an empty frame; an unknown user raises
    ``NotFoundError`` with a few real ids.
    """
    uid = str(user_id)
    mine, items = store_events.read_user_history(uid, table, int(limit), db=db)
    if mine.empty:
        users = store_events.read_attribute_rows("users", "user_id", [uid], db=db)
        if uid not in users.index:
            known = store_events.sample_values(table, "user_id", db=db)
            raise NotFoundError(_unknown("user", uid, known))
    mine["item_id"] = mine["item_id"].astype(str)
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

    Built once per call (or once per model and ``k`` by a long-running caller): it checks ``k``
    and the rules (``BadInputError``, also when the rules leave no item at all) and resolves them
    into masks over the item columns. ``for_users`` scores known users in blocks (no Python loop
    per user) and gives each user without events their segment's list, computed once per segment;
    ``user_records`` is the same list for one user as plain dicts, built with numpy alone (the
    REST service's path); ``similar`` lists the items most like one item.
    """

    def __init__(self, art: RecommenderArtifact, k: int, rules: ListRules | None = None) -> None:
        self.art = art
        self.k = check_k(k)
        self.rules = rules or ListRules()
        _check_item_columns(art, self.rules.item_columns)
        self.banned = _banned_items(art, self.rules)
        self.rebuy = _item_mask(art, self.rules.rebuyable)
        self._segments: dict[tuple, pd.DataFrame] = {}
        self._columns: dict[str, np.ndarray] | None = None
        self._plain: dict[str, np.ndarray] | None = None
        self._segment_rows: dict[tuple, list[dict]] = {}

    def for_users(self, user_ids: np.ndarray, segments: Mapping[str, dict]) -> pd.DataFrame:
        """``user_id``, ``rank``, ``item_id``, ``score``, ``reason`` + item columns for
        ``user_ids`` (text), in their order; ids the model has no rows for are served from
        ``segments`` (``user_segments``)."""
        rows = self.art.interactions.user_indices(user_ids)
        known = rows >= 0
        if known.all():
            return self._known(rows)
        parts = [self._known(rows[known]), self._cold(user_ids[~known], segments)]
        frame = pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)
        position = pd.Series(np.arange(len(user_ids)), index=user_ids)
        order = np.lexsort((frame["rank"].to_numpy(), position[frame["user_id"]].to_numpy()))
        return self._ordered(frame.iloc[order], with_user=True)

    def for_rows(self, rows: np.ndarray) -> pd.DataFrame:
        """``for_users`` of the users of matrix rows ``rows`` (all known to the model), without
        looking their ids up: an export of every user."""
        return self._known(np.asarray(rows, dtype=np.int64))

    def user_records(self, user_id: str, segment: Mapping[str, Any] | None = None) -> list[dict]:
        """One user's list as dicts of plain values (``rank``, ``item_id``, ``score``,
        ``reason`` + item columns; missing values None), the rows ``for_users`` gives for the
        user. A user the model has no events for gets the list of ``segment`` (``{}``: what is
        popular with everyone)."""
        row = self.art.interactions.user_index(str(user_id))
        if row is None:
            return self.segment_records(dict(segment or {}))
        rows = np.array([row], dtype=np.int64)
        rules = self.rules
        with blas_limit():
            ids, scores = _top_items(
                self.art, rows, self.k, self.banned, rules.filter_seen, self.rebuy
            )
            keep = ids[0] >= 0
            items, scores = ids[0][keep], scores[0][keep]
            reasons = item_reasons(self.art, np.repeat(rows, len(items)), items)
        return self._records(items, scores, reasons)

    def for_segment(self, attributes: Mapping[str, Any]) -> pd.DataFrame:
        """``rank``, ``item_id``, ``score``, ``reason`` + item columns: what is popular among the
        users with ``attributes``, relaxed from the last attribute until ``MIN_SEGMENT_USERS``
        users with events match; the reason names the audience used."""
        key = tuple(attributes.items())
        if key not in self._segments:
            scores, used = _segment_scores(self.art, dict(attributes))
            masked = np.where(self.banned, -np.inf, scores).astype(np.float32)
            ids, top = top_n(masked[None, :], min(self.k, self.art.n_items))
            keep = ids[0] >= 0
            frame = self._frame(ids[0][keep], top[0][keep], audience(used))
            self._segments[key] = frame
        return self._segments[key].copy()

    def similar(self, item_id: Any, db=None) -> pd.DataFrame:
        """The ``k`` items most similar to ``item_id`` by the model (never the item itself):
        ``rank``, ``item_id``, ``score``, ``reason`` ("Similar to X") + item columns. An item
        with no events is matched by its attributes in the items table of ``db`` (or the model's
        copy): same category first, then words of the title. ``NotFoundError`` when it is in
        neither."""
        return self._frame(*self._similar(item_id, db))

    def similar_records(self, item_id: Any, db=None) -> list[dict]:
        """``similar`` as dicts of plain values, built with numpy alone (the REST service's
        path)."""
        return self._records(*self._similar(item_id, db))

    def segment_records(self, attributes: Mapping[str, Any]) -> list[dict]:
        """``for_segment`` as dicts of plain values, kept per segment like the frame."""
        key = tuple(attributes.items())
        if key not in self._segment_rows:
            self._segment_rows[key] = records(self.for_segment(attributes))
        return [dict(row) for row in self._segment_rows[key]]

    def _similar(self, item_id: Any, db) -> tuple[np.ndarray, np.ndarray, str]:
        art = self.art
        iid = str(item_id)
        col = art.interactions.item_index(iid)
        if col is not None:
            with blas_limit():
                ids, scores = art.model.similar_items(col, n=self.k)
            title = reason_tables(art).titles[col]
        else:
            ids, scores, title = _similar_by_attributes(art, iid, self.k, db)
        return np.asarray(ids), np.asarray(scores), f"Similar to {title}"

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

    def _item_arrays(self) -> dict[str, np.ndarray]:
        """Item column of a list -> its value per item column of the matrix, built once: title,
        category and price (from the first items column named like one) and the rules'
        ``item_columns``."""
        if self._columns is None:
            art = self.art
            looked_up = art.items.reindex(art.interactions.item_ids.astype(str))
            out = {}
            for role, names in (
                ("title", TITLE_COLUMNS),
                ("category", CATEGORY_COLUMNS),
                ("price", PRICE_COLUMNS),
            ):
                column = first_present(art.items, names)
                if column is not None:
                    out[role] = looked_up[column].to_numpy()
            for column in self.rules.item_columns:
                if column not in out:
                    out[column] = looked_up[column].to_numpy()
            self._columns = out
        return self._columns

    def _with_items(self, frame: pd.DataFrame, items: np.ndarray) -> pd.DataFrame:
        """``frame`` with the item columns of the item column indices ``items`` (one per row)."""
        for name, column in self._item_arrays().items():
            frame[name] = column[items]
        return frame

    def _record_columns(self) -> dict[str, np.ndarray]:
        """The item columns of a list as plain values (``plain``), in the order of the list."""
        if self._plain is None:
            arrays = self._item_arrays()
            head = pd.DataFrame(columns=[*LIST_COLUMNS, *arrays])
            rules = self.rules
            names = _order_columns(head, rules.item_columns, only_chosen=rules.only_item_columns)
            self._plain = {
                name: np.array([plain(v) for v in arrays[name]] + [None], dtype=object)[:-1]
                for name in names.columns
                if name not in LIST_COLUMNS
            }
        return self._plain

    def _records(self, items: np.ndarray, scores: np.ndarray, reasons) -> list[dict]:
        item_ids = self.art.interactions.item_ids[items]
        columns = {name: column[items] for name, column in self._record_columns().items()}
        out = []
        for i in range(len(items)):
            row = {
                "rank": i + 1,
                "item_id": str(item_ids[i]),
                "score": plain(float(scores[i])),
                "reason": reasons if isinstance(reasons, str) else reasons[i],
            }
            for name, column in columns.items():
                row[name] = column[i]
            out.append(row)
        return out

    def _frame(self, items: np.ndarray, scores: np.ndarray, reason: str) -> pd.DataFrame:
        """One list (no ``user_id``) of ``items`` with ``scores`` and one ``reason``."""
        data = {
            "rank": np.arange(1, len(items) + 1, dtype=np.int64),
            "item_id": self.art.interactions.item_ids[items].astype(str).astype(object),
            "score": np.asarray(scores, dtype=float),
            "reason": np.full(len(items), reason, dtype=object),
        }
        return self._ordered(self._with_items(pd.DataFrame(data), items))

    def _known(self, rows: np.ndarray) -> pd.DataFrame:
        if len(rows) == 0:
            return self._empty()
        art, rules = self.art, self.rules
        with blas_limit():
            ids, scores = _top_items(art, rows, self.k, self.banned, rules.filter_seen, self.rebuy)
            owners = rows[:, None].repeat(ids.shape[1], axis=1)
            frame = _top_frame(art, owners, ids, scores)
            pairs = frame["_row"].to_numpy(), frame["_item"].to_numpy()
            frame["reason"] = pd.array(reason_texts(art, *pairs), dtype="str")
        frame = self._with_items(frame, pairs[1])
        frame.insert(0, "user_id", art.interactions.user_text(frame.pop("_row").to_numpy()))
        return self._ordered(frame.drop(columns="_item"), with_user=True)

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
        return self._with_items(frame, np.zeros(0, dtype=np.int64))


def plain(value: Any) -> Any:
    """``value`` as a plain Python value for JSON: numpy scalars unboxed, NaN, infinities and
    missing markers as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of plain Python values (``plain``)."""
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


# ---------------------------------------------------------------- scoring helpers


def _top_items(art, rows, k, banned, filter_seen, rebuy) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` item columns and scores for matrix ``rows``, in blocks of about
    ``BLOCK_CELLS`` scores (one product per block, then ``top_n``; for a model whose scores
    are dot products, ``bounded_top_n`` on blocks as many times larger as it computes fewer
    scores); -1 pads."""
    matrix = art.interactions.matrix
    n = min(k, art.n_items)
    ids = np.full((len(rows), n), -1, dtype=np.int64)
    scores = np.full((len(rows), n), -np.inf, dtype=np.float32)
    factored = art.model.dot_product_scores
    step = max(1, BLOCK_CELLS // (first_width(art.n_items, n) if factored else art.n_items))
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        removed = None
        if filter_seen:
            owner, cols, weights = row_entries(matrix, block)
            keep = ~rebuy[cols] & (weights != 0)
            removed = (owner[keep], cols[keep])
        if factored:
            form = art.model.factor_form(block, rows_only(matrix, block))
            ids[start : start + step], scores[start : start + step] = bounded_top_n(
                *form, n, removed, banned
            )
            continue
        block_scores = art.model.score(block, rows_only(matrix, block))
        if not block_scores.flags.writeable:
            block_scores = block_scores.copy()
        block_scores[:, banned] = -np.inf
        if removed is not None:
            block_scores[removed] = -np.inf
        ids[start : start + step], scores[start : start + step] = top_n(block_scores, n)
    return ids, scores


def rows_only(matrix: sp.csr_matrix, rows: np.ndarray) -> sp.csr_matrix:
    """``matrix`` (CSR) with every row but ``rows`` left empty: the same shape and row numbers,
    so a model that looks users up by row (ALS, the sequence models) scores them as before,
    while ``Recommender.score``'s checks pass over these rows' entries only, not the whole
    training matrix."""
    rows = np.unique(rows)
    owner, cols, weights = row_entries(matrix, rows)
    counts = np.bincount(owner, minlength=len(rows))
    indptr = np.zeros(matrix.shape[0] + 1, dtype=matrix.indptr.dtype)
    if len(rows) == 1:  # one user (the service): one fill, no pass to add up
        indptr[rows[0] + 1 :] = counts[0]
    else:
        indptr[rows + 1] = counts
        np.cumsum(indptr, out=indptr)
    out = sp.csr_matrix(
        (weights, cols.astype(matrix.indices.dtype), indptr), shape=matrix.shape, copy=False
    )
    out.has_sorted_indices = True
    return out


def _top_frame(art, owners: np.ndarray, ids: np.ndarray, scores: np.ndarray) -> pd.DataFrame:
    """Long frame (``_row``, ``rank``, ``item_id``, ``score``, ``_item``) of padded top lists."""
    valid = ids >= 0
    ranks = np.broadcast_to(np.arange(1, ids.shape[1] + 1), ids.shape)
    items = ids[valid]
    return pd.DataFrame(
        {
            "_row": owners[valid],
            "rank": ranks[valid],
            "item_id": art.interactions.item_text(items),
            "score": scores[valid].astype(float),
            "_item": items,
        }
    )


def _check_item_columns(art, item_columns: Sequence[str]) -> None:
    missing = [c for c in item_columns if c not in art.items.columns]
    if missing:
        raise BadInputError(
            f"The items have no column {', '.join(missing)}; columns: "
            f"{', '.join(map(str, art.items.columns)) or 'none (load an items table)'}."
        )


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
    """True per item column that the rules leave out; ``BadInputError`` naming the rule when
    they leave out every item (a list would be empty for everyone)."""
    steps = [
        (f"exclude_items ({', '.join(rules.exclude_items)})", _item_mask(art, rules.exclude_items))
    ]
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
        label = f"exclude_categories ({', '.join(rules.exclude_categories)})"
        steps.append((label, cats.isin(categories).to_numpy()))
    for column in rules.only_if:
        steps.append((f"only_if {column}", ~_truthy(art, column)))
    banned = np.zeros(art.n_items, dtype=bool)
    for label, mask in steps:
        banned |= mask
        if banned.all():
            before = "" if mask.all() else ", with the rules before it,"
            raise BadInputError(
                f"The list rule {label}{before} leaves none of the {art.n_items} items to "
                f"recommend; drop that rule or narrow it so that some items remain."
            )
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
