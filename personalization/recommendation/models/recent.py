"""Repeat-aware recency: what the visitor touched lately, then what goes with it.

Repeat part: every event of the user, weighted by its type (a purchase more than a view) and by
recency (``half_life_events`` events and ``half_life_hours`` hours halve it). Explore part: the
items that co-occur most with those events' items (each item's ``NEIGHBOURS`` nearest by the
cosine of their user columns), weighted the same way. ``repeat_weight`` mixes them (see
``sequential``); "auto" learns it on the latest events.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from personalization.recommendation.models.base import NEIGHBOURS, unit_rows
from personalization.recommendation.models.sequential import SequenceRecommender
from personalization.recommendation.sequences import Sequences, history_matrix


class RecentRecommender(SequenceRecommender):
    """Recently touched items (repeats) and their co-occurring neighbours (new items)."""

    similarity_kind = "co-occurrence"

    def __init__(
        self,
        repeat_weight="auto",
        half_life_events: float = 10.0,
        half_life_hours: float | None = 24.0,
        neighbours: int = NEIGHBOURS,
        random_state: int = 0,
    ) -> None:
        self.repeat_weight = repeat_weight
        self.half_life_events = half_life_events
        self.half_life_hours = half_life_hours
        self.neighbours = neighbours
        self.random_state = random_state

    def _learn(self, seqs: Sequences) -> None:
        self.neighbours_ = sparse_neighbours(seqs.user_item_matrix(), int(self.neighbours))
        self.symmetric_ = self.neighbours_.maximum(self.neighbours_.T).tocsr()

    def _explore(self, hist: Sequences, users: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return (history_matrix(hist, weights) @ self.neighbours_).toarray()

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        both = getattr(self, "symmetric_", None)
        if both is None:  # a model saved before symmetric_ was kept
            both = self.neighbours_.maximum(self.neighbours_.T).tocsr()
        return np.asarray(both[items, others], dtype=np.float32).ravel()


def sparse_neighbours(user_items: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Each item's ``n`` most co-occurring items (items x items CSR, float32): the cosine of
    the items' binary user columns, from one sparse product (cost: the sum over users of their
    distinct items squared, not items squared)."""
    binary = (user_items > 0).astype(np.float32)
    unit = unit_rows(binary.T.tocsr())
    product = (unit @ unit.T).tocsr()
    n_items = user_items.shape[1]
    rows = np.repeat(np.arange(n_items), np.diff(product.indptr))
    keep = (rows != product.indices) & (product.data > 0)
    rows, cols, vals = rows[keep], product.indices[keep], product.data[keep]
    # one float sort: by row, then by similarity (in 0..1) descending within the row
    order = np.argsort(rows + 0.999 * (1.0 - np.clip(vals, 0.0, 1.0)))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n_items))
    top = (np.arange(len(rows)) - starts[rows]) < n
    return sp.csr_matrix(
        (vals[top], (rows[top], cols[top])), shape=(n_items, n_items), dtype=np.float32
    )
