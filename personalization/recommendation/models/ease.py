"""EASE (Steck 2019): a closed-form item-item model, ``B = I - P / diag(P)``, ``P = (X^T X + l2 I)^-1``.

``X`` is the interaction matrix after ``weighting``: ``"log"`` (default, ``log1p`` of the weights,
so that a large quantity does not drown the rest of a history), ``"none"`` (raw weights) or
``"binary"``. The same weighting is applied to a history when scoring.

With ``l2="auto"`` the penalty is chosen from ``l2_grid`` by NDCG@10 on a validation split (a share
of the interactions of up to ``VALIDATION_USERS`` users held out): the Gram matrix of the rest is
built once and only the inverse changes per penalty. The final model is fitted on the whole matrix.

It needs a dense items x items matrix (4 bytes x items^2, and an inverse that grows with items^3),
so it refuses catalogues larger than ``max_items`` with a message that names the alternatives.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from personalization.errors import BadInputError, NotEnoughDataError
from personalization.evaluation import holdout_split, ndcg_at_k
from personalization.recommendation.models.base import (
    NEIGHBOURS,
    VALIDATION_K,
    Recommender,
    check_choice,
    check_number,
    cooccurrence_neighbours,
    cosine_similarity_to,
    random_state,
    top_n,
    weigh,
)

WEIGHTINGS = ("log", "none", "binary")
L2_GRID = (100.0, 300.0, 1000.0, 3000.0)
VALIDATION_FRACTION = 0.2
VALIDATION_USERS = 2000


class EASERecommender(Recommender):
    """Parameters: ``l2`` (> 0, the ridge penalty, or ``"auto"`` to pick it from ``l2_grid`` on a
    validation split), ``weighting`` (``"log"``, ``"none"`` or ``"binary"``), ``max_items``
    (largest catalogue accepted), ``random_state`` (the validation split).

    Learned: ``weights_`` (n_items, n_items) float32 with a zero diagonal; scores are
    ``w(x_u) B``; ``l2_`` the penalty used; with ``l2="auto"`` also ``l2_scores_`` (penalty ->
    validation NDCG@10); ``neighbours_`` (CSR, items x items) each item's ``NEIGHBOURS`` most
    co-occurring items, which ``item_similarity`` reads (the weights of ``B`` have no scale a
    reason could be judged by).
    """

    similarity_kind = "co-occurrence"

    def __init__(
        self,
        l2: float | str = 300.0,
        weighting: str = "log",
        l2_grid: tuple[float, ...] = L2_GRID,
        max_items: int = 12000,
        random_state: int | None = 0,
    ) -> None:
        self.l2 = l2
        self.weighting = weighting
        self.l2_grid = l2_grid
        self.max_items = max_items
        self.random_state = random_state

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        check_choice("weighting", self.weighting, WEIGHTINGS)
        self._check_size()
        if self.l2 in (None, "auto"):
            grid = [check_number("l2_grid", value, 1e-9) for value in self.l2_grid]
            self.l2_scores_ = self._validate(user_items, grid)
            self.l2_ = max(self.l2_scores_, key=self.l2_scores_.get)
        else:
            self.l2_ = check_number("l2", self.l2, 1e-9)
        self.weights_ = ease_weights(gram_of(self._weigh(user_items)), self.l2_)
        self.neighbours_ = cooccurrence_neighbours(user_items, NEIGHBOURS)

    def _check_size(self) -> None:
        limit = check_number("max_items", self.max_items, 1, integer=True)
        n = self.n_items_
        if n > limit:
            gigabytes = 8 * n * n / 1e9
            raise BadInputError(
                f"EASE needs a dense {n} x {n} matrix (about {gigabytes:.1f} GB to fit) and "
                f"max_items is {limit}; use itemknn or svd for this catalogue, filter rare items "
                f"(min_item_interactions), or raise max_items."
            )

    def _validate(self, user_items: sp.csr_matrix, grid: list[float]) -> dict[float, float]:
        """NDCG@10 of the held-out interactions for every penalty of ``grid``."""
        rng = random_state(self.random_state)
        train, users, held = holdout_split(user_items, VALIDATION_FRACTION, VALIDATION_USERS, rng)
        if not len(users):
            raise NotEnoughDataError(
                "l2='auto' needs users with at least 2 interactions to hold some out; found "
                "none. Give a fixed l2 (e.g. l2=300) or load more events."
            )
        gram = gram_of(self._weigh(train))
        rows = train[users]
        history = self._weigh(rows)
        seen_rows, seen_cols = rows.nonzero()
        results: dict[float, float] = {}
        for l2 in grid:
            scores = np.asarray(history @ ease_weights(gram, l2))
            scores[seen_rows, seen_cols] = -np.inf
            ids, _ = top_n(scores, min(VALIDATION_K, self.n_items_))
            results[l2] = ndcg_at_k(ids, held, ids.shape[1])
        return results

    def _weigh(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        return weigh(rows, self.weighting)

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self._weigh(rows) @ self.weights_)

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.weights_.T, item_index)

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return np.asarray(self.neighbours_[items, others]).ravel()

    def _contributions(
        self, history: np.ndarray, weights: np.ndarray, item_index: int
    ) -> np.ndarray:
        row = sp.csr_matrix((weights, history, [0, len(history)]), shape=(1, self.n_items_))
        return self._weigh(row).data * self.weights_[history, item_index]


def gram_of(matrix: sp.csr_matrix) -> np.ndarray:
    """``X^T X`` (n_items, n_items) as a dense float64 array."""
    return (matrix.T @ matrix).toarray().astype(np.float64)


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """``B = I - P / diag(P)`` with a zero diagonal, ``P = (gram + l2 I)^-1`` by Cholesky
    (``gram`` is left unchanged); float32 (n_items, n_items)."""
    from scipy.linalg import lapack  # only here: 0.1 s off every command that loads a model

    system = gram.copy()
    system[np.diag_indices_from(system)] += l2
    factor, info = lapack.dpotrf(system, lower=False, overwrite_a=True)
    if info == 0:
        inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise NotEnoughDataError(
            f"EASE could not invert X^T X + {l2:g} I (LAPACK info {info}); raise l2."
        )
    upper = np.triu(inverse)
    inverse = upper + np.triu(upper, 1).T
    weights = -inverse / np.diag(inverse)
    weights[np.diag_indices_from(weights)] = 0.0
    return weights.astype(np.float32)
