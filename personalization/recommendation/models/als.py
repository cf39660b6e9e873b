"""Implicit-feedback ALS (Hu, Koren, Volinsky 2008) solved by conjugate gradient, vectorised.

Confidence ``c_ui = 1 + alpha * r_ui``, preference 1 where ``r_ui > 0``. Each half-step solves
``(Y^T Y + Y^T (C_u - I) Y + reg I) x_u = Y^T C_u p_u`` for all users at once with ``cg_steps``
conjugate-gradient steps warm-started from the previous factors (as ``implicit`` does): ``Y^T Y`` is
computed once per half-step; users are grouped by history length into blocks whose item factors
are gathered once into a padded (users, length, k) array, and each step is one dense product with
``Y^T Y`` and two batched products with that array (``Y_u v_u`` and ``Y_u^T (c_u * .)``), all in
numpy with no loop per user; blocks run in threads.

Scores of a row the model was fitted on use its learned user factors; rows beyond the fitted
users (new users) are folded in by solving their equation against the item factors. ``fold_in``
stores exact solutions (``solve_users``) for new or changed users, without touching the items.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from personalization import config
from personalization.recommendation.models.base import (
    WORKERS,
    Recommender,
    check_number,
    cosine_similarity_to,
    pair_dots,
    random_state,
    unit_rows,
)

CHUNK = 1 << 14
SOLVE_CELLS = 1 << 22
Block = tuple[np.ndarray, np.ndarray, np.ndarray]
LENGTHS = np.unique(np.ceil(2.0 ** (np.arange(64) / 2)).astype(np.int64))


class ALSRecommender(Recommender):
    """Parameters: ``factors`` (>= 1), ``regularization`` (>= 0), ``alpha`` (> 0, confidence
    scale), ``iterations`` (>= 1), ``cg_steps`` (>= 1), ``random_state``.

    Learned: ``user_factors_`` (n_users, factors), ``item_factors_`` (n_items, factors), float32.
    ``item_similarity`` is the cosine of the item factors.
    """

    similarity_kind = "taste"

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

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        k = check_number("factors", self.factors, 1, integer=True)
        reg = check_number("regularization", self.regularization, 0)
        alpha = check_number("alpha", self.alpha, 1e-12)
        iterations = check_number("iterations", self.iterations, 1, integer=True)
        steps = check_number("cg_steps", self.cg_steps, 1, integer=True)
        rng = random_state(self.random_state)
        confidence = user_items.copy()
        confidence.data = (alpha * confidence.data).astype(np.float32)
        user_blocks = plan_blocks(confidence)
        item_blocks = plan_blocks(confidence.T.tocsr())
        users = (rng.random_sample((self.n_users_, k)).astype(np.float32) - 0.5) * 0.01
        items = (rng.random_sample((self.n_items_, k)).astype(np.float32) - 0.5) * 0.01
        for _ in range(iterations):
            users = solve_cg(user_blocks, items, users, reg, steps)
            items = solve_cg(item_blocks, users, items, reg, steps)
        self.user_factors_ = users
        self.item_factors_ = items
        self.regularization_ = reg
        self.alpha_ = alpha

    def fold_in(self, user_indices: np.ndarray, user_items: sp.csr_matrix) -> ALSRecommender:
        """Solve the factors of new or changed users against the fixed item factors; return
        ``self``.

        ``user_items`` (CSR, users x the fitted items) holds the current history of every user,
        with rows beyond the fitted ones for new users; ``user_indices`` are the rows to solve.
        Each is solved exactly (``solve_users``: the regularised least squares of the half-step,
        as ``implicit``'s ``recalculate_user``) and stored in ``user_factors_``, which grows to
        ``user_items.shape[0]`` rows (rows added and not solved are zero: no history). Item
        factors stay as fitted; new items wait for the next ``fit``. Raises ``BadInputError``
        for a matrix whose columns do not match or rows out of range.
        """
        self._check_fitted()
        user_items = self._check_matrix(user_items)
        users = np.unique(self._check_users(user_indices, user_items))
        n_rows = max(user_items.shape[0], self.user_factors_.shape[0])
        factors = np.zeros((n_rows, self.item_factors_.shape[1]), dtype=np.float32)
        factors[: self.user_factors_.shape[0]] = self.user_factors_
        if len(users):
            confidence = user_items[users].copy()
            confidence.data = (self.alpha_ * confidence.data).astype(np.float32)
            with threadpool_limits(limits=config.blas_threads()):
                factors[users] = solve_users(confidence, self.item_factors_, self.regularization_)
        self.user_factors_ = factors
        self.n_users_ = n_rows
        return self

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        factors = np.zeros((len(user_indices), self.item_factors_.shape[1]), dtype=np.float32)
        known = user_indices < self.n_users_
        factors[known] = self.user_factors_[user_indices[known]]
        if (~known).any():
            confidence = rows[~known].copy()
            confidence.data = (self.alpha_ * confidence.data).astype(np.float32)
            factors[~known] = solve_cg(
                plan_blocks(confidence),
                self.item_factors_,
                factors[~known],
                self.regularization_,
                20,
            )
        return factors @ self.item_factors_.T

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.item_factors_, item_index)

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return pair_dots(unit_rows(self.item_factors_), items, others)

    def similarity_vectors(self) -> np.ndarray:
        return unit_rows(self.item_factors_)


def solve_cg(
    blocks: list[Block], fixed: np.ndarray, start: np.ndarray, reg: float, steps: int
) -> np.ndarray:
    """Rows ``x_u`` of ``(F^T F + F^T diag(c_u) F + reg I) x_u = F^T (1 + c_u)`` for every row of
    a confidence matrix (holding ``c_u = alpha r_u``) cut into ``blocks`` by ``plan_blocks``, by
    ``steps`` CG steps from ``start``. ``F^T F + reg I`` is computed once; each block gathers its
    rows of ``F`` once for every step, and blocks are solved in ``WORKERS`` threads."""
    k = fixed.shape[1]
    padded = np.vstack([fixed, np.zeros((1, k), dtype=fixed.dtype)]).astype(np.float32)
    gram = padded.T @ padded + np.float32(reg) * np.eye(k, dtype=np.float32)
    out = np.empty_like(start)

    def run(block: Block) -> None:
        rows, items, weights = block
        out[rows] = solve_block(np.take(padded, items, axis=0), weights, gram, start[rows], steps)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(run, blocks))
    return out


def solve_users(confidence: sp.csr_matrix, fixed: np.ndarray, reg: float) -> np.ndarray:
    """Exact rows ``x_u`` (len(rows), k), float32, of ``(F^T F + F^T diag(c_u) F + reg I) x_u =
    F^T (1 + c_u)`` for every row of ``confidence`` (holding ``c_u = alpha r_u``): each user's
    k x k system is built from the rows of ``F`` it touches and solved by LAPACK, batched over
    users of similar history length (``plan_blocks``), about ``SOLVE_CELLS`` numbers at a time."""
    k = fixed.shape[1]
    padded = np.vstack([fixed, np.zeros((1, k), dtype=fixed.dtype)]).astype(np.float64)
    gram = padded.T @ padded + float(reg) * np.eye(k)
    out = np.zeros((confidence.shape[0], k), dtype=np.float32)
    for rows, items, weights in plan_blocks(confidence):
        step = max(1, SOLVE_CELLS // (k * max(k, items.shape[1])))
        for first in range(0, len(rows), step):
            part = slice(first, first + step)
            gathered = np.take(padded, items[part], axis=0)
            weighted = gathered * weights[part][:, :, None]
            lhs = gram + np.matmul(gathered.transpose(0, 2, 1), weighted)
            rhs = np.matmul((weights[part] + 1.0)[:, None, :], gathered)[:, 0, :]
            out[rows[part]] = np.linalg.solve(lhs, rhs[:, :, None])[:, :, 0]
    return out


def plan_blocks(confidence: sp.csr_matrix) -> list[Block]:
    """The rows of ``confidence`` grouped by number of non-zeros (rounded up to a length of
    ``LENGTHS``) in blocks of about ``CHUNK`` cells: ``(rows, items, weights)`` with ``items``
    and ``weights`` (len(rows), length) the column indices and values, padded with index
    n_cols (a zero row of the factors) and weight 0."""
    counts = np.diff(confidence.indptr)
    bucket = np.searchsorted(LENGTHS, counts)
    order = np.argsort(bucket, kind="stable")
    edges = np.searchsorted(bucket[order], np.arange(len(LENGTHS) + 1))
    blocks = []
    for b, length in enumerate(LENGTHS):
        rows = order[edges[b] : edges[b + 1]]
        step = max(1, CHUNK // int(length))
        for first in range(0, len(rows), step):
            chunk = rows[first : first + step]
            blocks.append((chunk, *padded_rows(confidence, chunk, int(length))))
    return blocks


def padded_rows(
    matrix: sp.csr_matrix, rows: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values (len(rows), length) of ``rows``, padded with index n_cols and
    value 0."""
    counts = np.diff(matrix.indptr)[rows]
    offsets = np.arange(length)
    mask = offsets[None, :] < counts[:, None]
    if not matrix.nnz:
        return np.full(mask.shape, matrix.shape[1], dtype=np.intp), np.zeros(mask.shape, np.float32)
    positions = np.minimum(matrix.indptr[rows][:, None] + offsets[None, :], matrix.nnz - 1)
    items = np.where(mask, matrix.indices[positions], matrix.shape[1]).astype(np.intp)
    weights = np.where(mask, matrix.data[positions], 0).astype(np.float32)
    return items, weights


def solve_block(
    gathered: np.ndarray, weights: np.ndarray, gram: np.ndarray, start: np.ndarray, steps: int
) -> np.ndarray:
    """``solve_cg`` for one block: ``gathered`` (rows, length, k) the rows of ``F`` each row
    touches, ``weights`` (rows, length) their confidences, ``gram = F^T F + reg I``."""

    def apply(vectors: np.ndarray) -> np.ndarray:
        dots = weights * np.matmul(gathered, vectors[:, :, None])[:, :, 0]
        return vectors @ gram + np.matmul(dots[:, None, :], gathered)[:, 0, :]

    rhs = np.matmul((weights + 1.0)[:, None, :], gathered)[:, 0, :]
    x = start.copy()
    residual = rhs - apply(x)
    direction = residual.copy()
    rs_old = np.einsum("ij,ij->i", residual, residual)
    for _ in range(steps):
        product = apply(direction)
        denom = np.einsum("ij,ij->i", direction, product)
        step = np.divide(rs_old, denom, out=np.zeros_like(rs_old), where=denom > 1e-20)
        x += step[:, None] * direction
        residual -= step[:, None] * product
        rs_new = np.einsum("ij,ij->i", residual, residual)
        ratio = np.divide(rs_new, rs_old, out=np.zeros_like(rs_new), where=rs_old > 1e-20)
        direction = residual + ratio[:, None] * direction
        rs_old = rs_new
    return x
