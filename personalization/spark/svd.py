"""The local default SVD (``models.svd``) with its matrix products on the cluster.

The matrix is the same weighted, decayed user-item matrix local training builds (the pairs are
weighed on the executors by ``spark.training.weighted_pairs``; the driver gathers them into the
artifact's ``Interactions``, which the served model needs anyway). Its row blocks are sent to the
executors once and cached; from then on every product with the matrix runs there:

- the column norms (one pass), which give the popularity scaling ``D`` of ``Factors.fit``;
- the randomized subspace iteration of ``models.svd.truncated_svd`` (Halko et al.), each step
  ``X^T (X Q)`` summed block by block on the executors (one pass, an n_items x l result on the
  driver, l = rank + 10), re-orthonormalised on the driver by the library's ``orthonormalise``;
- the final Rayleigh-Ritz step (the l x l Gram matrix of ``X Q``, one pass).

The math, the starting block and its random seed are those of ``truncated_svd``, so the factors
are the local ones up to float rounding. The post-processing is the library's: ``Factors`` (its
``shrinkage`` and ``search``) and the learned attributes of ``SVDRecommender``, saved in the
product's artifact format. Settings left open (``weighting``, ``rank``, ``reg``,
``popularity_reg``) are chosen as local training chooses them: one validation split of the
training part, a coordinate search with one cluster SVD per weighting and popularity setting at
the largest rank, every rank and shrinkage scored from it. Every weighting of the local model
(``none``, ``log``, ``binary``, ``bm25``) is the model's own ``weigh_rows``, applied to each row
block on the executors once ``fit_weighting`` has learned bm25's idf on the driver.
"""

from __future__ import annotations

import operator

import numpy as np
import scipy.sparse as sp

from personalization.errors import NotEnoughDataError
from personalization.evaluation import holdout_split
from personalization.recommendation.models import make_recommender
from personalization.recommendation.models.base import check_choice, random_state
from personalization.recommendation.models.svd import (
    AUTO,
    OVERSAMPLE,
    VALIDATION_CELLS,
    WEIGHTINGS,
    Factors,
    SVDRecommender,
    best_setting,
    gram_of,
    orthonormalise,
    ritz,
    start_basis,
)

BLOCK_CELLS = 2_000_000  # nonzeros per cached row block


def check_params(params: dict) -> None:
    """``BadInputError`` for a weighting the SVD does not know."""
    check_choice("weighting", params.get("weighting", "log"), WEIGHTINGS)


def weigher(params: dict, weighting: str, matrix: sp.csr_matrix) -> SVDRecommender:
    """An unfitted ``SVDRecommender`` of ``params`` with ``weighting`` whose ``weigh_rows``
    weighs rows of ``matrix`` (its weighting statistics learned from it); small enough to ship
    to the executors with each pass."""
    model = make_recommender("svd", **{**params, "weighting": weighting})
    check_params({"weighting": weighting})
    model.fit_weighting(matrix)
    return model


def matrix_blocks(spark, matrix: sp.csr_matrix):
    """The rows of ``matrix`` in blocks of about ``BLOCK_CELLS`` nonzeros, as a cached RDD of CSR
    blocks spread over the cluster (row order does not matter: only ``X^T X`` is used)."""
    context = spark.sparkContext
    rows_per = max(1, int(BLOCK_CELLS * matrix.shape[0] // max(1, matrix.nnz)))
    blocks = [matrix[a : a + rows_per] for a in range(0, matrix.shape[0], rows_per)]
    slices = max(1, min(len(blocks), 4 * context.defaultParallelism))
    return context.parallelize(blocks, slices).cache()


def column_norms(blocks, rows: SVDRecommender, n_items: int) -> np.ndarray:
    """The squared norm of each column weighed by ``rows`` (float64), summed over the blocks."""

    def norms(block: sp.csr_matrix) -> np.ndarray:
        weighted = rows.weigh_rows(block)
        return np.asarray(weighted.multiply(weighted).sum(axis=0), dtype=np.float64).ravel()

    return blocks.map(norms).treeReduce(operator.add) if n_items else np.zeros(0)


def gram_pass(blocks, context, rows: SVDRecommender, columns: np.ndarray, basis: np.ndarray):
    """``X_s^T (X_s Q)`` with ``X_s = rows.weigh_rows(X) diag(columns)``, as (l, n_items) float32."""
    shared = context.broadcast((np.asarray(columns[:, None] * basis, dtype=np.float32), columns))

    def part(block: sp.csr_matrix) -> np.ndarray:
        scaled_basis, cols = shared.value
        weighted = rows.weigh_rows(block).astype(np.float32)
        product = np.asarray(weighted @ scaled_basis)
        return np.asarray(weighted.T @ product).T * cols

    try:
        return blocks.map(part).treeReduce(operator.add).astype(np.float32)
    finally:
        shared.unpersist()


def ritz_pass(blocks, context, rows: SVDRecommender, columns: np.ndarray, basis: np.ndarray):
    """``(X_s Q)^T (X_s Q)`` (l x l, float64), the Rayleigh-Ritz step."""
    shared = context.broadcast(np.asarray(columns[:, None] * basis, dtype=np.float32))

    def part(block: sp.csr_matrix) -> np.ndarray:
        weighted = rows.weigh_rows(block).astype(np.float32)
        return gram_of(np.asarray(weighted @ shared.value))

    try:
        return blocks.map(part).treeReduce(operator.add)
    finally:
        shared.unpersist()


def cluster_factors(
    blocks,
    context,
    n_items: int,
    rows: SVDRecommender,
    rank: int,
    popularity_reg: float,
    n_iter: int,
    rng,
    start: np.ndarray | None = None,
) -> Factors:
    """``Factors.fit`` of ``rows.weigh_rows(X)``, with every product with X on the cluster."""
    scale, columns = Factors.column_scaling(column_norms(blocks, rows, n_items), popularity_reg)
    basis = start_basis(n_items, min(rank + OVERSAMPLE, n_items), rng, start)
    for _ in range(max(0, int(n_iter))):
        gram = gram_pass(blocks, context, rows, columns, basis)
        basis = orthonormalise(np.ascontiguousarray(gram.T))
    singular, factors = ritz(ritz_pass(blocks, context, rows, columns, basis), basis, rank)
    return Factors(factors, singular, scale)


def search(
    spark,
    matrix: sp.csr_matrix,
    users: np.ndarray,
    held: sp.csr_matrix,
    params: dict,
    weightings: tuple[str, ...],
) -> dict[tuple[str, int, float, float], float]:
    """``SVDRecommender.search`` (the same coordinate search, on the driver) with each SVD's
    products with the matrix on the cluster."""
    blocks = matrix_blocks(spark, matrix)

    def fit(weigher, rank, popularity_reg, n_iter, rng, start) -> Factors:
        return cluster_factors(
            blocks, spark.sparkContext, matrix.shape[1], weigher, rank, popularity_reg, n_iter,
            rng, start,
        )  # fmt: skip

    try:
        return make_recommender("svd", **params).search(matrix, users, held, weightings, fit=fit)
    finally:
        blocks.unpersist()


def open_settings(params: dict) -> bool:
    model = make_recommender("svd", **params)
    auto = any(v in AUTO for v in (model.rank, model.reg, model.popularity_reg))
    return auto or "weighting" not in params


def fit_svd(spark, inter, params: dict, preset=None) -> tuple[SVDRecommender, float]:
    """The ``SVDRecommender`` of ``inter``'s matrix with its SVD on the cluster, and the
    seconds it took; ``preset`` (rank, reg, popularity_reg) as chosen by the search, else open
    settings are validated on a holdout of the matrix's own interactions, as the local model
    validates them."""
    import time

    matrix = inter.matrix
    model = make_recommender("svd", **params)
    check_params({"weighting": model.weighting})
    started = time.perf_counter()
    if preset is None and open_settings({"weighting": model.weighting, **params}):
        rng = random_state(model.random_state)
        n_val = min(int(model.validation_users), max(100, int(VALIDATION_CELLS // matrix.shape[1])))
        train, users, held = holdout_split(matrix, float(model.validation_fraction), n_val, rng)
        if not len(users):
            raise NotEnoughDataError(
                "Choosing the rank or regularisation needs users with at least 2 interactions "
                "to hold some out; found none. Give rank, reg and popularity_reg (e.g. "
                "--param rank=16 --param reg=0 --param popularity_reg=0) or load more events."
            )
        scores = search(spark, train, users, held, params, (model.weighting,))
        _, rank, reg, pop = best_setting(scores)
        preset = (rank, reg, pop)
    max_rank = max(1, min(matrix.shape) - 1)
    if preset is None:
        preset = (int(model.rank), float(model.reg), float(model.popularity_reg))
    rank, reg, pop = min(int(preset[0]), max_rank), float(preset[1]), float(preset[2])
    blocks = matrix_blocks(spark, matrix)
    try:
        rng = random_state(model.random_state)
        factors = cluster_factors(
            blocks, spark.sparkContext, matrix.shape[1], weigher(params, model.weighting, matrix),
            rank, pop,
            int(model.n_iter), rng,
        )  # fmt: skip
    finally:
        blocks.unpersist()
    learned(model, matrix, factors, rank, reg, pop)
    return model, time.perf_counter() - started


def learned(model: SVDRecommender, matrix, factors: Factors, rank, reg, pop) -> None:
    """Set what ``SVDRecommender.fit`` learns, from ``factors`` computed on the cluster."""
    model.n_users_, model.n_items_ = matrix.shape
    model.item_popularity_ = np.asarray(matrix.sum(axis=0), dtype=np.float32).ravel()
    model.fit_weighting(matrix)
    model.rank_, model.reg_, model.popularity_reg_ = int(rank), float(reg), float(pop)
    model.item_factors_ = factors.vectors
    model.singular_values_ = factors.values
    model.item_scale_ = factors.scale
    model.shrinkage_ = factors.shrinkage(float(reg))
    model.input_factors_ = factors.vectors / factors.scale[:, None] * model.shrinkage_
    model.output_factors_ = factors.vectors * factors.scale[:, None]
