"""The shared machinery of the sequence recommenders (recent, transitions, session-knn, sasrec).

A sequence model learns from ``Sequences`` (events in time order; ``fit_sequences``) and still
passes the ``Recommender`` contract: ``fit(user_items, age_days=...)`` orders each user's items
by the age of their latest event when no sequences are given. Every score mixes two parts, each
scaled to a maximum of 1 per user:

- repeat: the user's own items, each event weighted by its type and by how recent it is
  (``sequences.recency_weights``): "you looked at this twice today";
- explore: what the family predicts next from the recent history (``_explore``).

``score = repeat_weight x repeat + (1 - repeat_weight) x explore`` plus a tiny share of
popularity that orders the rest. With ``repeat_weight="auto"`` the weight is learned: the last
event of up to ``VALIDATION_USERS`` users is held out, the family is fitted on the rest, and the
weight of ``REPEAT_GRID`` with the best MRR@``VALIDATION_K`` on those events is kept before the
fit on everything (the grid stops short of 1, so that the explore part always orders what
comes after the repeats). A row of ``user_items`` that the model has a sequence for is scored
from that sequence; any other row (a new or folded-in user) from its items.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Self

import numpy as np
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommendation.models.base import BLOCK_CELLS, Recommender, check_number
from personalization.recommendation.sequences import (
    Sequences,
    check_ready,
    history_matrix,
    recency_weights,
    sequences_from_matrix,
    split_last,
)

REPEAT_GRID = (0.0, 0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 0.95, 0.99)
VALIDATION_USERS = 2000
VALIDATION_K = 20
POPULARITY_SHARE = 1e-4


class SequenceRecommender(Recommender):
    """Base of the sequence families; subclasses implement ``_learn`` and ``_explore``."""

    refit_after_validation = True
    repeat_weight: Any = "auto"
    half_life_events: float = 10.0
    half_life_hours: float | None = 24.0
    random_state: int = 0

    def fit_sequences(
        self, sequences: Sequences, user_items: sp.csr_matrix | None = None, check: bool = True
    ) -> Self:
        """Learn from ``sequences`` (rows aligned with ``user_items``; default: the matrix of
        the sequences' summed event weights); return ``self``. With ``check`` (the default),
        data without usable sequences (``sequences.check_ready``: sessions of one event, or
        events without an order in time) raises ``NotEnoughDataError`` saying why."""
        if not isinstance(sequences, Sequences):
            raise BadInputError("sequences must be a Sequences (see build_sequences).")
        if check:
            check_ready(sequences)
        matrix = sequences.user_item_matrix() if user_items is None else user_items
        if matrix.shape != (sequences.n_users, sequences.n_items):
            raise BadInputError(
                f"user_items has shape {matrix.shape} but the sequences hold "
                f"{sequences.n_users} users and {sequences.n_items} items; build both from "
                f"the same interactions."
            )
        self.given_sequences = sequences
        try:
            return self.fit(matrix)
        finally:
            del self.given_sequences

    def _fit(self, user_items, item_features, user_features, age_days) -> None:
        seqs = getattr(self, "given_sequences", None)
        if seqs is None:
            seqs = sequences_from_matrix(user_items, age_days)
        self._check_params()
        if self.repeat_weight == "auto":
            self.validation_scores_ = self.validate(seqs)
            self.repeat_weight_ = max(self.validation_scores_, key=self.validation_scores_.get)
        else:
            self.repeat_weight_ = float(self.repeat_weight)
        keep = getattr(self, "keep_learned", False)
        if not keep and (self.repeat_weight != "auto" or self.refit_after_validation):
            self._learn(seqs)
        self.sequences_ = seqs
        self.popularity_unit_ = self.item_popularity_ / max(1e-9, self.item_popularity_.max())

    def validate(self, seqs: Sequences) -> dict[float, float]:
        """MRR@``VALIDATION_K`` of each weight of ``REPEAT_GRID`` on the last events of up to
        ``VALIDATION_USERS`` users, the family fitted on the rest (``{0.5: 0.0}`` when no user
        has two events; the weight then defaults to 0.5)."""
        prefix, users, held = split_last(seqs, VALIDATION_USERS, int(self.random_state))
        if len(users) == 0:
            return {0.5: 0.0}
        self._learn(prefix)
        self.sequences_ = prefix
        return self.grid_scores(prefix, users, held)

    def learn_split(self, prefix: Sequences, users: np.ndarray, held: np.ndarray) -> dict:
        """Learn on ``prefix`` (the sequences without the ``held`` last events of ``users``,
        ``sequences.split_last``) and return ``grid_scores`` on those events: one split shared
        by several families (``SequenceSelector``), each learning once."""
        self._check_params()
        self.n_items_ = prefix.n_items
        self._learn_validated(prefix, users, held)
        self.sequences_ = prefix
        return self.grid_scores(prefix, users, held)

    def finish(self, seqs: Sequences, user_items: sp.csr_matrix, repeat_weight: float) -> Self:
        """After ``learn_split``: fit on all of ``seqs`` with the ``repeat_weight`` chosen there.
        A family that costs much to learn (``refit_after_validation`` False: sasrec) keeps what
        it learned on the split instead of learning again."""
        self.repeat_weight = float(repeat_weight)
        self.keep_learned = not self.refit_after_validation
        try:
            return self.fit_sequences(seqs, user_items, check=False)
        finally:
            del self.keep_learned

    def _learn_validated(self, prefix: Sequences, users: np.ndarray, held: np.ndarray) -> None:
        """``_learn`` on ``prefix``; a family that stops early watches ``held`` instead."""
        self._learn(prefix)

    def grid_scores(self, seqs: Sequences, users: np.ndarray, held: np.ndarray) -> dict:
        """MRR@``VALIDATION_K`` per weight of ``REPEAT_GRID`` of the ``held`` items after the
        sequences of ``users``, scored in blocks of about ``BLOCK_CELLS`` cells."""
        totals = dict.fromkeys(REPEAT_GRID, 0.0)
        step = max(1, BLOCK_CELLS // max(1, self.n_items_))
        for start in range(0, len(users), step):
            block = users[start : start + step]
            repeat, explore = self._parts(seqs.take_users(block), block)
            for weight in REPEAT_GRID:
                found = mrr_of(mix(repeat, explore, weight), held[start : start + step])
                totals[weight] += found * len(block)
        return {weight: total / len(users) for weight, total in totals.items()}

    def _parts(self, hist: Sequences, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Repeat and explore scores (len(users) x n_items, float32, rows scaled to max 1)."""
        weights = recency_weights(hist, self.half_life_events, self.half_life_hours)
        repeat = history_matrix(hist, weights).toarray()
        explore = np.asarray(self._explore(hist, users, weights), dtype=np.float32)
        return unit_max(repeat), unit_max(explore)

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        hist = self._histories(user_indices, rows)
        return self.score_sequences(hist, user_indices)

    def score_sequences(self, hist: Sequences, users: np.ndarray | None = None) -> np.ndarray:
        """Scores (hist.n_users x n_items, float32) of histories (``users``: their training
        rows, -1 for histories that are not a training user's)."""
        users = np.full(hist.n_users, -1) if users is None else np.asarray(users)
        repeat, explore = self._parts(hist, users)
        out = mix(repeat, explore, self.repeat_weight_)
        out += POPULARITY_SHARE * self.popularity_unit_[None, :]
        return out

    def recommend_session(
        self,
        items: np.ndarray,
        n: int = 10,
        seconds: np.ndarray | None = None,
        filter_seen: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` (item indices, scores) after a session of item indices, oldest first."""
        from personalization.recommendation.models.base import check_n, top_n

        self._check_fitted()
        items = self._check_items(items)
        hist = self.session(items, seconds)
        scores = self.score_sequences(hist)
        if filter_seen:
            scores[0, items] = -np.inf
        ids, values = top_n(scores, check_n(n, self.n_items_))
        keep = ids[0] >= 0
        return ids[0][keep], values[0][keep]

    def session(self, items: np.ndarray, seconds: np.ndarray | None = None) -> Sequences:
        """One history of item indices (oldest first) as ``Sequences``; views by default."""
        items = np.asarray(items, dtype=np.int32)
        times = np.full(len(items), np.nan) if seconds is None else np.asarray(seconds, float)
        return Sequences(
            items=items,
            seconds=times,
            types=np.full(len(items), -1, dtype=np.int16),
            user_ptr=np.array([0, len(items)], dtype=np.int64),
            session_ptr=np.array([0, len(items)], dtype=np.int64),
            n_items=self.n_items_,
            type_names=[],
            type_weights=np.zeros(0, dtype=np.float32),
        )

    def _histories(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> Sequences:
        """The stored sequence of each known user; the row's items for the others."""
        seqs = self.sequences_
        known = (user_indices < seqs.n_users) & (np.diff(rows.indptr) > 0)
        lengths = np.zeros(len(user_indices), dtype=np.int64)
        lengths[known] = seqs.lengths()[user_indices[known]]
        if (lengths[known] > 0).all() and known.all():
            return seqs.take_users(user_indices)
        stand_in = sequences_from_matrix(rows)
        ok = known & (lengths > 0)
        parts_start = np.where(ok, seqs.user_ptr[np.minimum(user_indices, seqs.n_users - 1)], 0)
        own = seqs.take_events(parts_start, parts_start + np.where(ok, lengths, 0))
        other = stand_in.take_users(np.arange(len(user_indices)))
        return _merge(own, other, ok)

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return self._pair_similarity(
            np.full(self.n_items_, item_index, dtype=np.int64), np.arange(self.n_items_)
        )

    def _check_params(self) -> None:
        if self.repeat_weight != "auto":
            check_number("repeat_weight", self.repeat_weight, 0.0, 1.0)
        check_number("half_life_events", self.half_life_events, 1e-6)
        if self.half_life_hours is not None:
            check_number("half_life_hours", self.half_life_hours, 1e-6)

    @abstractmethod
    def _learn(self, seqs: Sequences) -> None:
        """Learn the explore part from ``seqs``."""

    @abstractmethod
    def _explore(self, hist: Sequences, users: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Explore scores (hist.n_users x n_items) after each history; ``weights`` per event
        (``recency_weights``), ``users`` the training rows (-1: not a training user)."""


def _merge(own: Sequences, other: Sequences, use_own: np.ndarray) -> Sequences:
    """Per user, the events of ``own`` where ``use_own`` else those of ``other``."""
    starts = np.where(use_own, own.user_ptr[:-1], other.user_ptr[:-1] + own.n_events)
    ends = np.where(use_own, own.user_ptr[1:], other.user_ptr[1:] + own.n_events)
    both = Sequences(
        items=np.r_[own.items, other.items].astype(np.int32),
        seconds=np.r_[own.seconds, other.seconds],
        types=np.r_[own.types, np.full(other.n_events, -1, dtype=np.int16)].astype(np.int16),
        user_ptr=np.r_[own.user_ptr[:-1], other.user_ptr + own.n_events].astype(np.int64),
        session_ptr=np.r_[own.session_ptr[:-1], other.session_ptr + own.n_events].astype(np.int64),
        n_items=own.n_items,
        type_names=own.type_names,
        type_weights=own.type_weights,
    )
    return both.take_events(starts, ends)


def unit_max(scores: np.ndarray) -> np.ndarray:
    """``scores`` (rows x items) with each row divided by its maximum when that is positive."""
    scores = np.asarray(scores, dtype=np.float32)
    top = scores.max(axis=1, keepdims=True) if scores.size else scores
    return np.divide(scores, top, out=np.zeros_like(scores), where=top > 0)


def mix(repeat: np.ndarray, explore: np.ndarray, weight: float) -> np.ndarray:
    """``weight x repeat + (1 - weight) x explore`` (float32)."""
    mixed = np.float32(weight) * repeat + np.float32(1.0 - weight) * explore
    return mixed.astype(np.float32, copy=False)


def mrr_of(scores: np.ndarray, held: np.ndarray, k: int = VALIDATION_K) -> float:
    """Mean reciprocal rank (0 beyond ``k``) of ``held[i]`` in row ``i`` of ``scores``; ties
    count against the held item."""
    target = scores[np.arange(len(held)), held]
    rank = (scores >= target[:, None]).sum(axis=1)
    return float(np.where(rank <= k, 1.0 / rank, 0.0).mean()) if len(held) else 0.0


def hit_rank(scores: np.ndarray, held: np.ndarray) -> np.ndarray:
    """1-based rank of ``held[i]`` in row ``i`` of ``scores`` (items scoring higher + 1)."""
    target = scores[np.arange(len(held)), held]
    return 1 + (scores > target[:, None]).sum(axis=1)
