"""The reason beside every recommendation, in words a marketer can read.

- "Because you bought Linen Tea Towel and viewed Oak Tray": the user's history items most
  similar to the recommended item, with the verb (``EVENT_VERBS``) of the strongest event the
  user had with each, found the same way for one user (``serving.recommend_for_user``) and for
  many at once (``batch``, exports), so a page and an export agree. Similarity is the model's
  own, asked through the interface (``Recommender.item_similarity``; hybrid answers with its
  collaborative part): the cosine of item factors ("taste": svd, als), of item features
  ("content"), the learned item-item weights ("neighbours": itemknn) or co-occurrence (ease,
  popularity). A history item is named only when that similarity is at least
  ``REASON_SIMILARITY`` of its ``similarity_kind`` (set so that, on the sample shop, nine in ten
  named pairs share a category), twice that when the two items are of different categories;
  otherwise, in this order:
- "Popular in kitchen, a category you browse": the item's category is one the user touched
  ("New in kitchen, ..." for an item nobody has touched yet, recommended for its content);
- "Trending this week": among the items most users touched in the last 7 days of the data;
- "Popular with customers who shop like you": the model's collaborative signal, nothing nameable
  ("New, and close to what you browse" for an item nobody has touched yet);
- "Popular with mobile users in Berlin": for new users, what similar users touched (``audience``);
- "Similar to X": for ``serving.similar_items``.

The data behind the reasons that the model does not hold (the strongest event type of each
user-item pair, the trending items) is built here at training time by ``reason_inputs``.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from personalization.recommendation.artifact import (
    CATEGORY_COLUMNS,
    RecommenderArtifact,
    first_present,
)
from personalization.recommendation.interactions import (
    EventCodes,
    Interactions,
    canonical_event_type,
    event_kinds,
    folded_event_type,
)

REASON_SIMILARITY = {"taste": 0.4, "content": 0.3, "neighbours": 0.1, "co-occurrence": 0.2}
TRENDING_DAYS = 7
TRENDING_TOP = 20
LIKE_YOU = "Popular with customers who shop like you"
NEW_ITEM = "New, and close to what you browse"
TRENDING = "Trending this week"
FIXED = (LIKE_YOU, TRENDING, NEW_ITEM)  # the reasons that name nothing, first in ReasonTables.fixed
AND = pa.array(["", " and "], type=pa.string())
PLACE_COLUMNS = ("location", "city", "country", "region", "state", "Country")
EVENT_VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to cart",
    "remove_from_cart": "removed from cart",
    "view": "viewed",
    "click": "clicked",
    "rating": "rated",
    **dict.fromkeys(("fav", "favorite", "favourite", "wishlist", "save", "saved"), "saved"),
}


@dataclass(frozen=True)
class ReasonTables:
    """What the reasons look up, built once per loaded model (``reason_tables``): per item
    column ``titles`` (text, the id where there is none) and ``category_codes`` (-1 where
    unknown, else a place in ``categories``); and, as Arrow arrays for making many reasons at
    once, ``fixed`` (the reasons that name no item: ``FIXED``, then "Popular in X, ..." and
    "New in X, ..." for each category), ``title_text`` (the titles) and ``verb_text`` (each verb
    and a space, index code + 1 of ``pair_types``; 0 is "chose"), both with an empty string at
    the end, and ``verb_ids`` (per verb, one number per distinct word)."""

    titles: np.ndarray
    category_codes: np.ndarray
    categories: int
    fixed: pa.Array
    title_text: pa.Array
    verb_text: pa.Array
    verb_ids: np.ndarray


_TABLES: dict[int, tuple[weakref.ref, ReasonTables]] = {}
_TABLES_LOCK = threading.Lock()
TABLES_KEPT = 8


def reason_tables(art: RecommenderArtifact) -> ReasonTables:
    """The ``ReasonTables`` of ``art``, built on first use and kept while ``art`` is alive (the
    registry keeps loaded models), so a one-user list pays no per-catalogue work."""
    key = id(art)
    held = _TABLES.get(key)
    if held is not None and held[0]() is art:
        return held[1]
    tables = _build_tables(art)
    with _TABLES_LOCK:
        for stale in [k for k, (ref, _) in _TABLES.items() if ref() is None]:
            del _TABLES[stale]
        if len(_TABLES) >= TABLES_KEPT:
            _TABLES.clear()
        _TABLES[key] = (weakref.ref(art), tables)
    return tables


def verb_of(event_type: str) -> str:
    """The verb of a reason for an event type, by its meaning ("buy", "Purchase" -> "bought";
    Taobao's "pv" -> "viewed", "fav" -> "saved"); "chose" for a type of unknown meaning."""
    folded = EVENT_VERBS.get(folded_event_type(event_type), "chose")
    return EVENT_VERBS.get(canonical_event_type(event_type), folded)


def _build_tables(art: RecommenderArtifact) -> ReasonTables:
    titles = art.titles(np.arange(art.n_items)).astype(object)
    words = ["chose"] + [verb_of(t) for t in art.event_types]
    codes, names = np.full(art.n_items, -1, dtype=np.int64), []
    column = first_present(art.items, CATEGORY_COLUMNS)
    if column is not None:
        codes, names = pd.factorize(
            art.items[column].reindex(art.interactions.item_ids.astype(str))
        )
        codes = codes.astype(np.int64)
    labels = [
        f"{kind} in {name}, a category you browse" for kind in ("Popular", "New") for name in names
    ]
    return ReasonTables(
        titles,
        codes,
        len(names),
        fixed=pa.array([*FIXED, *labels], type=pa.string()),
        title_text=pa.array([*titles, ""], type=pa.string()),
        verb_text=pa.array([*(w + " " for w in words), ""], type=pa.string()),
        verb_ids=pd.factorize(np.array(words, dtype=object))[0],
    )


def item_reasons(art: RecommenderArtifact, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One readable reason per (matrix row, item column) pair (object array), the same for one
    user's list on a page as for the same user in an export (``reason_texts``)."""
    return reason_texts(art, rows, items).to_numpy(zero_copy_only=False)


def reason_texts(art: RecommenderArtifact, rows: np.ndarray, items: np.ndarray) -> pa.Array:
    """``item_reasons`` as an Arrow string array, vectorised over pairs: each pair gets the
    number of its reason (a fixed text, or one naming history items), and the texts are put
    together by Arrow's kernels, without a Python string per pair."""
    n = len(rows)
    if art.algo in ("popularity", "trending") or n == 0:
        label = TRENDING if art.algo == "trending" else "Popular with all customers"
        return pa.array([label], type=pa.string()).take(np.zeros(n, dtype=np.int64))
    tables = reason_tables(art)
    rows, items = np.asarray(rows, dtype=np.int64), np.asarray(items, dtype=np.int64)
    choice = np.full(n, FIXED.index(LIKE_YOU), dtype=np.int64)
    choice[art.trending[items]] = FIXED.index(TRENDING)
    new = art.model.item_popularity_[items] == 0  # nobody touched it in the training data
    choice[new] = FIXED.index(NEW_ITEM)
    history = row_entries(art.interactions.matrix, rows)
    _category_reasons(tables, history, items, new, choice)
    named, texts = _history_reasons(art, tables, history, rows, items)
    fixed = tables.fixed.take(choice)
    if not len(named):
        return fixed
    at = np.arange(n)
    at[named] = n + np.arange(len(named))
    return pa.concat_arrays([fixed, texts]).take(at)


def row_entries(matrix: sp.csr_matrix, rows: np.ndarray) -> tuple[np.ndarray, ...]:
    """The stored entries of ``matrix``'s ``rows`` (CSR), in row order then column order, as
    three arrays: the position in ``rows`` each entry belongs to, its column and its value.
    Plain numpy gathers (no sparse indexing), so one row costs microseconds."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = matrix.indptr[rows].astype(np.int64)
    lengths = matrix.indptr[rows + 1].astype(np.int64) - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    before = np.cumsum(lengths) - lengths
    positions = np.arange(int(lengths.sum())) + np.repeat(starts - before, lengths)
    return owner, matrix.indices[positions].astype(np.int64), matrix.data[positions]


def _history_reasons(art, tables, history, rows, items) -> tuple[np.ndarray, pa.Array]:
    """The pairs that name the two history items most similar to the recommended item, and
    their texts (the pairs' history entries in one flat array, grouped by pair; no Python loop
    and no sort)."""
    pair, hist, _ = history
    sims = art.model.history_similarity(rows, items, pair, hist)
    recommended = items[pair]
    named = (hist != recommended) & (sims >= _similarity_floor(art, tables, recommended, hist))
    pair, hist, sims = pair[named], hist[named], sims[named]
    if len(pair) == 0:
        return pair, pa.array([], type=pa.string())
    starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])  # entries come grouped by pair
    lead, _ = segment_argmax(sims, starts)
    rest = sims.copy()
    rest[lead] = -np.inf
    second, found = segment_argmax(rest, starts)
    has = np.isfinite(found)
    both = np.r_[lead, second[has]]
    verbs = _verb_codes(art, rows[pair[both]], hist[both])
    first_verb, second_verb = verbs[: len(lead)], np.zeros(len(lead), dtype=np.int64)
    second_verb[has] = verbs[len(lead) :]
    same = tables.verb_ids[first_verb] == tables.verb_ids[second_verb]
    none_verb, no_title = len(tables.verb_text) - 1, len(tables.title_text) - 1
    texts = pc.binary_join_element_wise(
        "Because you ",
        tables.verb_text.take(first_verb),
        tables.title_text.take(hist[lead]),
        AND.take(has.astype(np.int64)),
        tables.verb_text.take(np.where(has & ~same, second_verb, none_verb)),
        tables.title_text.take(np.where(has, hist[second], no_title)),
        "",
    )
    return pair[lead], texts


def segment_argmax(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment of ``values`` (segments begin at ``starts``, ascending, the first at 0): the
    position of its largest value (the first one on ties) and that value."""
    maxima = np.maximum.reduceat(values, starts)
    segment = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(values)]))
    positions = np.where(values == maxima[segment], np.arange(len(values)), len(values))
    return np.minimum.reduceat(positions, starts), maxima


def _similarity_floor(art, tables, items: np.ndarray, others: np.ndarray) -> np.ndarray | float:
    """The least similarity of ``items[i]`` to ``others[i]`` that makes a truthful "because you
    bought": ``REASON_SIMILARITY`` of the model's ``similarity_kind``, doubled across
    categories."""
    base = REASON_SIMILARITY[art.model.similarity_kind]
    if not tables.categories:  # no item has a category: one floor for every pair
        return base
    codes = tables.category_codes
    cross = (codes[items] != codes[others]) & (codes[items] >= 0) & (codes[others] >= 0)
    return np.where(cross, 2 * base, base)


def _verb_codes(art, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Per (row, column) pair, the index in ``ReasonTables.verb_text`` of the verb of its
    strongest event type ("bought", "viewed"; 0, "chose", where none is stored)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = _stored_values(art.pair_types, rows, cols).astype(np.int64)
    return np.clip(codes, 0, len(art.event_types))


def _stored_values(matrix: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``matrix[rows[i], cols[i]]`` for every i (0 where nothing is stored), by sorted keys over
    the entries of the distinct rows only."""
    distinct, inverse = np.unique(rows, return_inverse=True)
    owner, columns, data = row_entries(matrix, distinct)
    width = np.int64(matrix.shape[1])
    keys = owner * width + columns
    order = np.argsort(keys, kind="stable")
    keys, data = keys[order], data[order]
    wanted = inverse.ravel().astype(np.int64) * width + np.asarray(cols, dtype=np.int64)
    if len(keys) == 0:
        return np.zeros(len(wanted), dtype=matrix.dtype)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, data[at], 0)


def _category_reasons(tables, history, items, new, choice) -> None:
    """ "Popular in X, a category you browse" where the user touched (positive weight) an item
    of the recommended item's category."""
    if not tables.categories:
        return
    pair, hist, weight = history
    item_codes = tables.category_codes[items]
    same = (
        (weight > 0) & (tables.category_codes[hist] == item_codes[pair]) & (item_codes[pair] >= 0)
    )
    liked = np.zeros(len(items), dtype=bool)
    liked[pair[same]] = True
    labels = len(FIXED) + item_codes  # the category's label in ``ReasonTables.fixed``
    choice[liked & ~new] = labels[liked & ~new]
    choice[liked & new] = labels[liked & new] + tables.categories


def audience(used: dict) -> str:
    """The reason of a list for a new user: "Popular with mobile users in Berlin" from the
    attributes (column -> value) the list was chosen by; "Popular with all customers" for none."""
    if not used:
        return "Popular with all customers"
    places = [str(v) for c, v in used.items() if c in PLACE_COLUMNS]
    others = [str(v).replace("_", " ") for c, v in used.items() if c not in PLACE_COLUMNS]
    text = " ".join(others + ["users"]) if others else "users"
    if places:
        text += " in " + " and ".join(places)
    return f"Popular with {text}"


# ---------------------------------------------------------------- the data behind the reasons


def reason_inputs(
    events: pd.DataFrame,
    interactions: Interactions,
    weights: dict[str, float],
    codes: EventCodes | None = None,
) -> dict:
    """What the reasons need beside the model, built once at training from the ``events`` the
    ``interactions`` were built from with ``weights`` (event type -> weight); ``codes``, the
    ``EventCodes`` of ``events`` when there are, places each event in the matrix by its codes
    instead of looking its two ids up again.

    Returns the ``RecommenderArtifact`` fields ``pair_types`` (CSR, the matrix's shape, int16:
    code + 1 in ``event_types`` of the strongest event type of each pair, 0 where none),
    ``event_types`` (list of names) and ``trending`` (bool per item column: among the
    ``TRENDING_TOP`` items most users touched in the last ``TRENDING_DAYS`` days of the data,
    by two users or more).
    """
    pair_types, event_types = _pair_types(events, interactions, weights, codes)
    return {
        "pair_types": pair_types,
        "event_types": event_types,
        "trending": _trending(events, interactions, codes),
    }


def _pair_types(
    events: pd.DataFrame, inter: Interactions, weights: dict, codes: EventCodes | None = None
) -> tuple[sp.csr_matrix, list[str]]:
    """Code + 1 of the strongest event type of each (user, item) pair of the matrix."""
    if "event_type" not in events:
        return sp.csr_matrix(inter.matrix.shape, dtype=np.int16), []
    # a missing type: -1, left out below
    kinds, types = event_kinds(events) if codes is None else (codes.kinds, codes.kind_names)
    if codes is None:
        rows = inter.user_indices(events["user_id"])
        cols = inter.item_indices(events["item_id"])
    else:  # the ids' codes through one lookup per distinct id (code -1 picks the trailing -1)
        rows = np.r_[inter.user_indices(codes.user_ids), -1][codes.users]
        cols = np.r_[inter.item_indices(codes.item_ids), -1][codes.items]
    keep = (rows >= 0) & (cols >= 0) & (kinds >= 0)
    width = inter.matrix.shape[1]
    key = (rows.astype(np.int64) * width + cols)[keep]  # one array for both: 20M events hold GBs
    del rows, cols
    kinds = kinds[keep]
    strength = np.array([weights.get(t, 1.0) for t in types] or [1.0], dtype=np.float64)[kinds]
    order = np.lexsort((strength, key))  # stable: among equal strengths the latest row wins
    del strength
    ordered = key[order]
    last = order[np.r_[ordered[1:] != ordered[:-1], True]] if len(order) else order
    del ordered
    pairs = key[last]
    matrix = sp.csr_matrix(
        ((kinds[last] + 1).astype(np.int16), (pairs // width, pairs % width)),
        shape=inter.matrix.shape,
    )
    return matrix, types


def _trending(
    events: pd.DataFrame, inter: Interactions, codes: EventCodes | None = None
) -> np.ndarray:
    """Items among the ``TRENDING_TOP`` most users touched in the last ``TRENDING_DAYS`` days of
    the data, by two users or more (bool per item column); ties go to the first ids in sorted
    order. From the events' ``codes`` when given (no id is read again)."""
    out = np.zeros(inter.matrix.shape[1], dtype=bool)
    if "timestamp" not in events or events["timestamp"].notna().sum() < 2:
        return out
    if codes is not None and codes.times is not None:
        times, users, items, item_ids = codes.times, codes.users, codes.items, codes.item_ids
        recent = ~np.isnat(times)
        recent[recent] = times[recent] >= times[recent].max() - np.timedelta64(TRENDING_DAYS, "D")
    else:
        ts = pd.to_datetime(events["timestamp"], errors="coerce")
        recent = (ts >= ts.max() - pd.Timedelta(days=TRENDING_DAYS)).to_numpy()
        users, _ = pd.factorize(events["user_id"])
        items, item_ids = pd.factorize(events["item_id"].astype(str), sort=True)
    users, items = users[recent], items[recent]
    known = (users >= 0) & (items >= 0)
    width = np.int64(max(users.max(initial=0), 0) + 1)
    pairs = np.unique(items[known].astype(np.int64) * width + users[known])
    counts = np.bincount(pairs // width, minlength=len(item_ids))
    top = np.argsort(-counts, kind="stable")[:TRENDING_TOP]
    cols = inter.item_indices(np.asarray(item_ids)[top[counts[top] >= 2]])
    out[cols[cols >= 0]] = True
    return out
