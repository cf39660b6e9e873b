"""Session-based kNN (V-SKNN, Ludewig and Jannach 2018): sessions like the current one vote.

The current session is the history's latest session (its last ``session_events`` events), each
event weighted linearly by position (the last 1, the first ``1 / length``). A past session's
similarity is the weighted count of the current items it holds divided by the square root of its
length; the ``k`` most similar sessions of other users vote for their items with their
similarity. Sessions come from ``session_id`` or inactivity gaps (``sequences``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from personalization.recommendation.models.base import (
    check_number,
    pair_dots,
    place_top,
    unit_rows,
)
from personalization.recommendation.models.sequential import SequenceRecommender
from personalization.recommendation.sequences import Sequences


class SessionKNNRecommender(SequenceRecommender):
    """V-SKNN: the ``k`` past sessions most like the current one vote for their items."""

    similarity_kind = "co-occurrence"

    def __init__(
        self,
        repeat_weight="auto",
        k: int = 100,
        session_events: int = 20,
        half_life_events: float = 10.0,
        half_life_hours: float | None = 24.0,
        random_state: int = 0,
    ) -> None:
        self.repeat_weight = repeat_weight
        self.k = k
        self.session_events = session_events
        self.half_life_events = half_life_events
        self.half_life_hours = half_life_hours
        self.random_state = random_state

    def _learn(self, seqs: Sequences) -> None:
        check_number("k", self.k, 1, integer=True)
        check_number("session_events", self.session_events, 1, integer=True)
        n_sessions = len(seqs.session_ptr) - 1
        session = np.repeat(np.arange(n_sessions), np.diff(seqs.session_ptr))
        binary = sp.csr_matrix(
            (np.ones(seqs.n_events, dtype=np.float32), (session, seqs.items)),
            shape=(n_sessions, seqs.n_items),
        )
        binary.sum_duplicates()
        binary.data[:] = 1.0
        length = np.asarray(binary.sum(axis=1)).ravel()
        self.sessions_ = binary
        self.session_norm_ = (1.0 / np.sqrt(np.maximum(length, 1.0))).astype(np.float32)
        self.session_users_ = seqs.session_owners().astype(np.int64)
        self.item_sessions_ = unit_rows(binary.T.tocsr())

    def _explore(self, hist: Sequences, users: np.ndarray, weights: np.ndarray) -> np.ndarray:
        query = current_sessions(hist, int(self.session_events))
        sims = (query @ self.sessions_.T).tocsr()
        sims = sp.csr_matrix(sims @ sp.diags(self.session_norm_))
        coo = sims.tocoo()
        own = (users[coo.row] >= 0) & (self.session_users_[coo.col] == users[coo.row])
        keep = (coo.data > 0) & ~own
        rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
        k = int(min(self.k, max(1, self.sessions_.shape[0])))
        ids, top = place_top(rows, cols, vals, hist.n_users, k, np.float32)
        ok = ids >= 0
        votes = sp.csr_matrix(
            (top[ok], (np.nonzero(ok)[0], ids[ok])), shape=(hist.n_users, self.sessions_.shape[0])
        )
        return (votes @ self.sessions_).toarray()

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return pair_dots(self.item_sessions_, items, others)


def current_sessions(hist: Sequences, max_events: int) -> sp.csr_matrix:
    """Histories x items CSR: the events of each history's latest session (at most the last
    ``max_events``), weighted linearly by position, the last weighing 1."""
    starts = np.maximum(hist.last_session_starts(), hist.user_ptr[1:] - max_events)
    ends = hist.user_ptr[1:]
    length = np.maximum(ends - starts, 0)
    owner = np.repeat(np.arange(hist.n_users), length)
    offset = np.arange(length.sum()) - np.repeat(np.r_[0, np.cumsum(length)[:-1]], length)
    index = np.repeat(starts, length) + offset
    weight = (offset + 1) / np.repeat(np.maximum(length, 1), length)
    matrix = sp.csr_matrix(
        (weight.astype(np.float32), (owner, hist.items[index])),
        shape=(hist.n_users, hist.n_items),
    )
    matrix.sum_duplicates()
    return matrix
