"""Hybrid for cold start: collaborative and content scores blended by how much history there is.

For user u with ``n_u`` interactions and item i with ``n_i`` users, the collaborative share is
``a_ui = n_u / (n_u + shrink) * n_i / (n_i + shrink)`` and the score ``a_ui * collab + (1 - a_ui)
* content``, each first scaled to 0..1 per user. A well-known user and item lean on the
collaborative model; a new item (``n_i = 0``) is scored by its content only. Without item
features the content part is absent and the model is its collaborative part. A brand-new user
with no events is served by ``serving.recommend_for_new_user``, as for every family.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommendation.models.base import Recommender, check_number
from personalization.recommendation.models.content import ContentRecommender


class HybridRecommender(Recommender):
    """Parameters: ``collaborative`` (an algorithm name of the registry), ``collaborative_params``
    (its parameters), ``shrink`` (> 0), ``max_features`` (content vocabulary size).

    Learned: ``collaborative_``, ``content_`` (None without item features), ``item_counts_``.
    ``item_similarity`` and ``similarity_kind`` are those of the collaborative part.
    """

    def __init__(
        self,
        collaborative: str = "svd",
        collaborative_params: dict | None = None,
        shrink: float = 5.0,
        max_features: int = 5000,
    ) -> None:
        self.collaborative = collaborative
        self.collaborative_params = collaborative_params
        self.shrink = shrink
        self.max_features = max_features

    @property
    def similarity_kind(self) -> str:
        """The ``similarity_kind`` of the fitted collaborative part."""
        self._check_fitted()
        return self.collaborative_.similarity_kind

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        from personalization.recommendation.models import make_recommender

        if self.collaborative == "hybrid":
            raise BadInputError("collaborative must be another algorithm than hybrid, e.g. svd.")
        self.shrink_ = check_number("shrink", self.shrink, 1e-9)
        params = dict(self.collaborative_params or {})
        collaborative = make_recommender(self.collaborative, **params)
        self.collaborative_ = collaborative.fit(user_items, age_days=age_days)
        self.content_ = None
        if item_features is not None:
            content = ContentRecommender(max_features=self.max_features)
            self.content_ = content.fit(user_items, item_features)
        self.item_counts_ = np.bincount(user_items.indices, minlength=self.n_items_)

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        collab = _scale(self.collaborative_._score(user_indices, rows))
        if self.content_ is None:
            return collab
        content = _scale(self.content_._score(user_indices, rows))
        share = self._share(np.diff(rows.indptr))
        return share * collab + (1.0 - share) * content

    def _share(self, user_counts: np.ndarray) -> np.ndarray:
        user_share = user_counts / (user_counts + self.shrink_)
        item_share = self.item_counts_ / (self.item_counts_ + self.shrink_)
        return np.outer(user_share, item_share).astype(np.float32)

    def _item_similarity(self, item_index: int) -> np.ndarray:
        collab = self.collaborative_._item_similarity(item_index)
        if self.content_ is None:
            return collab
        item_share = self.item_counts_ / (self.item_counts_ + self.shrink_)
        share = item_share * item_share[item_index]
        return share * collab + (1.0 - share) * self.content_._item_similarity(item_index)

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return self.collaborative_.item_similarity(items, others)

    def similarity_vectors(self) -> np.ndarray | None:
        return self.collaborative_.similarity_vectors()

    def _contributions(
        self, history: np.ndarray, weights: np.ndarray, item_index: int
    ) -> np.ndarray:
        count = self.item_counts_[item_index]
        if self.content_ is not None and count < self.shrink_:
            return self.content_._contributions(history, weights, item_index)
        return self.collaborative_._contributions(history, weights, item_index)


def _scale(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to 0..1 (a constant row becomes 0)."""
    scores = np.asarray(scores, dtype=np.float32)
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)
