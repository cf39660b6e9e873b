"""Hybrid for cold start: collaborative and content scores blended by how much history there is.

For user u with ``n_u`` interactions and item i with ``n_i`` users, the collaborative share is
``a_ui = n_u / (n_u + shrink) * n_i / (n_i + shrink)`` and the score ``a_ui * collab + (1 - a_ui)
* content``, each first scaled to 0..1 per user. A well-known user and item lean on the
collaborative model; a new item (``n_i = 0``) is scored by its content only. Without item
features the content part is absent and the model is its collaborative part.

A brand-new user with no events: ``recommend_cold(attributes)`` returns what is popular among the
users who share the most attributes (device, location, segment, ...) with them, from
``user_features`` given to ``fit``; with no attributes in common it is overall popularity.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommendation.models.base import Recommender, check_n, check_number, top_n
from personalization.recommendation.models.content import ContentRecommender, encode_features


class HybridRecommender(Recommender):
    """Parameters: ``collaborative`` (an algorithm name of the registry), ``collaborative_params``
    (its parameters), ``shrink`` (> 0), ``max_features`` (content vocabulary size).

    Learned: ``collaborative_``, ``content_`` (None without item features), ``user_features_``
    and ``user_encoder_`` (None without user features), ``item_counts_``.
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

    def _fit(self, user_items: sp.csr_matrix, item_features: Any, user_features: Any) -> None:
        from personalization.recommendation.models import make_recommender

        if self.collaborative == "hybrid":
            raise BadInputError("collaborative must be another algorithm than hybrid, e.g. svd.")
        self.shrink_ = check_number("shrink", self.shrink, 1e-9)
        params = dict(self.collaborative_params or {})
        self.collaborative_ = make_recommender(self.collaborative, **params).fit(user_items)
        self.content_ = None
        if item_features is not None:
            content = ContentRecommender(max_features=self.max_features)
            self.content_ = content.fit(user_items, item_features)
        self.user_features_, self.user_encoder_ = None, None
        if user_features is not None:
            self.user_features_, self.user_encoder_ = encode_features(
                user_features, self.n_users_, "user_features", int(self.max_features)
            )
            self.user_items_ = user_items
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

    def _contributions(self, history: np.ndarray, weights: np.ndarray, item_index: int) -> np.ndarray:
        count = self.item_counts_[item_index]
        if self.content_ is not None and count < self.shrink_:
            return self.content_._contributions(history, weights, item_index)
        return self.collaborative_._contributions(history, weights, item_index)

    def recommend_cold(
        self,
        user_features_row: dict | pd.Series | pd.DataFrame | sp.spmatrix | None,
        n: int = 10,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` items (ids, scores) for a new user known only by attributes.

        ``user_features_row``: a dict / Series / one-row frame of attributes (when ``fit`` got a
        frame of user attributes) or a 1 x features sparse row. Scores are the summed weights of
        the users sharing the most attributes with it, plus overall popularity as a tie-breaker.
        """
        self._check_fitted()
        n = check_n(n, self.n_items_)
        scores = self._cold_scores(user_features_row)
        banned = self._exclude_mask(exclude)
        if banned is not None:
            scores[banned] = -np.inf
        ids, values = top_n(scores[None, :], n)
        keep = ids[0] >= 0
        return ids[0][keep], values[0][keep]

    def similar_users(self, user_features_row) -> np.ndarray:
        """Indices of the fitted users sharing the most attributes with ``user_features_row``."""
        sims = self._similarities(user_features_row)
        if sims is None or sims.max() <= 0:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(sims == sims.max())

    def _cold_scores(self, row) -> np.ndarray:
        popularity = self.item_popularity_.astype(np.float64)
        base = popularity / (popularity.max() or 1.0) * 1e-3
        peers = self.similar_users(row)
        if len(peers) == 0:
            return base + popularity
        return base + np.asarray(self.user_items_[peers].sum(axis=0), dtype=np.float64).ravel()

    def _similarities(self, row) -> np.ndarray | None:
        if self.user_features_ is None or row is None:
            return None
        if isinstance(row, pd.Series):
            row = row.to_dict()
        if isinstance(row, dict | pd.DataFrame):
            if self.user_encoder_ is None:
                raise BadInputError(
                    "This model was fitted with a user feature matrix, so a new user must be "
                    "given as a sparse row of the same columns, not as attributes."
                )
            row = self.user_encoder_.transform(row)
        row = sp.csr_matrix(row, dtype=np.float32)
        if row.shape[1] != self.user_features_.shape[1]:
            raise BadInputError(
                f"The user feature row has {row.shape[1]} columns; the model has "
                f"{self.user_features_.shape[1]}."
            )
        return np.asarray((self.user_features_ @ row[0].T).todense()).ravel()


def _scale(scores: np.ndarray) -> np.ndarray:
    """Each row scaled to 0..1 (a constant row becomes 0)."""
    scores = np.asarray(scores, dtype=np.float32)
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)
