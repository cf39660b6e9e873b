"""Trending: popularity over a recent window, each interaction weighted by its recency.

Timestamps reach the model through ``fit(..., age_days=interactions.age_days)`` (the age in days
of each pair's latest event, same sparsity as ``user_items``, from ``build_interactions``), the
argument every family's ``fit`` takes. An interaction counts when its age is at most
``window_days`` and weighs ``0.5 ** (age / half_life_days)``. Without ``age_days`` every
interaction counts as recent, so the model ranks by the matrix as given: build it with
``half_life_days`` to favour recent events.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from personalization.recommendation.models.base import check_number
from personalization.recommendation.models.popularity import PopularityRecommender


class TrendingRecommender(PopularityRecommender):
    """Popularity with recent interactions only, scored and served as popularity is.

    Parameters: ``window_days`` (> 0), ``half_life_days`` (> 0). Learned: ``item_scores_``.
    """

    def __init__(self, window_days: float = 14.0, half_life_days: float = 7.0) -> None:
        self.window_days = window_days
        self.half_life_days = half_life_days

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        window = check_number("window_days", self.window_days, 1e-9)
        half_life = check_number("half_life_days", self.half_life_days, 1e-9)
        weights = user_items.copy()
        if age_days is not None:
            age = age_days.data
            weights.data = np.where(age <= window, weights.data * np.exp2(-age / half_life), 0)
        self.item_scores_ = np.asarray(weights.sum(axis=0), dtype=np.float32).ravel()
        self.item_users_ = user_items.T.tocsr()
