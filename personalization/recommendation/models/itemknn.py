"""Item-kNN: cosine similarity between the items' user columns, top-k neighbours kept sparse."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from personalization.recommendation.models.base import Recommender, check_number


class ItemKNNRecommender(Recommender):
    """Scores ``x_u S`` with ``S[j, i]`` the cosine of items j and i (``shrink`` added to the
    denominator), keeping for each item only its ``k`` most similar neighbours.

    Parameters: ``k`` (>= 1), ``shrink`` (>= 0). Learned: ``similarity_`` (CSR, items x items, zero
    diagonal).
    """

    similarity_kind = "neighbours"

    def __init__(self, k: int = 100, shrink: float = 0.0) -> None:
        self.k = k
        self.shrink = shrink

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        k = check_number("k", self.k, 1, integer=True)
        shrink = check_number("shrink", self.shrink, 0)
        matrix = user_items.tocsc().astype(np.float32)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
        co = (matrix.T @ matrix).tocoo()
        keep = co.row != co.col
        rows, cols, data = co.row[keep], co.col[keep], co.data[keep]
        data = data / (norms[rows] * norms[cols] + shrink + 1e-12)
        self.similarity_ = keep_top_k(
            rows, cols, data.astype(np.float32), k, self.n_items_
        ).T.tocsr()

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        return (rows @ self.similarity_).toarray()

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return self.similarity_[:, item_index].toarray().ravel()

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return np.asarray(self.similarity_[others, items]).ravel()

    def _contributions(
        self, history: np.ndarray, weights: np.ndarray, item_index: int
    ) -> np.ndarray:
        return weights * self.similarity_[history, item_index].toarray().ravel()


def keep_top_k(rows, cols, data, k: int, n: int) -> sp.csr_matrix:
    """CSR (n x n) holding, for each row, its ``k`` largest entries only (vectorised)."""
    order = np.lexsort((-data, rows))
    rows, cols, data = rows[order], cols[order], data[order]
    starts = np.searchsorted(rows, np.arange(n))
    rank = np.arange(len(rows)) - starts[rows]
    keep = rank < k
    return sp.csr_matrix((data[keep], (rows[keep], cols[keep])), shape=(n, n))
