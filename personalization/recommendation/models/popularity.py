"""Popularity: every user gets the items with the largest summed weight (the baseline)."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from personalization.recommendation.models.base import (
    Recommender,
    cosine_similarity_to,
    pair_dots,
    unit_rows,
)


class PopularityRecommender(Recommender):
    """Scores each item by its total weight over all users (weighted counts).

    ``similar_items``, ``item_similarity`` and ``explain`` use the cosine of the items' user
    columns (co-occurrence), since popularity itself relates no item to another.
    """

    similarity_kind = "co-occurrence"

    def __init__(self) -> None:
        pass

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        self.item_scores_ = self.item_popularity_.astype(np.float32)
        self.item_users_ = user_items.T.tocsr()

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(user_indices), self.n_items_))

    def _global_scores(self) -> np.ndarray:
        return self.item_scores_

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.item_users_, item_index)

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return pair_dots(unit_rows(self.item_users_), items, others)
