"""EASE (Steck 2019): a closed-form item-item model, ``B = I - P / diag(P)``, ``P = (X^T X + l2 I)^-1``.

It needs a dense items x items matrix (4 bytes x items^2, and an inverse that grows with items^3),
so it refuses catalogues larger than ``max_items`` with a message that names the alternatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommenders.base import Recommender, check_number, cosine_similarity_to


class EASERecommender(Recommender):
    """Parameters: ``l2`` (> 0, the ridge penalty), ``max_items`` (largest catalogue accepted).

    Learned: ``weights_`` (n_items, n_items) float32 with a zero diagonal; scores are ``x_u B``.
    """

    def __init__(self, l2: float = 500.0, max_items: int = 12000) -> None:
        self.l2 = l2
        self.max_items = max_items

    def _fit(self, user_items: sp.csr_matrix, item_features: Any, user_features: Any) -> None:
        l2 = check_number("l2", self.l2, 1e-9)
        limit = check_number("max_items", self.max_items, 1, integer=True)
        n = self.n_items_
        if n > limit:
            gigabytes = 8 * n * n / 1e9
            raise BadInputError(
                f"EASE needs a dense {n} x {n} matrix (about {gigabytes:.1f} GB to fit) and "
                f"max_items is {limit}; use itemknn or svd for this catalogue, filter rare items "
                f"(min_item_interactions), or raise max_items."
            )
        gram = (user_items.T @ user_items).toarray().astype(np.float64)
        gram[np.diag_indices(n)] += l2
        inverse = scipy.linalg.inv(gram, overwrite_a=True, check_finite=False)
        weights = -inverse / np.diag(inverse)
        weights[np.diag_indices(n)] = 0.0
        self.weights_ = weights.astype(np.float32)

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(rows @ self.weights_)

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.weights_.T, item_index)

    def _contributions(self, history: np.ndarray, weights: np.ndarray, item_index: int) -> np.ndarray:
        return weights * self.weights_[history, item_index]
