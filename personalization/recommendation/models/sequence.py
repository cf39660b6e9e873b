"""The default sequence recommender: the best installed sequence family on the latest events.

``fit`` holds out the last event of up to ``VALIDATION_USERS`` users ONCE; every family of
``FAMILIES`` whose libraries are installed (sasrec only with PyTorch, within ``sasrec_seconds``)
learns once on the rest and is scored on those events for every repeat weight of the grid
(``learn_split``), and the family and weight with the best MRR@20 are kept, the way the default
SVD chooses its rank. Only the chosen family then fits on everything, with that weight (sasrec
keeps the network it learned on the split). ``use_settings(family, weight)`` skips the choice
(a choice made on a holdout, reused for the final fit). ``validation_scores_`` holds each
family's MRR@20, ``family_`` the choice; everything else (scores, reasons, sessions) is the
chosen model's (``chosen_``).
"""

from __future__ import annotations

import numpy as np

from personalization.recommendation.models.base import check_choice, check_number
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

    def use_settings(self, family: str, repeat_weight: float) -> SequenceSelector:
        """Let the next ``fit`` use ``family`` with ``repeat_weight`` instead of choosing them on
        its own split (they were chosen elsewhere, e.g. on the holdout of ``train_recommender``);
        ``family_`` and ``repeat_weight_`` are then these. Returns ``self``."""
        check_choice("family", family, list(FAMILIES))
        self._preset = (family, float(check_number("repeat_weight", repeat_weight, 0.0, 1.0)))
        return self

    def _fit(self, user_items, item_features, user_features, age_days) -> None:
        from personalization.recommendation.sequences import sequences_from_matrix

        seqs = getattr(self, "given_sequences", None)
        if seqs is None:
            seqs = sequences_from_matrix(user_items, age_days)
        names = self._names()
        preset = getattr(self, "_preset", None)
        prefix, users, held = split_last(seqs, VALIDATION_USERS, int(self.random_state) + 7)
        scores: dict[str, float] = {}
        if preset is not None:
            self.family_ = preset[0]
            chosen = self._family(*preset).fit_sequences(seqs, user_items, check=False)
        elif len(users) == 0 or len(names) == 1:
            self.family_ = names[0]
            chosen = self._family(names[0]).fit_sequences(seqs, user_items, check=False)
        else:
            fitted, weights = {}, {}
            for name in names:
                fitted[name] = self._family(name)
                grid = fitted[name].learn_split(prefix, users, held)
                weights[name] = max(grid, key=grid.get)
                scores[name] = grid[weights[name]]
            self.family_ = max(scores, key=scores.get)
            chosen = fitted[self.family_].finish(seqs, user_items, weights[self.family_])
        self.validation_scores_ = scores
        self.chosen_ = chosen
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
