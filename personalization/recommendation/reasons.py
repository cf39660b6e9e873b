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

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.recommendation.artifact import (
    CATEGORY_COLUMNS,
    RecommenderArtifact,
    first_present,
)
from personalization.recommendation.interactions import Interactions

REASON_SIMILARITY = {"taste": 0.4, "content": 0.3, "neighbours": 0.1, "co-occurrence": 0.2}
TRENDING_DAYS = 7
TRENDING_TOP = 20
LIKE_YOU = "Popular with customers who shop like you"
NEW_ITEM = "New, and close to what you browse"
PLACE_COLUMNS = ("location", "city", "country", "region", "state", "Country")
EVENT_VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to cart",
    "remove_from_cart": "removed from cart",
    "view": "viewed",
    "click": "clicked",
    "rating": "rated",
}


def item_reasons(art: RecommenderArtifact, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """One readable reason per (matrix row, item column) pair, vectorised over pairs: the same
    for one user's list on a page as for the same user in an export."""
    reasons = np.full(len(rows), LIKE_YOU, dtype=object)
    if art.algo in ("popularity", "trending") or len(rows) == 0:
        label = "Trending this week" if art.algo == "trending" else "Popular with all customers"
        reasons[:] = label
        return reasons
    reasons[art.trending[items]] = "Trending this week"
    new = art.model.item_popularity_[items] == 0  # nobody touched it in the training data
    reasons[new] = NEW_ITEM
    _category_reasons(art, rows, items, new, reasons)
    _history_reasons(art, rows, items, reasons)
    return reasons


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
    """Similarity (float32) of each ``items[i]`` to ``others[i]``, asked of the model
    (``item_similarity``); and the least similarity that makes a truthful "because you bought"
    for each pair: ``REASON_SIMILARITY`` of the model's ``similarity_kind``, doubled across
    categories."""
    sims = art.model.item_similarity(items, others)
    base = REASON_SIMILARITY[art.model.similarity_kind]
    codes = _category_codes(art)
    cross = (codes[items] != codes[others]) & (codes[items] >= 0) & (codes[others] >= 0)
    return sims, np.where(cross, 2 * base, base)


def _category_codes(art) -> np.ndarray:
    """Category code per item column (-1 where unknown or without a category column)."""
    column = first_present(art.items, CATEGORY_COLUMNS)
    if column is None:
        return np.full(art.n_items, -1, dtype=np.int64)
    cats = art.items[column].reindex(art.interactions.item_ids.astype(str))
    return pd.factorize(cats)[0].astype(np.int64)


def _verbs(art, rows: np.ndarray, cols: np.ndarray) -> list[str]:
    """The verb of the strongest event type of each (row, column) pair ("bought", "viewed")."""
    if len(rows) == 0:
        return []
    codes = np.asarray(art.pair_types[rows, cols]).ravel().astype(np.int64)
    words = np.array(
        ["chose"] + [EVENT_VERBS.get(t, "chose") for t in art.event_types], dtype=object
    )
    return words[np.clip(codes, 0, len(words) - 1)].tolist()


def _category_reasons(art, rows, items, new, reasons) -> None:
    column = first_present(art.items, CATEGORY_COLUMNS)
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
    fresh = np.array([f"New in {name}, a category you browse" for name in names], dtype=object)
    reasons[liked & ~new] = labels[item_codes[liked & ~new]]
    reasons[liked & new] = fresh[item_codes[liked & new]]


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
    events: pd.DataFrame, interactions: Interactions, weights: dict[str, float]
) -> dict:
    """What the reasons need beside the model, built once at training from the ``events`` the
    ``interactions`` were built from with ``weights`` (event type -> weight).

    Returns the ``RecommenderArtifact`` fields ``pair_types`` (CSR, the matrix's shape, int16:
    code + 1 in ``event_types`` of the strongest event type of each pair, 0 where none),
    ``event_types`` (list of names) and ``trending`` (bool per item column: among the
    ``TRENDING_TOP`` items most users touched in the last ``TRENDING_DAYS`` days of the data,
    by two users or more).
    """
    pair_types, event_types = _pair_types(events, interactions, weights)
    return {
        "pair_types": pair_types,
        "event_types": event_types,
        "trending": _trending(events, interactions),
    }


def _pair_types(
    events: pd.DataFrame, inter: Interactions, weights: dict
) -> tuple[sp.csr_matrix, list[str]]:
    """Code + 1 of the strongest event type of each (user, item) pair of the matrix."""
    if "event_type" not in events:
        return sp.csr_matrix(inter.matrix.shape, dtype=np.int16), []
    frame = events[["user_id", "item_id", "event_type"]].dropna()
    codes, names = pd.factorize(frame["event_type"])
    types = [str(t) for t in names]
    strength = np.array([weights.get(t, 1.0) for t in types], dtype=np.float64)[codes]
    rows = inter.user_indices(frame["user_id"])
    cols = inter.item_indices(frame["item_id"])
    keep = (rows >= 0) & (cols >= 0)
    rows, cols, codes, strength = rows[keep], cols[keep], codes[keep], strength[keep]
    key = rows.astype(np.int64) * inter.matrix.shape[1] + cols
    order = np.lexsort((strength, key))  # stable: among equal strengths the latest row wins
    last = order[np.r_[key[order][1:] != key[order][:-1], True]] if len(order) else order
    matrix = sp.csr_matrix(
        ((codes[last] + 1).astype(np.int16), (rows[last], cols[last])), shape=inter.matrix.shape
    )
    return matrix, types


def _trending(events: pd.DataFrame, inter: Interactions) -> np.ndarray:
    """Items among the ``TRENDING_TOP`` most users touched in the last week of the data."""
    out = np.zeros(inter.matrix.shape[1], dtype=bool)
    if "timestamp" not in events or events["timestamp"].notna().sum() < 2:
        return out
    ts = pd.to_datetime(events["timestamp"], errors="coerce")
    recent = events[ts >= ts.max() - pd.Timedelta(days=TRENDING_DAYS)]
    counts = recent.groupby(recent["item_id"].astype(str))["user_id"].nunique()
    top = counts.nlargest(TRENDING_TOP)
    cols = inter.item_indices(top[top >= 2].index)
    out[cols[cols >= 0]] = True
    return out
