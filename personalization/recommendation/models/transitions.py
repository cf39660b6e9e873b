"""Item-to-item transitions: what visitors touch next after each item, with time decay.

Every pair of events of a user at most ``window`` events apart, in the same session, counts for
``item before -> item after`` with weight ``1 / distance``, halved every ``half_life_days``
before the latest event of the data; a pair of the same item is a repeat and left to the repeat
part. Each item's row is divided by its total, so ``transitions_[a, b]`` is the share of what
followed ``a`` that was ``b``. The explore part of a history is the sum of the rows of its last
``CONTEXT_EVENTS`` items, the last weighing 1, the one before 1/2, and so on (so an item
that nothing followed yet still lets the earlier ones speak), plus ``BACKWARD`` times what
usually comes before them (a weak back-off for items that are mostly last in a session).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from personalization.recommendation.models.base import check_number
from personalization.recommendation.models.sequential import SequenceRecommender
from personalization.recommendation.sequences import Sequences

CONTEXT_EVENTS = 20
BACKWARD = 0.1


class TransitionsRecommender(SequenceRecommender):
    """What follows what (a decayed, row-normalised item-to-item transition matrix)."""

    similarity_kind = "neighbours"

    def __init__(
        self,
        repeat_weight="auto",
        window: int = 3,
        half_life_days: float | None = 30.0,
        half_life_events: float = 10.0,
        half_life_hours: float | None = 24.0,
        random_state: int = 0,
    ) -> None:
        self.repeat_weight = repeat_weight
        self.window = window
        self.half_life_days = half_life_days
        self.half_life_events = half_life_events
        self.half_life_hours = half_life_hours
        self.random_state = random_state

    def _learn(self, seqs: Sequences) -> None:
        window = int(check_number("window", self.window, 1, 50, integer=True))
        self.transitions_ = transition_matrix(seqs, window, self.half_life_days)
        self.symmetric_ = self.transitions_.maximum(self.transitions_.T).tocsr()
        self.scoring_ = (self.transitions_ + BACKWARD * self.transitions_.T).tocsr()

    def _explore(self, hist: Sequences, users: np.ndarray, weights: np.ndarray) -> np.ndarray:
        context = context_matrix(hist, CONTEXT_EVENTS)
        return (context @ self.scoring_).toarray()

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return np.asarray(self.symmetric_[items, others], dtype=np.float32).ravel()


def transition_matrix(seqs: Sequences, window: int, half_life_days: float | None) -> sp.csr_matrix:
    """Items x items CSR (float32): decayed counts of ``a -> b`` at most ``window`` events
    apart within a session, weight ``1 / distance``, rows scaled to sum to 1."""
    session = np.repeat(np.arange(len(seqs.session_ptr) - 1), np.diff(seqs.session_ptr))
    rows, cols, vals = [], [], []
    latest = np.nanmax(seqs.seconds) if np.isfinite(seqs.seconds).any() else np.nan
    for distance in range(1, window + 1):
        if seqs.n_events <= distance:
            break
        same = session[distance:] == session[:-distance]
        a, b = seqs.items[:-distance][same], seqs.items[distance:][same]
        weight = np.full(len(a), 1.0 / distance)
        if half_life_days is not None and np.isfinite(latest):
            age = (latest - seqs.seconds[distance:][same]) / 86400.0
            weight *= np.exp2(-np.nan_to_num(age, nan=0.0).clip(0, None) / float(half_life_days))
        other = a != b
        rows.append(a[other])
        cols.append(b[other])
        vals.append(weight[other])
    n = seqs.n_items
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    matrix = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    matrix.sum_duplicates()
    totals = np.asarray(matrix.sum(axis=1)).ravel()
    scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
    return (sp.diags(scale) @ matrix).astype(np.float32).tocsr()


def context_matrix(hist: Sequences, window: int) -> sp.csr_matrix:
    """Histories x items CSR: each history's last ``window`` events, the last weighing 1, the
    one before 1/2, then 1/4, ... (summed per item)."""
    owner = hist.owners()
    after = hist.user_ptr[owner + 1] - 1 - np.arange(hist.n_events)
    keep = after < window
    matrix = sp.csr_matrix(
        (np.exp2(-after[keep]).astype(np.float32), (owner[keep], hist.items[keep])),
        shape=(hist.n_users, hist.n_items),
    )
    matrix.sum_duplicates()
    return matrix
