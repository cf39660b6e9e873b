"""The default sequence recommender: the best installed sequence family on the latest events.

``fit`` holds out the last event of up to ``VALIDATION_USERS`` users, fits every family of
``FAMILIES`` whose libraries are installed (sasrec only with PyTorch) on the rest, each learning
its own repeat weight, and keeps the one with the best MRR@20 on the held-out events, the way
the default SVD chooses its rank; that family is then fitted on everything with its weight.
``validation_scores_`` holds each family's MRR@20 and ``family_`` the choice. Everything else
(scores, reasons, sessions) is the chosen model's (``chosen_``).
"""

from __future__ import annotations

import numpy as np

from personalization.recommendation.models.base import check_choice
from personalization.recommendation.models.recent import RecentRecommender
from personalization.recommendation.models.sasrec import SASRecRecommender, torch_available
from personalization.recommendation.models.sequential import (
    VALIDATION_USERS,
    SequenceRecommender,
)
from personalization.recommendation.models.sessionknn import SessionKNNRecommender
from personalization.recommendation.models.transitions import TransitionsRecommender
from personalization.recommendation.sequences import Sequences, split_last

FAMILIES = {
    "recent": RecentRecommender,
    "transitions": TransitionsRecommender,
    "session-knn": SessionKNNRecommender,
    "sasrec": SASRecRecommender,
}


def installed_families() -> list[str]:
    """The families of ``FAMILIES`` that can run here (sasrec needs PyTorch)."""
    return [name for name in FAMILIES if name != "sasrec" or torch_available()]


class SequenceSelector(SequenceRecommender):
    """Chooses among the sequence families on validation; ``families="auto"`` tries every
    installed one, or a comma-separated list names them."""

    similarity_kind = "co-occurrence"

    def __init__(
        self, families: str = "auto", sasrec_seconds: float = 120.0, random_state: int = 0
    ):
        self.families = families
        self.sasrec_seconds = sasrec_seconds
        self.random_state = random_state

    def _fit(self, user_items, item_features, user_features, age_days) -> None:
        from personalization.recommendation.sequences import sequences_from_matrix

        seqs = getattr(self, "given_sequences", None)
        if seqs is None:
            seqs = sequences_from_matrix(user_items, age_days)
        names = self._names()
        prefix, users, held = split_last(seqs, VALIDATION_USERS, int(self.random_state) + 7)
        scores: dict[str, float] = {}
        weights: dict[str, float] = {}
        if len(users) and len(names) > 1:
            hist = prefix.take_users(users)
            for name in names:
                model = self._family(name).fit_sequences(prefix, check=False)
                found = model.score_sequences(hist, users)
                scores[name] = mrr_at(found, held)
                weights[name] = model.repeat_weight_
        self.validation_scores_ = scores
        self.family_ = max(scores, key=scores.get) if scores else names[0]
        repeat = weights.get(self.family_, "auto")
        chosen = self._family(self.family_, repeat)
        self.chosen_ = chosen.fit_sequences(seqs, user_items, check=False)
        self.similarity_kind = chosen.similarity_kind
        self.repeat_weight_ = chosen.repeat_weight_
        self.sequences_ = seqs
        self.popularity_unit_ = chosen.popularity_unit_

    def _names(self) -> list[str]:
        if self.families == "auto":
            return installed_families()
        names = [n.strip() for n in str(self.families).split(",") if n.strip()]
        for name in names:
            check_choice("families", name, list(FAMILIES))
        if "sasrec" in names:
            from personalization.recommendation.models.sasrec import require_torch

            require_torch()
        return names or installed_families()

    def _family(self, name: str, repeat_weight="auto") -> SequenceRecommender:
        params = {"repeat_weight": repeat_weight, "random_state": self.random_state}
        if name == "sasrec":
            params["max_seconds"] = self.sasrec_seconds
        return FAMILIES[name](**params)

    def score_sequences(self, hist: Sequences, users: np.ndarray | None = None) -> np.ndarray:
        return self.chosen_.score_sequences(hist, users)

    def _learn(self, seqs: Sequences) -> None:
        self.chosen_.fit_sequences(seqs, check=False)

    def _explore(self, hist, users, weights) -> np.ndarray:
        return self.chosen_.score_sequences(hist, users)

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return self.chosen_.item_similarity(items, others)


def mrr_at(scores: np.ndarray, held: np.ndarray, k: int = 20) -> float:
    """MRR@``k`` of the held-out items (ties count against them)."""
    from personalization.recommendation.models.sequential import mrr_of

    return mrr_of(scores, held, k)
