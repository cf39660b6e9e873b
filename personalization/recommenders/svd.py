"""Truncated SVD of the weighted matrix (PureSVD), with the rank chosen on a validation split.

``X ~ U_k S_k V_k^T``; a user's scores are ``x_u V_k V_k^T`` (the projection of the history onto
the top-k item space), which equals the row of the low-rank reconstruction for a training user
and folds in a new or updated history without refitting.

Popularity normalisation (EigenRec-style): the columns of the weighted matrix are scaled by
``(1 + users per item) ** -beta`` before the factorisation, so that the few very popular items do
not take up the leading factors; scores stay ``x_u V_k V_k^T`` with the weighted history.

With ``rank="auto"`` (or None) and/or ``beta="auto"`` they are chosen on a validation split of the
training matrix: a random share of the interactions of up to ``validation_users`` users is held
out; for each beta of ``beta_grid`` one SVD at the largest rank of the grid is computed on the
rest, and each rank is scored by NDCG@10 of the held-out items using the truncation of that SVD,
so auto costs one extra SVD per beta (three by default). The grid stops at about n_items / 7 and
at ``RANK_BUDGET`` / nnz. The final SVD is then computed on the whole matrix.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from personalization.errors import NotEnoughDataError
from personalization.recommenders.base import (
    Recommender,
    check_choice,
    check_number,
    cosine_similarity_to,
    top_n,
)

# The grid stops at 384. On the retail data (NDCG@10 behind EASE) rank 256 was 3% behind on a
# temporal holdout and 9% on a random one, rank 512 7% and 6%, rank 384 5% and 6%: the smallest
# worst case.
RANK_GRID = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)
BETA_GRID = (0.0, 0.25, 0.4)
ITEMS_PER_RANK = 7
RANK_BUDGET = 1.5e8
SMALL_RANKS = (2, 4)
WEIGHTINGS = ("none", "log", "binary", "bm25")
VALIDATION_K = 10


class SVDRecommender(Recommender):
    """PureSVD recommender.

    Parameters
    - ``rank``: number of factors (int >= 1), or ``"auto"`` / None to choose it from ``rank_grid``
      by NDCG@10 on a validation split (see the module docstring). Capped at min(shape) - 1; on a
      matrix too small for the grid, ranks 2 and 4 are tried as well.
    - ``weighting``: applied to the weights before the SVD and when scoring: ``"none"`` (as
      given), ``"log"`` (``log1p``), ``"binary"`` (1 for any interaction), ``"bm25"`` (BM25 with
      item idf and user length normalisation, ``bm25_k1``, ``bm25_b``).
    - ``beta``: popularity normalisation exponent in 0..2 (0 = plain PureSVD), or ``"auto"`` /
      None to choose it from ``beta_grid`` together with the rank.
    - ``validation_fraction`` (0..1), ``validation_users`` (>= 1): the auto split.
    - ``n_iter``: power iterations of the randomized SVD; ``random_state`` as in scikit-learn.

    Learned: ``rank_``, ``beta_``, ``item_factors_`` (n_items, rank_) orthonormal columns,
    ``singular_values_`` (rank_,), ``rank_scores_`` ((rank, beta) -> validation NDCG@10, when
    something was chosen).
    """

    def __init__(
        self,
        rank: int | str | None = "auto",
        weighting: str = "log",
        beta: float | str | None = "auto",
        rank_grid: tuple[int, ...] = RANK_GRID,
        beta_grid: tuple[float, ...] = BETA_GRID,
        validation_fraction: float = 0.2,
        validation_users: int = 2000,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        n_iter: int = 4,
        random_state: int | None = 0,
    ) -> None:
        self.rank = rank
        self.weighting = weighting
        self.beta = beta
        self.rank_grid = rank_grid
        self.beta_grid = beta_grid
        self.validation_fraction = validation_fraction
        self.validation_users = validation_users
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.n_iter = n_iter
        self.random_state = random_state

    def _fit(self, user_items: sp.csr_matrix, item_features: Any, user_features: Any) -> None:
        check_choice("weighting", self.weighting, WEIGHTINGS)
        rng = check_random_state(self.random_state)
        max_rank = max(1, min(user_items.shape) - 1)
        self._fit_weighting(user_items)
        self.nnz_ = user_items.nnz
        auto_rank, auto_beta = self.rank in (None, "auto"), self.beta in (None, "auto")
        fixed_rank = None if auto_rank else check_number("rank", self.rank, 1, integer=True)
        betas = [float(b) for b in self.beta_grid] if auto_beta else [self._fixed_beta()]
        if auto_rank or len(betas) > 1:
            ranks = None if auto_rank else (min(int(fixed_rank), max_rank),)
            self.rank_scores_ = self._validate(user_items, max_rank, ranks, betas, rng)
            best = max(self.rank_scores_, key=lambda kb: (self.rank_scores_[kb], -kb[0], -kb[1]))
            self.rank_, self.beta_ = best
        else:
            self.rank_, self.beta_ = min(int(fixed_rank), max_rank), betas[0]
        weighted = self._weigh(user_items) @ sp.diags(item_scale(user_items, self.beta_))
        values, factors = truncated_svd(weighted.tocsr(), self.rank_, int(self.n_iter), rng)
        self.item_factors_ = factors
        self.singular_values_ = values

    def _fixed_beta(self) -> float:
        return float(check_number("beta", self.beta, 0.0, 2.0))

    def _fit_weighting(self, user_items: sp.csr_matrix) -> None:
        users_per_item = np.bincount(user_items.indices, minlength=user_items.shape[1])
        self.idf_ = np.log1p(user_items.shape[0] / (1.0 + users_per_item)).astype(np.float32)
        self.mean_user_length_ = float(np.diff(user_items.indptr).mean()) or 1.0

    def _weigh(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        out = rows.copy()
        if self.weighting == "log":
            out.data = np.log1p(out.data)
        elif self.weighting == "binary":
            out.data = np.ones_like(out.data)
        elif self.weighting == "bm25":
            k1, b = float(self.bm25_k1), float(self.bm25_b)
            length = np.repeat(np.diff(out.indptr), np.diff(out.indptr)).astype(np.float32)
            norm = k1 * (1.0 - b + b * length / self.mean_user_length_)
            out.data = out.data * (k1 + 1.0) / (out.data + norm) * self.idf_[out.indices]
        return out

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        factors = self.item_factors_
        return np.asarray(self._weigh(rows) @ factors) @ factors.T

    def _item_similarity(self, item_index: int) -> np.ndarray:
        return cosine_similarity_to(self.item_factors_ * self.singular_values_, item_index)

    def _contributions(self, history: np.ndarray, weights: np.ndarray, item_index: int) -> np.ndarray:
        row = sp.csr_matrix((weights, history, [0, len(history)]), shape=(1, self.n_items_))
        weighted = self._weigh(row).data
        return weighted * (self.item_factors_[history] @ self.item_factors_[item_index])

    def _validate(
        self, user_items: sp.csr_matrix, max_rank: int, ranks, betas: list[float], rng
    ) -> dict[tuple[int, float], float]:
        """NDCG@10 on a held-out split for every (rank, beta): one SVD per beta at the largest
        rank, truncated to each rank of the grid."""
        fraction = check_number("validation_fraction", self.validation_fraction, 0.01, 0.9)
        n_val = check_number("validation_users", self.validation_users, 1, integer=True)
        train, users, held = holdout_split(user_items, fraction, n_val, rng)
        if not len(users):
            raise NotEnoughDataError(
                "rank='auto' needs users with at least 2 interactions to hold some out; "
                "found none. Give a fixed rank (e.g. rank=16) or load more events."
            )
        grid = ranks or self._rank_grid(max_rank)
        results: dict[tuple[int, float], float] = {}
        for beta in betas:
            for rank, score in self._validate_ranks(train, users, held, grid, beta, rng).items():
                results[(rank, beta)] = score
        return results

    def _rank_grid(self, max_rank: int) -> list[int]:
        """The ranks to try: ``rank_grid`` up to about n_items / ``ITEMS_PER_RANK`` and
        ``RANK_BUDGET`` / nnz (which bounds the cost of the validation SVDs), at least the
        smallest, and ranks 2 and 4 on a matrix too small for the grid."""
        small = SMALL_RANKS if max_rank < 2 * min(self.rank_grid) else ()
        limit = min(self.n_items_ // ITEMS_PER_RANK, RANK_BUDGET / max(1, self.nnz_))
        limit = max(min(self.rank_grid), limit)
        grid = {min(int(k), max_rank) for k in (*small, *self.rank_grid) if k <= limit}
        return sorted(grid)

    def _validate_ranks(self, train, users, held, grid, beta: float, rng) -> dict[int, float]:
        weighted = self._weigh(train) @ sp.diags(item_scale(train, beta))
        _, factors = truncated_svd(weighted.tocsr(), grid[-1], int(self.n_iter), rng)
        rows = train[users]
        projected = np.asarray(self._weigh(rows) @ factors)
        seen_rows, seen_cols = rows.nonzero()
        scores = np.zeros((len(users), self.n_items_), dtype=np.float32)
        results: dict[int, float] = {}
        done = 0
        for k in grid:
            scores += projected[:, done:k] @ factors[:, done:k].T
            done = k
            ranked = scores.copy()
            ranked[seen_rows, seen_cols] = -np.inf
            ids, _ = top_n(ranked, min(VALIDATION_K, self.n_items_))
            results[k] = ndcg_at_k(ids, held)
        return results


def item_scale(user_items: sp.csr_matrix, beta: float) -> np.ndarray:
    """Column weights (n_items,) ``(1 + users per item) ** -beta``: with beta > 0 popular items
    count less in the factorisation (EigenRec-style popularity normalisation)."""
    users_per_item = np.bincount(user_items.indices, minlength=user_items.shape[1])
    return ((1.0 + users_per_item) ** -float(beta)).astype(np.float32)


def truncated_svd(
    matrix: sp.csr_matrix, rank: int, n_iter: int, rng, oversample: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``rank`` singular values and right singular vectors (n_cols, rank) of ``matrix``.

    Randomized subspace iteration on ``X^T X`` (Halko et al.) in float32; each step is
    re-orthonormalised through the eigendecomposition of its small Gram matrix, and a final
    Rayleigh-Ritz step gives the vectors. Only sparse products and l x l dense work (l = rank +
    oversample), which keeps it fast where dense LAPACK on tall matrices is slow.
    """
    width = min(rank + oversample, matrix.shape[1])
    transposed = matrix.T.tocsr()
    basis = orthonormalise(rng.standard_normal((matrix.shape[1], width)).astype(np.float32))
    for _ in range(max(0, n_iter)):
        basis = orthonormalise(np.asarray(transposed @ np.asarray(matrix @ basis)))
    projected = np.asarray(matrix @ basis, dtype=np.float64)
    values, vectors = np.linalg.eigh(projected.T @ projected)
    order = np.argsort(values)[::-1][:rank]
    singular = np.sqrt(np.clip(values[order], 0, None)).astype(np.float32)
    factors = np.ascontiguousarray(basis @ vectors[:, order].astype(np.float32))
    return singular, factors


def orthonormalise(block: np.ndarray) -> np.ndarray:
    """An orthonormal basis (same shape) of the columns of ``block``, via its Gram matrix."""
    gram = block.T.astype(np.float64) @ block.astype(np.float64)
    values, vectors = np.linalg.eigh(gram)
    scale = np.where(values > values.max() * 1e-10, 1.0 / np.sqrt(np.clip(values, 1e-300, None)), 0)
    return block @ (vectors * scale).astype(np.float32)


def holdout_split(
    user_items: sp.csr_matrix, fraction: float, n_users: int, rng
) -> tuple[sp.csr_matrix, np.ndarray, sp.csr_matrix]:
    """Hold out ``fraction`` (at least one) of the interactions of up to ``n_users`` random users
    with two or more; return the remaining matrix, those users and their held-out rows."""
    counts = np.diff(user_items.indptr)
    candidates = np.flatnonzero(counts >= 2)
    users = np.sort(rng.choice(candidates, size=min(n_users, len(candidates)), replace=False))
    chosen = np.zeros(user_items.shape[0], dtype=bool)
    chosen[users] = True
    rows = np.repeat(np.arange(user_items.shape[0]), counts)
    order = np.lexsort((rng.random(user_items.nnz), rows))
    rank = np.empty(user_items.nnz, dtype=np.int64)
    rank[order] = np.arange(user_items.nnz) - user_items.indptr[rows[order]]
    n_held = np.where(chosen, np.maximum(1, np.floor(counts * fraction)), 0)
    positions = np.flatnonzero(rank < n_held[rows])
    mask = np.zeros(user_items.nnz, dtype=bool)
    mask[positions] = True
    held_full = user_items.copy()
    held_full.data = np.where(mask, held_full.data, 0).astype(np.float32)
    held_full.eliminate_zeros()
    train = user_items.copy()
    train.data = np.where(mask, 0, train.data).astype(np.float32)
    train.eliminate_zeros()
    return train, users, held_full[users]


def ndcg_at_k(ids: np.ndarray, relevant: sp.csr_matrix) -> float:
    """Mean binary NDCG of ranked ``ids`` (users, k; -1 = empty) against rows of ``relevant``."""
    k = ids.shape[1]
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    lookup = relevant[np.repeat(np.arange(ids.shape[0]), k), np.clip(ids, 0, None).ravel()]
    hits = (np.asarray(lookup).reshape(ids.shape) > 0) & (ids >= 0)
    dcg = hits @ discounts
    n_rel = np.minimum(np.diff(relevant.indptr), k)
    ideal = np.cumsum(discounts)[np.maximum(n_rel, 1) - 1]
    valid = n_rel > 0
    return float((dcg[valid] / ideal[valid]).mean()) if valid.any() else 0.0
