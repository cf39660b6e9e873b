"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) solved by conjugate gradient, vectorised.

Confidence ``c_ui = 1 + alpha * r_ui``, preference 1 where ``r_ui > 0``. Each half-step solves
``(Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u`` for all users at once with ``cg_steps``
conjugate-gradient steps warm-started from the previous factors (as ``implicit`` does): each step
is one dense product with ``Y^T Y``, one sampled dense-dense product over the non-zeros and one
sparse-dense product, all in numpy/scipy with no loop per user.

Scores of a row the model was fitted on use its learned user factors; rows beyond the fitted
users (new users) are folded in by solving their equation against the item factors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from personalization.recommenders.base import Recommender, check_number, cosine_similarity_to

CHUNK = 1 << 18


class ALSRecommender(Recommender):
    """Parameters: ``factors`` (>= 1), ``regularization`` (>= 0), ``alpha`` (> 0, confidence
    scale), ``iterations`` (>= 1), ``cg_steps`` (>= 1), ``random_state``.

    Learned: ``user_factors_`` (n_users, factors), ``item_factors_`` (n_items, factors), float32.
    """

    def __init__(
        self,
        factors: int = 64,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        cg_steps: int = 3,
        random_state: int | None = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.random_state = random_state

    def _fit(self, user_items: sp.csr_matrix, item_features: Any, user_features: Any) -> None:
        k = check_number("factors", self.factors, 1, integer=True)
        reg = check_number("regularization", self.regularization, 0)
        alpha = check_number("alpha", self.alpha, 1e-12)
        iterations = check_number("iterations", self.iterations, 1, integer=True)
        steps = check_number("cg_steps", self.cg_steps, 1, integer=True)
        rng = check_random_state(self.random_state)
        confidence = user_items.copy()
        confidence.data = (alpha * confidence.data).astype(np.float32)
        transposed = confidence.T.tocsr()
        users = (rng.random_sample((self.n_users_, k)).astype(np.float32) - 0.5) * 0.01
        items = (rng.random_sample((self.n_items_, k)).astype(np.float32) - 0.5) * 0.01
        for _ in range(iterations):
            users = solve_cg(confidence, items, users, reg, steps)
            items = solve_cg(transposed, users, items, reg, steps)
        self.user_factors_ = users
        self.item_factors_ = items
        self.regularization_ = reg
        self.alpha_ = alpha

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        factors = np.zeros((len(user_indices), self.item_factors_.shape[1]), dtype=np.float32)
        known = user_indices < self.n_users_
        factors[known] = self.user_factors_[user_indices[known]]
        if (~known).any():
            confidence = rows[~known].copy()
            confidence.data = (self.alpha_ * confidence.data).astype(np.float32)
            factors[~known] = solve_cg(
                confidence, self.item_factors_, factors[~known], self.regularization_, 20
            )
        return factors @ self.item_factors_.T

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.item_factors_, item_index)


def solve_cg(
    confidence: sp.csr_matrix, fixed: np.ndarray, start: np.ndarray, reg: float, steps: int
) -> np.ndarray:
    """Rows ``x_u`` of ``(F^T F + F^T diag(c_u) F + reg I) x_u = F^T (1 + c_u)`` for every row of
    ``confidence`` (holding ``c_u = alpha r_u``), by ``steps`` CG steps from ``start``."""
    gram = fixed.T @ fixed + reg * np.eye(fixed.shape[1], dtype=np.float32)
    pattern = confidence.copy()
    pattern.data = np.ones_like(pattern.data) + confidence.data
    rhs = np.asarray(pattern @ fixed)
    x = start.copy()
    residual = rhs - apply_system(confidence, fixed, gram, x)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    for _ in range(steps):
        product = apply_system(confidence, fixed, gram, direction)
        denom = np.einsum("ij,ij->i", direction, product)
        step = np.divide(rs_old, denom, out=np.zeros_like(rs_old), where=denom > 1e-20)
        x += step[:, None] * direction
        residual -= step[:, None] * product
        rs_new = np.einsum("ij,ij->i", residual, residual)
        ratio = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 1e-20)
        direction = residual + ratio[:, None] * direction
        rs_old = rs_new
    return x


def apply_system(
    confidence: sp.csr_matrix, fixed: np.ndarray, gram: np.ndarray, vectors: np.ndarray
) -> np.ndarray:
    """``(F^T F + reg I) v_u + F^T diag(c_u) F v_u`` for every row ``v_u`` of ``vectors``."""
    weighted = confidence.copy()
    weighted.data = confidence.data * sampled_dot(confidence, vectors, fixed)
    return vectors @ gram + np.asarray(weighted @ fixed)


def sampled_dot(pattern: sp.csr_matrix, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left[u] . right[i]`` for every stored (u, i) of ``pattern``, in chunks of non-zeros."""
    counts = np.diff(pattern.indptr)
    out = np.empty(pattern.nnz, dtype=np.float32)
    step = max(1, CHUNK // max(1, int(counts.mean()) if len(counts) else 1))
    for first in range(0, pattern.shape[0], step):
        last = min(first + step, pattern.shape[0])
        start, stop = pattern.indptr[first], pattern.indptr[last]
        repeated = np.repeat(left[first:last], counts[first:last], axis=0)
        gathered = np.take(right, pattern.indices[start:stop], axis=0)
        out[start:stop] = np.einsum("ij,ij->i", repeated, gathered)
    return out
