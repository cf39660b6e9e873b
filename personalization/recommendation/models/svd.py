"""Truncated SVD of the weighted user-item matrix, with shrinkage (a low-rank DLAE), and its rank
and regularisation chosen on a validation split.

Plain PureSVD scores a user's history ``x`` as ``x V_k V_k^T`` (the projection onto the top-k item
space: the row of the rank-k reconstruction for a training user, and a fold-in for a new or
updated history). Two regularisers make it the rank-k version of the denoising linear autoencoder
``B = (X^T X + L)^{-1} X^T X`` with ``L = lambda * (I + alpha * diag(X^T X) / m)`` (Steck 2020,
"Autoencoders that don't overfit towards the identity"; m = mean of diag(X^T X)):

- the columns are scaled by ``D^-1``, ``D = sqrt(1 + alpha * d / m)`` with ``d`` the squared norm
  of each item column, so that the few very popular items do not take up the leading factors;
- ``X D^-1 ~ U S V^T`` (rank k), and with ``s^2`` in units of m each factor is shrunk by
  ``f = s^2 / (s^2 + lambda)``, so a large rank no longer overfits;
- scores ``(x D^-1) V diag(f) V^T D``, which is ``x B`` for the full rank.

With ``reg=0`` and ``popularity_reg=0`` this is plain PureSVD. With ``"auto"`` (the default) for
``rank``, ``reg`` and/or ``popularity_reg``, they are chosen by NDCG@10 on held-out interactions of
up to ``validation_users`` users (a random share of each one's interactions). One SVD per
``popularity_reg`` is computed at the largest rank of the grid; every rank and ``reg`` reuses it
(truncation and shrinkage are cheap). The grid stops at n_items / 2 and where (n_users + n_items) x rank^2, the dense work of one
randomized SVD, passes ``RANK_BUDGET``; with a large catalogue fewer validation users are scored
(at most ``VALIDATION_CELLS`` / n_items). The final SVD is computed on the whole matrix.

Training (``recommendation.training``) instead chooses the weighting, rank, shrinkage and
popularity damping together on its own validation split with ``search`` (coordinate search, one
SVD per weighting and damping tried, those of a round side by side), and later fits take the
choice, and the SVD it came from as their start, through ``use_settings`` rather than
validating again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.random import RandomState
from threadpoolctl import threadpool_limits

from personalization import config
from personalization.errors import NotEnoughDataError
from personalization.evaluation import holdout_split, ndcg_at_k
from personalization.progress import Progress, report
from personalization.recommendation.models.base import (
    VALIDATION_K,
    WORKERS,
    Recommender,
    check_choice,
    check_number,
    check_user_items,
    pair_dots,
    random_state,
    unit_rows,
    weigh,
)
from personalization.recommendation.models.bounded import NormOrder, bounded_top_n

RANK_GRID = (8, 16, 32, 64, 128, 256, 384, 512)
REG_GRID = (1.0, 3.0, 10.0)
POPULARITY_REG_GRID = (0.1, 0.3)
ITEMS_PER_RANK = 2
OVERSAMPLE = 10  # extra columns of the randomized SVD's subspace beyond the rank
RANK_BUDGET = 2.5e9
VALIDATION_CELLS = 1.6e7
SMALL_RANKS = (2, 4)
GRAM_ROWS = 8192  # rows per float64 slice of gram_of
SVD_BLOCK_ROWS = 8192  # rows of the matrix per product in truncated_svd
WEIGHED_KEPT = 2  # weighed matrices a search keeps (see _fit_here)
WEIGHTINGS = ("none", "log", "binary", "bm25")
AUTO = (None, "auto")


class SVDRecommender(Recommender):
    """Shrunk truncated SVD recommender (PureSVD when both regularisers are 0).

    Parameters
    - ``rank``: number of factors (int >= 1), or ``"auto"`` / None to choose it from ``rank_grid``
      (see the module docstring). Capped at min(shape) - 1; on a matrix too small for the grid,
      ranks 2 and 4 are tried as well.
    - ``weighting``: applied to the weights before the SVD and when scoring: ``"none"`` (as
      given), ``"log"`` (``log1p``), ``"binary"`` (1 for any interaction), ``"bm25"`` (BM25 with
      item idf and user length normalisation, ``bm25_k1``, ``bm25_b``).
    - ``reg``: the shrinkage lambda >= 0, in units of the mean squared item norm (0 = none), or
      ``"auto"`` / None to choose it from ``reg_grid``.
    - ``popularity_reg``: alpha >= 0, the extra regularisation of each item in proportion to its
      squared norm (0 = none), or ``"auto"`` / None to choose it from ``popularity_reg_grid``.
    - ``validation_fraction`` (0..1), ``validation_users`` (>= 1): the validation split.
    - ``n_iter``: power iterations of the randomized SVD; ``random_state`` as in scikit-learn.

    Learned: ``rank_``, ``reg_``, ``popularity_reg_``, ``item_factors_`` (n_items, rank_)
    orthonormal columns, ``singular_values_`` (rank_,) of the scaled matrix, ``shrinkage_``
    (rank_,) the factor weights f, ``item_scale_`` (n_items,) D, ``input_factors_`` V D^-1 diag(f)
    and ``output_factors_`` D V (scores are ``x input_factors_ output_factors_^T``), and
    ``validation_scores_`` ((rank, reg, popularity_reg) -> validation NDCG@10, when something
    was chosen). ``item_similarity`` is the cosine of the item factors scaled by the singular
    values.
    """

    similarity_kind = "taste"
    dot_product_scores = True

    def __init__(
        self,
        rank: int | str | None = "auto",
        weighting: str = "log",
        reg: float | str | None = "auto",
        popularity_reg: float | str | None = "auto",
        rank_grid: tuple[int, ...] = RANK_GRID,
        reg_grid: tuple[float, ...] = REG_GRID,
        popularity_reg_grid: tuple[float, ...] = POPULARITY_REG_GRID,
        validation_fraction: float = 0.2,
        validation_users: int = 2000,
        bm25_k1: float = 1.2,
        bm25_b: float = 0.75,
        n_iter: int = 4,
        random_state: int | None = 0,
    ) -> None:
        self.rank = rank
        self.weighting = weighting
        self.reg = reg
        self.popularity_reg = popularity_reg
        self.rank_grid = rank_grid
        self.reg_grid = reg_grid
        self.popularity_reg_grid = popularity_reg_grid
        self.validation_fraction = validation_fraction
        self.validation_users = validation_users
        self.bm25_k1 = bm25_k1
        self.bm25_b = bm25_b
        self.n_iter = n_iter
        self.random_state = random_state

    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        check_choice("weighting", self.weighting, WEIGHTINGS)
        rng = random_state(self.random_state)
        max_rank = max(1, min(user_items.shape) - 1)
        self.fit_weighting(user_items)
        ranks = self.ranks_for(user_items.shape)
        regs = self._grid("reg", self.reg, self.reg_grid)
        pops = self._grid("popularity_reg", self.popularity_reg, self.popularity_reg_grid)
        preset = self.__dict__.pop("_preset", None)
        start = self.__dict__.pop("_start", None)
        if preset is not None:
            best = (min(int(preset[0]), max_rank), float(preset[1]), float(preset[2]))
        elif len(ranks) * len(regs) * len(pops) > 1:
            self.validation_scores_ = self._validate(user_items, ranks, regs, pops, rng)
            scores = self.validation_scores_
            best = max(scores, key=lambda key: (scores[key], -key[0], key[1], -key[2]))
        else:
            best = (ranks[0], regs[0], pops[0])
        self.rank_, self.reg_, self.popularity_reg_ = best
        n_iter = self.n_iter if start is None else warm_iterations(self.n_iter)
        factors = Factors.fit(
            self.weigh_rows(user_items), self.rank_, self.popularity_reg_, n_iter, rng, start
        )
        self.item_factors_ = factors.vectors
        self.singular_values_ = factors.values
        self.item_scale_ = factors.scale
        self.shrinkage_ = factors.shrinkage(self.reg_)
        self.input_factors_ = factors.vectors / factors.scale[:, None] * self.shrinkage_
        self.output_factors_ = factors.vectors * factors.scale[:, None]

    def use_settings(
        self, rank: int, reg: float, popularity_reg: float, start: np.ndarray | None = None
    ) -> SVDRecommender:
        """Let the next ``fit`` use these settings instead of validating its ``"auto"`` ones (they
        were chosen elsewhere, e.g. by ``search`` on a shared validation split); ``rank_``,
        ``reg_`` and ``popularity_reg_`` are then these, and the params keep saying ``"auto"``.
        ``start`` (n_items, >= 1 columns; e.g. ``search``'s ``best_vectors_``, the SVD these
        settings were chosen from) seeds that fit's SVD, which then takes half the power
        iterations. Returns ``self``."""
        self._preset = (
            int(check_number("rank", rank, 1, integer=True)),
            float(check_number("reg", reg, 0.0)),
            float(check_number("popularity_reg", popularity_reg, 0.0)),
        )
        self._start = start
        return self

    def search(
        self,
        user_items: sp.csr_matrix,
        users: np.ndarray,
        held: sp.csr_matrix,
        weightings: tuple[str, ...] | None = None,
        progress: Progress = None,
        fit: Callable[..., Factors] | None = None,
    ) -> dict[tuple[str, int, float, float], float]:
        """NDCG@10 of ``held`` on a validation split given by the caller, for every setting.

        ``user_items`` (CSR) is the fit part, ``users`` the rows to score (sorted) and ``held``
        (len(users) x n_items) their held-out items. Coordinate search, one randomized SVD at the
        largest rank of the grid per setting tried: the first of ``weightings`` (default: this
        model's) at every ``popularity_reg`` of the grid, then the other weightings at its best
        one, warm-started from the first weighting's SVD there with half the power iterations.
        The SVDs of each round are computed side by side (each from its own seeded random
        start) and each is scored as soon as it is done. From each SVD every rank is scored at
        the middle ``reg`` (truncations of it) and the other regs at the best rank
        (``Factors.search``). ``"auto"`` params search their grid, fixed ones stay. Returns
        ``(weighting, rank, reg, popularity_reg) -> NDCG@10`` of the settings tried, and keeps
        the right singular vectors of the SVD the best of them (``best_setting``) comes from in
        ``best_vectors_`` (n_items, columns), a start for later fits (``use_settings``).
        ``progress`` hears after each SVD is scored. ``fit(weigher, rank, popularity_reg,
        n_iter, rng, start)`` computes each SVD of ``user_items`` weighed by
        ``weigher.weigh_rows`` (default: ``Factors.fit`` here; the Spark engine passes one whose
        products with the matrix run on the cluster); it is called from several threads.
        """
        user_items = check_user_items(user_items)
        weightings = tuple(weightings or (self.weighting,))
        for weighting in weightings:
            check_choice("weighting", weighting, WEIGHTINGS)
        fit = fit or _fit_here(user_items)
        ranks = self.ranks_for(user_items.shape)
        regs = self._grid("reg", self.reg, self.reg_grid)
        pops = self._grid("popularity_reg", self.popularity_reg, self.popularity_reg_grid)
        planned = len(pops) + len(weightings) - 1
        seeds = iter(random_state(self.random_state).randint(0, 2**31 - 1, size=planned))
        results: dict[tuple[str, int, float, float], float] = {}

        def probe(weighting: str) -> tuple[SVDRecommender, sp.csr_matrix]:
            """A model weighing as ``weighting`` and the validation rows weighed so."""
            found = self.__class__(**{**self.get_params(), "weighting": weighting})
            found.fit_weighting(user_items)
            return found, found.weigh_rows(user_items[users])

        def run(round_: list[tuple[tuple, float]], start, n_iter) -> None:
            jobs = [
                fitting.submit(
                    fit, weigher, max(ranks), pop, n_iter, RandomState(next(seeds)), start
                )
                for (weigher, _), pop in round_
            ]
            for ((weigher, rows), pop), job in zip(round_, jobs, strict=True):
                factors = job.result()
                for (rank, reg), score in factors.search(rows, held, ranks, regs, pool).items():
                    results[(weigher.weighting, rank, reg, pop)] = score
                best = best_setting(results)
                if (best[0], best[3]) == (weigher.weighting, pop):
                    self.best_vectors_ = factors.vectors
                tried = len({(key[0], key[3]) for key in results})
                report(
                    progress,
                    tried / planned,
                    f"tried {weigher.weighting} weights ({tried} of {planned})",
                )

        with (
            threadpool_limits(limits=config.blas_threads()),
            ThreadPoolExecutor(max_workers=WORKERS) as pool,
            ThreadPoolExecutor(max_workers=WORKERS) as fitting,
        ):
            first = probe(weightings[0])
            run([(first, pop) for pop in pops], None, self.n_iter)
            best = best_setting(results)[3]  # best_vectors_ are of that SVD
            others = [(probe(weighting), best) for weighting in weightings[1:]]
            run(others, self.best_vectors_, warm_iterations(self.n_iter))
        return results

    def ranks_for(self, shape: tuple[int, int]) -> list[int]:
        """The ranks a search tries on a (users x items) matrix of ``shape``: the grid of
        ``_rank_grid`` for ``rank="auto"``, else the given rank (capped by the matrix)."""
        max_rank = max(1, min(shape) - 1)
        if self.rank in AUTO:
            return self._rank_grid(max_rank, shape)
        return [min(int(check_number("rank", self.rank, 1, integer=True)), max_rank)]

    def fold_in(self, user_indices: np.ndarray, user_items: sp.csr_matrix) -> SVDRecommender:
        """Take in new or changed histories without refitting; return ``self``.

        ``user_items`` (CSR, users x the fitted items) holds the current history of every user,
        with rows beyond the fitted ones for new users; ``user_indices`` are the rows that are new
        or changed. The item side (factors, scale, shrinkage, weighting statistics) stays as
        fitted: a user's scores are always their weighted row projected through ``V``
        (``user_vectors``), so folding in is only taking the larger matrix on. New items wait for
        the next ``fit``. Raises ``BadInputError`` for a matrix whose columns do not match.
        """
        self._check_fitted()
        user_items = self._check_matrix(user_items)
        self._check_users(user_indices, user_items)
        self.n_users_ = max(int(getattr(self, "n_users_", 0)), user_items.shape[0])
        return self

    def user_vectors(self, rows: sp.csr_matrix) -> np.ndarray:
        """The users of ``rows`` (CSR, users x fitted items) in factor space, (len(rows), rank_):
        ``(weigh(x) D^-1) V diag(f)``; scores are these times ``output_factors_.T``."""
        self._check_fitted()
        return np.asarray(self.weigh_rows(self._check_matrix(rows)) @ self.input_factors_)

    def __setstate__(self, state: dict) -> None:
        """Models saved before the shrinkage (plain PureSVD, with ``beta``) score as they did."""
        if "item_factors_" in state and "input_factors_" not in state:
            factors = state["item_factors_"]
            state = {
                "reg": 0.0,
                "popularity_reg": 0.0,
                "reg_grid": REG_GRID,
                "popularity_reg_grid": POPULARITY_REG_GRID,
                "reg_": 0.0,
                "popularity_reg_": 0.0,
                **state,
                "input_factors_": factors,
                "output_factors_": factors,
            }
        self.__dict__.update(state)

    @staticmethod
    def _grid(name: str, value: Any, grid: tuple[float, ...]) -> list[float]:
        if value in AUTO:
            return [float(check_number(name, v, 0.0)) for v in grid]
        return [float(check_number(name, value, 0.0))]

    def fit_weighting(self, user_items: sp.csr_matrix) -> None:
        """Learn what ``weigh_rows`` needs from the fit matrix: bm25's item idf and mean user
        length (kept for every weighting, so the model can be re-weighed later)."""
        users_per_item = np.bincount(user_items.indices, minlength=user_items.shape[1])
        self.idf_ = np.log1p(user_items.shape[0] / (1.0 + users_per_item)).astype(np.float32)
        self.mean_user_length_ = float(np.diff(user_items.indptr).mean()) or 1.0

    def weigh_rows(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """A weighted copy of ``rows`` (users x items), by this model's ``weighting``; rows are
        independent of each other, so blocks of a matrix can be weighed apart (on a cluster)."""
        out = weigh(rows, self.weighting)
        if self.weighting == "bm25":
            k1, b = float(self.bm25_k1), float(self.bm25_b)
            length = np.repeat(np.diff(out.indptr), np.diff(out.indptr)).astype(np.float32)
            norm = k1 * (1.0 - b + b * length / self.mean_user_length_)
            out.data = out.data * (k1 + 1.0) / (out.data + norm) * self.idf_[out.indices]
        return out

    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self.weigh_rows(rows) @ self.input_factors_) @ self.output_factors_.T

    def _item_similarity(self, item_index: int) -> np.ndarray:
        unit = self._unit_factors()
        return unit @ unit[item_index]

    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        return pair_dots(self._unit_factors(), items, others)

    def similarity_vectors(self) -> np.ndarray:
        return self._unit_factors()

    def _unit_factors(self) -> np.ndarray:
        """The item factors scaled by the singular values, each row of length 1 (float32),
        computed once per fitted model (not saved: rebuilt on first use after loading)."""
        factors = self.item_factors_
        cached = self.__dict__.get("_unit")
        if cached is None or cached[0] is not factors:
            cached = (factors, unit_rows(factors * self.singular_values_))
            self.__dict__["_unit"] = cached
        return cached[1]

    def factor_form(self, user_indices: np.ndarray, user_items: sp.csr_matrix):
        """``score`` as a product: the users' vectors (``user_vectors``), the output factors,
        and those by length (built once per fitted model, not saved), for ``bounded_top_n``."""
        self._check_fitted()
        user_items = self._check_matrix(user_items)
        users = self._check_users(user_indices, user_items)
        outputs = self.output_factors_
        cached = self.__dict__.get("_ranked")
        if cached is None or cached[0] is not outputs:
            cached = (outputs, NormOrder.of(outputs))
            self.__dict__["_ranked"] = cached
        vectors = np.asarray(self.weigh_rows(user_items[users]) @ self.input_factors_)
        return vectors.astype(np.float32, copy=False), outputs, cached[1]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_unit", None)
        state.pop("_ranked", None)
        return state

    def _contributions(
        self, history: np.ndarray, weights: np.ndarray, item_index: int
    ) -> np.ndarray:
        row = sp.csr_matrix((weights, history, [0, len(history)]), shape=(1, self.n_items_))
        weighted = self.weigh_rows(row).data
        return weighted * (self.input_factors_[history] @ self.output_factors_[item_index])

    def _rank_grid(self, max_rank: int, shape: tuple[int, int] | None = None) -> list[int]:
        """The ranks to try: ``rank_grid`` up to n_items / ``ITEMS_PER_RANK`` and to where the
        dense work of an SVD, (n_users + n_items) x rank^2, reaches ``RANK_BUDGET``; at least the
        smallest, and ranks 2 and 4 on a matrix too small for the grid."""
        n_users, n_items = shape or (self.n_users_, self.n_items_)
        small = SMALL_RANKS if max_rank < 2 * min(self.rank_grid) else ()
        budget = np.sqrt(RANK_BUDGET / (n_users + n_items))
        limit = min(n_items // ITEMS_PER_RANK, budget)
        limit = max(min(self.rank_grid), limit)
        grid = {min(int(k), max_rank) for k in (*small, *self.rank_grid) if k <= limit}
        return sorted(grid)

    def _validate(
        self, user_items: sp.csr_matrix, ranks: list[int], regs: list[float], pops: list[float], rng
    ) -> dict[tuple[int, float, float], float]:
        """NDCG@10 of the held-out interactions for every (rank, reg, popularity_reg)."""
        fraction = check_number("validation_fraction", self.validation_fraction, 0.01, 0.9)
        n_val = check_number("validation_users", self.validation_users, 1, integer=True)
        n_val = min(n_val, max(100, int(VALIDATION_CELLS // self.n_items_)))
        train, users, held = holdout_split(user_items, fraction, n_val, rng)
        if not len(users):
            raise NotEnoughDataError(
                "Choosing the rank or regularisation needs users with at least 2 interactions to "
                "hold some out; found none. Give rank, reg and popularity_reg (e.g. rank=16, "
                "reg=0, popularity_reg=0) or load more events."
            )
        weighted = self.weigh_rows(train)
        rows = weighted[users]
        results: dict[tuple[int, float, float], float] = {}
        with ThreadPoolExecutor(max_workers=min(WORKERS, len(regs))) as pool:
            for pop in pops:
                factors = Factors.fit(weighted, max(ranks), pop, self.n_iter, rng)
                runs = pool.map(
                    lambda reg, f=factors, r=rows: f.validate(r, held, ranks, reg), regs
                )
                for reg, scores in zip(regs, runs, strict=True):
                    for rank, score in scores.items():
                        results[(rank, reg, pop)] = score
        return results


def warm_iterations(n_iter: int) -> int:
    """Power iterations of an SVD started from the vectors of a similar matrix: half of
    ``n_iter``, at least 1."""
    return max(1, int(n_iter) // 2)


def best_setting(scores: dict[tuple[str, int, float, float], float]) -> tuple:
    """The best ``(weighting, rank, reg, popularity_reg)`` of ``SVDRecommender.search``'s
    scores; ties go to the smaller rank, the larger reg and the smaller popularity_reg."""
    return max(scores, key=lambda key: (scores[key], -key[1], key[2], -key[3]))


def _fit_here(user_items: sp.csr_matrix) -> Callable[..., Factors]:
    """``SVDRecommender.search``'s default ``fit``: ``Factors.fit`` of ``user_items`` weighed by
    the weigher; the weighed matrices of the last ``WEIGHED_KEPT`` weightings are kept, for the
    fits of one weighting side by side and of two weightings side by side."""
    weighed: dict[str, sp.csr_matrix] = {}
    lock = threading.Lock()

    def fit(weigher, rank, popularity_reg, n_iter, rng, start) -> Factors:
        with lock:
            if weigher.weighting not in weighed:
                if len(weighed) >= WEIGHED_KEPT:
                    del weighed[next(iter(weighed))]
                weighed[weigher.weighting] = weigher.weigh_rows(user_items)
            matrix = weighed[weigher.weighting]
        return Factors.fit(matrix, rank, popularity_reg, n_iter, rng, start)

    return fit


class Factors:
    """The SVD of the column-scaled matrix ``X D^-1``: ``vectors`` V (n_items, rank), ``values``
    s (in units of sqrt(m)) and ``scale`` D (n_items,)."""

    def __init__(self, vectors: np.ndarray, values: np.ndarray, scale: np.ndarray) -> None:
        self.vectors, self.values, self.scale = vectors, values, scale
        self._ranked: dict[int, tuple[np.ndarray, NormOrder]] = {}  # see ranked()

    @classmethod
    def fit(
        cls,
        weighted: sp.csr_matrix,
        rank: int,
        popularity_reg: float,
        n_iter: int,
        rng,
        start: np.ndarray | None = None,
    ) -> Factors:
        norms = np.asarray(weighted.multiply(weighted).sum(axis=0), dtype=np.float64).ravel()
        scale, columns = cls.column_scaling(norms, popularity_reg)
        scaled = (weighted @ sp.diags(columns)).tocsr().astype(np.float32)
        values, vectors = truncated_svd(scaled, rank, int(n_iter), rng, start=start)
        return cls(vectors, values, scale)

    @staticmethod
    def column_scaling(norms: np.ndarray, popularity_reg: float) -> tuple[np.ndarray, np.ndarray]:
        """From the squared column norms of the weighted matrix: the popularity ``scale`` D and
        the factor each column is multiplied by before the SVD (float32, n_items each)."""
        mean = float(norms[norms > 0].mean()) if (norms > 0).any() else 1.0
        scale = np.sqrt(1.0 + popularity_reg * norms / mean).astype(np.float32)
        return scale, (1.0 / (scale * np.sqrt(mean))).astype(np.float32)

    def shrinkage(self, reg: float) -> np.ndarray:
        squared = self.values.astype(np.float64) ** 2
        return (
            (squared / (squared + reg)).astype(np.float32) if reg > 0 else np.ones_like(self.values)
        )

    def search(
        self, rows: sp.csr_matrix, held: sp.csr_matrix, ranks: list[int], regs: list[float], pool
    ) -> dict[tuple[int, float], float]:
        """NDCG@10 of ``held`` by coordinate search: every rank at the middle ``reg`` (one pass
        of truncations), then the other regs at the best of those ranks; each pass scores slices
        of the users side by side in ``pool``."""
        middle = regs[len(regs) // 2]
        sweep = self.validate(rows, held, ranks, middle, pool)
        best = max(sweep, key=lambda rank: (sweep[rank], -rank))
        found = {(rank, middle): score for rank, score in sweep.items()}
        for reg in regs:
            if reg != middle:
                found[(best, reg)] = self.validate(rows, held, [best], reg, pool)[best]
        return found

    def validate(
        self,
        rows: sp.csr_matrix,
        held: sp.csr_matrix,
        ranks: list[int],
        reg: float,
        pool: ThreadPoolExecutor | None = None,
    ) -> dict[int, float]:
        """NDCG@10 of ``held`` for the histories ``rows`` at each rank (truncations of this SVD);
        with ``pool``, the users' lists are made in one slice per worker, side by side."""
        n = min(VALIDATION_K, len(self.scale))
        for k in ranks:  # made here once, not by each slice's thread at the same time
            self.ranked(k)
        if pool is None or rows.shape[0] < 2 * WORKERS:
            lists = [self.top_lists(rows, ranks, reg, n)]
        else:
            bounds = np.linspace(0, rows.shape[0], WORKERS + 1).astype(int)
            parts = [rows[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
            lists = list(pool.map(lambda part: self.top_lists(part, ranks, reg, n), parts))
        return {k: ndcg_at_k(np.vstack([found[k] for found in lists]), held, n) for k in ranks}

    def top_lists(
        self, rows: sp.csr_matrix, ranks: list[int], reg: float, n: int
    ) -> dict[int, np.ndarray]:
        """The top ``n`` unseen items (columns) of the histories ``rows`` at each rank, by the
        norm bound (``bounded_top_n``: exact, without scoring most of the catalogue)."""
        f = self.shrinkage(reg)
        projected = np.asarray(rows @ (self.vectors / self.scale[:, None])) * f
        seen = rows.nonzero()
        lists = {}
        for k in ranks:
            items, order = self.ranked(k)
            lists[k], _ = bounded_top_n(
                np.ascontiguousarray(projected[:, :k]), items, order, n, seen
            )
        return lists

    def ranked(self, k: int) -> tuple[np.ndarray, NormOrder]:
        """The output factors ``D V`` at rank ``k`` (n_items, k) and their ``NormOrder``, made
        once per rank: every validation pass and every shrinkage reuses them."""
        found = self._ranked.get(k)
        if found is None:
            items = np.ascontiguousarray(self.vectors[:, :k] * self.scale[:, None])
            found = self._ranked.setdefault(k, (items, NormOrder.of(items)))
        return found


def truncated_svd(
    matrix: sp.csr_matrix,
    rank: int,
    n_iter: int,
    rng,
    oversample: int = OVERSAMPLE,
    start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``rank`` singular values and right singular vectors (n_cols, rank) of ``matrix``.

    Randomized subspace iteration on ``X^T X`` (Halko et al.) in float32; each step is
    re-orthonormalised through the eigendecomposition of its small Gram matrix, and a final
    Rayleigh-Ritz step gives the vectors. Only sparse products and l x l dense work (l = rank +
    oversample), which keeps it fast where dense LAPACK on tall matrices is slow. ``X^T X Q`` is
    summed over blocks of ``SVD_BLOCK_ROWS`` rows (``row_blocks``), as the Spark engine sums it
    over its partitions: only one block's (rows x l) product is held at a time, not the whole
    (n_rows x l) one, which two SVDs side by side would each fault in afresh. ``start``
    (n_cols, <= l), e.g. the vectors of a similar matrix, seeds the subspace; random columns fill
    it up to l.
    """
    basis = start_basis(matrix.shape[1], min(rank + oversample, matrix.shape[1]), rng, start)
    blocks = row_blocks(matrix)
    for _ in range(max(0, n_iter)):
        normal = np.zeros_like(basis)  # X^T X Q, (n_cols, l)
        for block in blocks:
            normal += block.T @ np.asarray(block @ basis)
        basis = orthonormalise(normal)
    gram = np.zeros((basis.shape[1], basis.shape[1]), dtype=np.float64)
    for block in blocks:
        gram += gram_of(np.asarray(block @ basis))
    return ritz(gram, basis, rank)


def row_blocks(matrix: sp.csr_matrix, rows: int = SVD_BLOCK_ROWS) -> list[sp.csr_matrix]:
    """``matrix`` (CSR) as consecutive blocks of at most ``rows`` rows that share its data and
    column indices (no copy)."""
    blocks = []
    for lo in range(0, matrix.shape[0], rows):
        hi = min(lo + rows, matrix.shape[0])
        first, last = matrix.indptr[lo], matrix.indptr[hi]
        blocks.append(
            sp.csr_matrix(
                (
                    matrix.data[first:last],
                    matrix.indices[first:last],
                    matrix.indptr[lo : hi + 1] - first,
                ),
                shape=(hi - lo, matrix.shape[1]),
                copy=False,
            )
        )
    return blocks


def gram_of(block: np.ndarray, rows: int = GRAM_ROWS) -> np.ndarray:
    """``block.T @ block`` in float64 for a tall float32 ``block``, summed over slices of
    ``rows`` rows: a float64 copy of one slice at a time instead of the whole block."""
    gram = np.zeros((block.shape[1], block.shape[1]), dtype=np.float64)
    for lo in range(0, block.shape[0], rows):
        part = block[lo : lo + rows].astype(np.float64)
        gram += part.T @ part
    return gram


def start_basis(n_cols: int, width: int, rng, start: np.ndarray | None = None) -> np.ndarray:
    """The orthonormal starting block (n_cols, width) of the subspace iteration: random normal
    columns, the first ones taken from ``start`` when given."""
    seeded = 0 if start is None else min(start.shape[1], width)
    block = np.empty((n_cols, width), dtype=np.float32)
    block[:, seeded:] = rng.standard_normal((n_cols, width - seeded))
    if seeded:
        block[:, :seeded] = start[:, :seeded]
    return orthonormalise(block)


def ritz(gram: np.ndarray, basis: np.ndarray, rank: int) -> tuple[np.ndarray, np.ndarray]:
    """The Rayleigh-Ritz step: from ``gram``, the (l x l) Gram matrix of ``X basis``, the top
    ``rank`` singular values of X (float32) and its right singular vectors (n_cols, rank)."""
    values, vectors = np.linalg.eigh(gram)
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
