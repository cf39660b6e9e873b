"""Events -> a weighted, optionally time-decayed sparse users x items matrix and its id maps.

Every event gets a weight from its type (``DEFAULT_EVENT_WEIGHTS``, overridable); a ``rating``
weighs its ``value`` (times the rating weight, 1 unless given); any other event type weighs 1 unless
given. Weights of the same (user, item) pair are summed; a pair whose sum is not positive (only
``remove_from_cart`` events, or more returns than purchases) is dropped. The work is vectorised
(``pd.factorize`` codes and a scipy COO matrix), so a million events take well under a second.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.errors import BadInputError, NotEnoughDataError

DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "add_to_cart": 4.0,
    "remove_from_cart": 0.0,
    "purchase": 8.0,
}
# Event-type names seen in real logs, folded (lower case, letters and digits only) onto the types
# of DEFAULT_EVENT_WEIGHTS, so that e.g. "transaction" and "addtocart" weigh as purchase and cart.
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(
        ("view", "views", "pageview", "pv", "detail", "detailview", "productview"), "view"
    ),
    **dict.fromkeys(("click", "clicks", "productclick"), "click"),
    **dict.fromkeys(
        ("addtocart", "cart", "cartadd", "addtobasket", "basket", "add"), "add_to_cart"
    ),
    **dict.fromkeys(
        ("removefromcart", "cartremove", "removefrombasket", "remove"), "remove_from_cart"
    ),
    **dict.fromkeys(("purchase", "transaction", "order", "buy", "sale", "checkout"), "purchase"),
}
RATING = "rating"
UNTYPED = "interaction"  # the type of an event without one
PURCHASE = "purchase"
RETURNS = ("ignore", "subtract")
MAX_FILTER_PASSES = 20


@dataclass
class Interactions:
    """A users x items matrix (CSR, float32, positive weights) with the ids of its rows and columns.

    ``user_ids[r]`` is the user of row ``r`` and ``item_ids[c]`` the item of column ``c``; both are
    sorted. ``age_days`` (same sparsity as ``matrix``, or None without timestamps) holds for each
    pair the age in days of its latest event relative to ``now``; the trending model uses it.
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray
    age_days: sp.csr_matrix | None = None
    now: pd.Timestamp | None = None
    _users: pd.Index = field(init=False, repr=False, compare=False)
    _items: pd.Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._users = pd.Index(self.user_ids)
        self._items = pd.Index(self.item_ids)

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def user_index(self, user_id: Hashable) -> int | None:
        """Row of ``user_id``, or None when the user has no interactions."""
        return _lookup(self._users, user_id)

    def item_index(self, item_id: Hashable) -> int | None:
        """Column of ``item_id``, or None when the item has no interactions."""
        return _lookup(self._items, item_id)

    def user_indices(self, user_ids) -> np.ndarray:
        """Rows of many users at once; -1 where a user is unknown."""
        return _indices(self._users, user_ids)

    def item_indices(self, item_ids) -> np.ndarray:
        """Columns of many items at once; -1 where an item is unknown."""
        return _indices(self._items, item_ids)

    def user_text(self, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """The ids of rows ``rows`` as text (pandas' ``str`` dtype), taken from the index without
        making a Python string per id."""
        return _text(self._users.take(rows))

    def item_text(self, cols: np.ndarray) -> pd.api.extensions.ExtensionArray:
        """The ids of columns ``cols`` as text, as ``user_text``."""
        return _text(self._items.take(cols))

    def __getstate__(self) -> dict:
        """What is saved: not the indexes (rebuilt on load), and text ids as a fixed-width
        numpy array, one block to read back instead of a pickled string per id (a third of
        loading a model of 50k customers)."""
        state = {k: v for k, v in self.__dict__.items() if k not in ("_users", "_items")}
        return {**state, "user_ids": _packed(self.user_ids), "item_ids": _packed(self.item_ids)}

    def __setstate__(self, state: dict) -> None:
        for key in ("user_ids", "item_ids"):
            if state[key].dtype.kind == "U":
                state[key] = state[key].astype(object)
        self.__dict__.update(state)
        self.__post_init__()


def _packed(ids: np.ndarray) -> np.ndarray:
    """``ids`` as a fixed-width text array when they are all text and come back the same."""
    if ids.dtype != object or pd.api.types.infer_dtype(ids, skipna=False) != "string":
        return ids
    packed = ids.astype(str)
    return packed if bool((packed == ids).all()) else ids


def _indices(index: pd.Index, ids) -> np.ndarray:
    """Positions of ``ids`` in ``index`` (-1 where unknown or missing), looked up once per
    distinct id: millions of event rows hold far fewer users and items."""
    codes, uniques = pd.factorize(pd.Index(ids))
    found = np.r_[index.get_indexer(pd.Index(uniques).astype(index.dtype)), -1]
    return found[codes].astype(np.intp)  # code -1 (missing) picks the trailing -1


def _lookup(index: pd.Index, key: Hashable) -> int | None:
    try:
        loc = index.get_loc(str(key) if index.dtype == object or index.dtype == "str" else key)
    except (KeyError, TypeError):
        return None
    return int(loc) if isinstance(loc, int | np.integer) else None


def build_interactions(
    events: pd.DataFrame,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
    returns: str = "ignore",
    now: pd.Timestamp | str | None = None,
) -> Interactions:
    """Turn an events frame into a weighted users x items matrix.

    ``events`` needs ``user_id`` and ``item_id``; ``event_type`` (missing: every row weighs 1),
    ``timestamp`` (needed for ``half_life_days``) and ``value`` (ratings, returns) are optional.

    - ``event_weights``: weights merged over ``DEFAULT_EVENT_WEIGHTS``; a type that is neither a
      default, ``rating`` nor present in the events raises ``BadInputError``.
    - ``half_life_days``: each event's weight is multiplied by ``0.5 ** (age / half_life_days)``,
      age in days before ``now`` (default: the latest timestamp); events without a timestamp are
      not decayed, events after ``now`` count as age 0.
    - ``min_user_interactions`` / ``min_item_interactions``: distinct items per user and distinct
      users per item; filtering repeats until both hold (at most 20 passes), so the result has no
      row or column below its minimum (up to that cap).
    - ``returns``: a purchase with a negative ``value`` is a return; ``"ignore"`` drops it,
      ``"subtract"`` gives it the negative purchase weight so that it cancels a purchase.

    Raises ``BadInputError`` for missing columns or bad arguments and ``NotEnoughDataError`` when
    no positive interaction is left.
    """
    _check_columns(events)
    _check_arguments(half_life_days, min_user_interactions, min_item_interactions, returns)
    weights = _event_weight_array(events, *event_kinds(events), event_weights, returns)
    times, now_ts = _timestamps(events, half_life_days, now)
    if half_life_days is not None:
        weights = weights * _decay(times, now_ts, float(half_life_days))
    users, user_ids = pd.factorize(events["user_id"], sort=True)
    items, item_ids = pd.factorize(events["item_id"], sort=True)
    return _assemble(
        weights,
        users,
        items,
        np.asarray(user_ids),
        np.asarray(item_ids),
        times,
        now_ts,
        len(events),
        min_user_interactions,
        min_item_interactions,
    )


class EventCodes:
    """What ``build_interactions`` computes per event (weight, user and item codes, time) for an
    events frame, done once, so that the interactions of any subset of its rows (the parts of a
    split) are built without reading the ids and types again.

    ``interactions(rows)`` equals ``build_interactions(events.iloc[rows], event_weights,
    half_life_days)`` (same users, items, weights and ``now``: the latest time of those rows);
    ``rows_of(part)`` gives the rows of a frame cut from ``events`` (e.g. ``split_events``).
    """

    def __init__(
        self,
        events: pd.DataFrame,
        event_weights: Mapping[str, float] | None = None,
        half_life_days: float | None = None,
        returns: str = "ignore",
    ) -> None:
        _check_columns(events)
        _check_arguments(half_life_days, 1, 1, returns)
        self.kinds, self.kind_names = event_kinds(events)
        self.weights = _event_weight_array(
            events, self.kinds, self.kind_names, event_weights, returns
        )
        self.times, _ = _timestamps(events, half_life_days, None)
        self.half_life_days = half_life_days
        users, user_ids = pd.factorize(events["user_id"], sort=True)
        items, item_ids = pd.factorize(events["item_id"], sort=True)
        self.users, self.items = users, items
        self.user_ids, self.item_ids = np.asarray(user_ids), np.asarray(item_ids)
        self.index = events.index

    def split_frame(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """What ``evaluation.split_events`` reads of the events (of ``columns``, default all:
        user and item codes, the time) on their index: a temporal or random split of it gives the rows a split
        of the events would (``rows_of`` its parts), without copying the events' text columns
        into each part (at 20M events, 5 of the 6 seconds the splits took), nor the columns a
        split method does not read (``evaluation.split_columns``)."""
        data = {"user_id": self.users, "item_id": self.items, "timestamp": self.times}
        kept = {name: data[name] for name in columns or data if data[name] is not None}
        return pd.DataFrame(kept, index=self.index, copy=False)

    def rows_of(self, part: pd.DataFrame) -> np.ndarray:
        """Positions (in the frame given at construction) of the rows of ``part``."""
        if isinstance(self.index, pd.RangeIndex) and self.index.start == 0 and self.index.step == 1:
            return np.asarray(part.index, dtype=np.int64)  # the labels are the positions
        return self.index.get_indexer(part.index)

    def interactions(
        self, rows: np.ndarray | None = None, with_age: bool = True, decay: bool = True
    ) -> Interactions:
        """The ``Interactions`` of the events at positions ``rows`` (default: all); ``with_age``
        False skips ``age_days``, ``decay`` False the half-life (for a test part's pattern)."""
        if rows is None:  # every event: its codes are compact already (no gathers, no renumbering)
            weights, users, items, times = self.weights, self.users, self.items, self.times
            user_ids, item_ids, n_events = self.user_ids, self.item_ids, len(self.users)
        else:
            weights, users, items = self.weights[rows], self.users[rows], self.items[rows]
            times = None if self.times is None else self.times[rows]
            users, user_ids = _compact(users, self.user_ids)
            items, item_ids = _compact(items, self.item_ids)
            n_events = len(rows)
        now_ts = None
        if times is not None:
            valid = times[~np.isnat(times)]
            now_ts = pd.Timestamp(valid.max()) if len(valid) else None
        if decay and self.half_life_days is not None:
            weights = weights * _decay(times, now_ts, float(self.half_life_days))
        return _assemble(
            weights,
            users,
            items,
            user_ids,
            item_ids,
            times if with_age else None,
            now_ts,
            n_events,
        )


def _text(ids: pd.Index) -> pd.api.extensions.ExtensionArray:
    return (ids if ids.dtype == "str" else ids.astype("str")).array


def _compact(codes: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``codes`` renumbered over the ids they use (order kept, -1 stays -1), and those ids."""
    used = np.zeros(len(ids) + 1, dtype=bool)
    used[codes] = True  # code -1 marks the spare last slot
    used = used[:-1]
    new = np.cumsum(used) - 1
    out = np.where(codes >= 0, new[np.maximum(codes, 0)], -1)
    return out, ids[used]


def _assemble(
    weights: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    user_ids: np.ndarray,
    item_ids: np.ndarray,
    times: np.ndarray | None,
    now_ts: pd.Timestamp | None,
    n_events: int,
    min_user_interactions: int = 1,
    min_item_interactions: int = 1,
) -> Interactions:
    """The weighted matrix of per-event codes (sum per pair, positive sums kept, filtered)."""
    keep = (users >= 0) & (items >= 0) & (weights != 0)
    shape = (len(user_ids), len(item_ids))
    matrix = _to_csr(weights[keep], users[keep], items[keep], shape)
    age = None
    if times is not None and now_ts is not None:
        age = _age_matrix(times[keep], now_ts, users[keep], items[keep], shape)
    matrix.data = np.maximum(matrix.data, 0)
    matrix.eliminate_zeros()
    rows, cols = _filter(matrix, min_user_interactions, min_item_interactions)
    if len(rows) < shape[0] or len(cols) < shape[1]:  # else every row and column stays as it is
        matrix = matrix[rows][:, cols].tocsr()
        if age is not None:
            age = age[rows][:, cols].tocsr()
    if age is not None:
        age = _align(age, matrix)
    if matrix.nnz == 0:
        raise NotEnoughDataError(
            f"No interactions are left from {n_events} events after weighting and filtering "
            f"(min_user_interactions={min_user_interactions}, "
            f"min_item_interactions={min_item_interactions}); lower the minimums or load more events."
        )
    return Interactions(
        matrix=matrix,
        user_ids=user_ids[rows],
        item_ids=item_ids[cols],
        age_days=age,
        now=now_ts,
    )


def with_items(interactions: Interactions, item_ids) -> Interactions:
    """``interactions`` with an empty column appended for each of ``item_ids`` it lacks.

    Catalogue items without events can then be scored by content (content and hybrid models);
    existing columns keep their positions.
    """
    known = set(interactions.item_ids.tolist())
    extra = np.array([i for i in pd.unique(np.asarray(item_ids)) if i not in known], dtype=object)
    if not len(extra):
        return interactions
    n_users = interactions.matrix.shape[0]
    pad = sp.csr_matrix((n_users, len(extra)), dtype=np.float32)
    age = interactions.age_days
    return Interactions(
        matrix=sp.hstack([interactions.matrix, pad], format="csr", dtype=np.float32),
        user_ids=interactions.user_ids,
        item_ids=np.concatenate([interactions.item_ids.astype(object), extra]),
        age_days=None if age is None else sp.hstack([age, pad], format="csr", dtype=np.float32),
        now=interactions.now,
    )


def _check_columns(events: pd.DataFrame) -> None:
    missing = [c for c in ("user_id", "item_id") if c not in events.columns]
    if missing:
        found = ", ".join(map(str, events.columns[:10])) or "no columns"
        raise BadInputError(
            f"The events have no column {', '.join(missing)}; found: {found}; "
            f"map one when loading, e.g. --map user_id=COLUMN."
        )


def _check_arguments(half_life, min_user, min_item, returns) -> None:
    if returns not in RETURNS:
        raise BadInputError(f"returns must be one of {', '.join(RETURNS)}; got {returns!r}.")
    if half_life is not None and not float(half_life) > 0:
        raise BadInputError(f"half_life_days must be a positive number of days; got {half_life!r}.")
    for name, value in (("min_user_interactions", min_user), ("min_item_interactions", min_item)):
        if int(value) < 1:
            raise BadInputError(f"{name} must be at least 1; got {value!r}.")


def event_kinds(events: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Each event's type as a code (-1 where it has none, and for every event of a frame without
    ``event_type``) and the type names as text, in order of first appearance."""
    if "event_type" not in events.columns:
        return np.full(len(events), -1, dtype=np.intp), []
    kinds, names = pd.factorize(events["event_type"])
    return kinds, [str(name) for name in names]


def _event_weight_array(events, kinds, names, event_weights, returns) -> np.ndarray:
    """Each event's weight from its type (``event_kinds``; an event without one weighs as type
    ``UNTYPED``), its value for ratings, and ``returns`` for purchases of negative value."""
    codes, uniques = kinds, list(names)
    if (kinds < 0).any():
        if UNTYPED not in uniques:
            uniques.append(UNTYPED)
        codes = np.where(kinds >= 0, kinds, uniques.index(UNTYPED))
    given = {str(k): float(v) for k, v in (event_weights or {}).items()}
    known = set(DEFAULT_EVENT_WEIGHTS) | {RATING} | set(uniques)
    unknown = sorted(set(given) - known)
    if unknown:
        raise BadInputError(
            f"Weights were given for unknown event types: {', '.join(unknown)}; known types: "
            f"{', '.join(sorted(known))}. Use one of those names."
        )
    table = {**DEFAULT_EVENT_WEIGHTS, **given}
    canonical = [canonical_event_type(u) for u in uniques]
    per_type = np.array(
        [table.get(u, table.get(c, 1.0)) for u, c in zip(uniques, canonical, strict=True)] or [1.0],
        dtype=np.float64,
    )
    weights = per_type[codes]
    values = _values(events)
    if RATING in uniques:
        is_rating = codes == uniques.index(RATING)
        weights[is_rating] = np.nan_to_num(values[is_rating]) * table.get(RATING, 1.0)
    purchase_codes = [i for i, c in enumerate(canonical) if c == PURCHASE]
    if purchase_codes:
        is_return = np.isin(codes, purchase_codes) & (values < 0)
        weights[is_return] = -weights[is_return] if returns == "subtract" else 0.0
    return weights


def canonical_event_type(name: str) -> str:
    """The type of ``DEFAULT_EVENT_WEIGHTS`` that ``name`` means ("addtocart" -> "add_to_cart"),
    or ``name`` itself when it is not a known synonym."""
    return SYNONYMS.get(folded_event_type(name), name)


def folded_event_type(name: str) -> str:
    """``name`` lower case, letters and digits only ("Add-To-Cart" -> "addtocart")."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _values(events: pd.DataFrame) -> np.ndarray:
    if "value" not in events.columns:
        return np.full(len(events), np.nan)
    return pd.to_numeric(events["value"], errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )


def _timestamps(events, half_life_days, now) -> tuple[np.ndarray | None, pd.Timestamp | None]:
    if "timestamp" not in events.columns:
        if half_life_days is not None:
            raise BadInputError(
                "half_life_days needs a timestamp column in the events; found none. "
                "Map one when loading (--map timestamp=COLUMN) or leave half_life_days unset."
            )
        return None, None
    stamps = pd.to_datetime(events["timestamp"], errors="coerce")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    times = stamps.to_numpy(dtype="datetime64[ns]")
    if now is None:
        valid = times[~np.isnat(times)]
        now_ts = pd.Timestamp(valid.max()) if len(valid) else None
    else:
        now_ts = (
            pd.Timestamp(now).tz_localize(None) if pd.Timestamp(now).tzinfo else pd.Timestamp(now)
        )
    return times, now_ts


def _age_days(times: np.ndarray, now: pd.Timestamp) -> np.ndarray:
    delta = (np.datetime64(now.to_datetime64(), "ns") - times).astype("timedelta64[s]")
    age = delta.astype(np.float64) / 86400.0
    return np.clip(np.where(np.isnat(times), 0.0, age), 0.0, None)


def _decay(times, now, half_life_days: float) -> np.ndarray:
    if times is None or now is None:
        return np.ones(0 if times is None else len(times))
    return np.exp2(-_age_days(times, now) / half_life_days)


def _to_csr(weights, users, items, shape) -> sp.csr_matrix:
    coo = sp.coo_matrix((weights.astype(np.float32), (users, items)), shape=shape)
    matrix = coo.tocsr()
    matrix.sum_duplicates()
    return matrix


def _age_matrix(times, now, users, items, shape) -> sp.csr_matrix:
    """Age in days of the latest event of each pair (the smallest age), stored as age + 1."""
    age = _age_days(times, now)
    keys = users.astype(np.int64) * shape[1] + items
    order = np.argsort(keys, kind="stable")
    keys, age = keys[order], age[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    latest = np.minimum.reduceat(age, starts) if len(starts) else age[:0]
    pairs = keys[starts]
    return sp.csr_matrix(
        ((latest + 1.0).astype(np.float32), (pairs // shape[1], pairs % shape[1])), shape=shape
    )


def _align(age: sp.csr_matrix, matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``age`` restricted to the pairs of ``matrix`` and shifted back to days."""
    pattern = matrix.copy()
    pattern.data = np.ones_like(pattern.data)
    out = age.multiply(pattern).tocsr()
    out.sort_indices()
    out.data = out.data - 1.0
    return out


def _filter(matrix: sp.csr_matrix, min_user: int, min_item: int) -> tuple[np.ndarray, np.ndarray]:
    rows = np.arange(matrix.shape[0])
    cols = np.arange(matrix.shape[1])
    current = matrix
    for _ in range(MAX_FILTER_PASSES):
        user_counts = np.diff(current.indptr)
        item_counts = np.bincount(current.indices, minlength=current.shape[1])
        keep_rows = user_counts >= min_user
        keep_cols = item_counts >= min_item
        if keep_rows.all() and keep_cols.all():
            break
        rows, cols = rows[keep_rows], cols[keep_cols]
        current = current[keep_rows][:, keep_cols].tocsr()
    return rows, cols
