"""The reason beside every recommendation, in words a marketer can read.

- "Because you bought Linen Tea Towel and viewed Oak Tray": the user's history items most
  similar to the recommended item, with the verb of the strongest event the user had with each,
  found the same way for one user (``recommend.recommend_for_user``) and for many at once
  (``rec_export.recommendations_for_users``, exports), so a page and an export agree.
  Similarity is the cosine of the model's item factors (svd, als, hybrid's collaborative part),
  of item features (content), the model's item-item weights (itemknn) or co-occurrence (others). A history item is named only when that similarity is at
  least ``REASON_SIMILARITY`` of its kind (set so that, on the sample shop, nine in ten named
  pairs share a category), twice that when the two items are of different categories;
  otherwise, in this order:
- "Popular in kitchen, a category you browse": the item's category is one the user touched
  ("New in kitchen, ..." for an item nobody has touched yet, recommended for its content);
- "Trending this week": among the items most users touched in the last 7 days of the data;
- "Popular with customers who shop like you": the model's collaborative signal, nothing nameable
  ("New, and close to what you browse" for an item nobody has touched yet);
- "Popular with mobile users in Berlin": for new users, what similar users touched (``audience``);
- "Similar to X": for ``recommend.similar_items``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.recommendation.artifact import BLOCK_CELLS, CATEGORY_COLUMNS, first_present

REASON_SIMILARITY = {"factors": 0.4, "features": 0.3, "itemknn": 0.1, "cooccurrence": 0.2}
LIKE_YOU = "Popular with customers who shop like you"
NEW_ITEM = "New, and close to what you browse"
PLACE_COLUMNS = ("location", "city", "country", "region", "state", "Country")
VERBS = {
    "purchase": "bought",
    "add_to_cart": "added to cart",
    "remove_from_cart": "removed from cart",
    "view": "viewed",
    "click": "clicked",
    "rating": "rated",
}


def item_reasons(art, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
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
    """Similarity (float32) of each ``items[i]`` to ``others[i]`` by the model's own item
    representation (see the module notes), computed in blocks; and the least similarity that
    makes a truthful "because you bought" for each pair (doubled across categories)."""
    sims, base = _raw_similarity(art, items, others)
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
    if not used:
        return "Popular with all customers"
    places = [str(v) for c, v in used.items() if c in PLACE_COLUMNS]
    others = [str(v).replace("_", " ") for c, v in used.items() if c not in PLACE_COLUMNS]
    text = " ".join(others + ["users"]) if others else "users"
    if places:
        text += " in " + " and ".join(places)
    return f"Popular with {text}"
