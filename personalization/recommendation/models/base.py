"""The interface every recommender shares, with input checks and the shared top-N machinery.

Data convention (as in ``implicit``): ``user_items`` is a CSR matrix, users x items, of positive
weights; results are ``(ids, scores)`` pairs of item column indices and scores, best first.

A subclass implements ``_fit`` (learn from the checked matrix), ``_score`` (dense scores for some
rows of a user x item matrix, so that a new or updated history is folded in without refitting),
``_item_similarity`` (one item against every item) and ``_pair_similarity`` (item pairs, in the
terms its class attribute ``similarity_kind`` names, one of ``SIMILARITY_KINDS``: "taste" for
latent factors, "content" for item attributes, "neighbours" for learned item-item weights,
"co-occurrence" for the cosine of the items' user columns). ``recommend``, ``similar_items``,
``item_similarity`` and ``explain`` are built on them here: ``recommend`` scores users in blocks
of about ``BLOCK_CELLS`` cells (small enough to stay in cache) as float32, sets the seen items to ``-inf``
through the CSR indices and selects the top ``n`` with one pass over the block (``top_n``), with
no Python loop per user; a model whose scores are dot products (``factor_form``: the SVD) skips
most of them, ranking by the norm bound of ``bounded.bounded_top_n``. Users with no history, and
models whose scores are the same for everyone (popularity, trending), skip the dense block: the
catalogue is ordered once and each user takes the first ``n`` items of that order that they have
not seen (``top_global``).

``n`` larger than the catalogue is capped: ``recommend`` returns at most ``n_items`` items (fewer
when ``filter_seen`` or ``exclude`` remove some). For one user the arrays hold only the items that
remain; for an array of users the 2-D result is padded with item ``-1`` and score ``-inf``.
A user with no history gets the most popular items.

Threads: BLAS runs single-threaded inside ``fit`` and ``recommend`` (``config.blas_threads()``,
override with ``$PERSONALIZATION_BLAS_THREADS``) because OpenBLAS threads that spin on a busy
machine make the small dense steps many times slower; ``recommend`` instead scores blocks of
users in ``WORKERS`` Python threads (numpy releases the GIL in products and ``argpartition``).
"""

from __future__ import annotations

import inspect
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from numpy.lib.stride_tricks import as_strided
from threadpoolctl import threadpool_limits

from personalization import config
from personalization.errors import BadInputError

BLOCK_CELLS = 1 << 22
PAIR_GRID_FROM = 4096
PAIR_GRID_CELLS = 1 << 25
PAIR_DECIMALS = 5
SIMILARITY_KINDS = ("taste", "content", "neighbours", "co-occurrence")
NEIGHBOURS = 30
VALIDATION_K = 10
WORKERS = max(1, min(4, os.cpu_count() or 1))


class Recommender(ABC):
    """Abstract base of every recommender; see the module docstring for the conventions."""

    similarity_kind: str
    dot_product_scores = False  # True: scores are user vectors . item vectors (factor_form)
    """What ``item_similarity`` measures, one of ``SIMILARITY_KINDS``."""

    def fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any = None,
        user_features: Any = None,
        age_days: sp.csr_matrix | None = None,
    ) -> Self:
        """Learn from ``user_items`` (CSR, users x items, weights >= 0); return ``self``.

        ``item_features`` / ``user_features`` (rows aligned with the columns / rows of
        ``user_items``) are used by the models that take them (content, hybrid) and ``age_days``
        (CSR with the shape and non-zeros of ``user_items``: the age in days of each pair's latest
        event, ``Interactions.age_days``) by the ones that weigh recency (trending); the others
        ignore them. Raises ``BadInputError`` for a matrix that is not CSR, empty or negative,
        and for ``age_days`` that does not match it.
        """
        user_items = check_user_items(user_items)
        if user_items.nnz == 0:
            raise BadInputError(
                "user_items has no interactions; load events (or lower the minimums) before fitting."
            )
        age_days = check_age_days(age_days, user_items)
        self.n_users_, self.n_items_ = user_items.shape
        self.item_popularity_ = np.asarray(user_items.sum(axis=0), dtype=np.float32).ravel()
        with threadpool_limits(limits=config.blas_threads()):
            self._fit(user_items, item_features, user_features, age_days)
        return self

    @abstractmethod
    def _fit(
        self,
        user_items: sp.csr_matrix,
        item_features: Any,
        user_features: Any,
        age_days: sp.csr_matrix | None,
    ) -> None:
        """Set the learned attributes from a checked, non-empty matrix."""

    @abstractmethod
    def _score(self, user_indices: np.ndarray, rows: sp.csr_matrix) -> np.ndarray:
        """Scores (len(user_indices), n_items) of the users whose histories are ``rows``."""

    @abstractmethod
    def _item_similarity(self, item_index: int) -> np.ndarray:
        """Similarity (n_items,) of every item to ``item_index``; higher is more similar."""

    @abstractmethod
    def _pair_similarity(self, items: np.ndarray, others: np.ndarray) -> np.ndarray:
        """``item_similarity`` of checked index arrays of one length."""

    def similarity_vectors(self) -> np.ndarray | None:
        """Dense item vectors (n_items, d) whose dot products are ``item_similarity`` (for
        ``history_similarity``), or None where the similarity is not such a product."""
        return None

    def _contributions(
        self, history: np.ndarray, weights: np.ndarray, item_index: int
    ) -> np.ndarray:
        """How much each history item adds to the score of ``item_index`` (default: weight x sim)."""
        return weights * self._item_similarity(item_index)[history]

    def score(self, user_indices: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Scores (len(user_indices), n_items), float32, of the rows ``user_indices`` of ``user_items``.

        A row may be a user the model has not seen or one whose history changed since ``fit``;
        models that fold histories in score it from ``user_items`` as given.
        """
        self._check_fitted()
        user_items = self._check_matrix(user_items)
        users = self._check_users(user_indices, user_items)
        return np.asarray(self._score(users, user_items[users]), dtype=np.float32)

    def factor_form(self, user_indices: np.ndarray, user_items: sp.csr_matrix):
        """``score`` as ``(user vectors, item vectors, their NormOrder)``, for a model whose
        ``dot_product_scores`` is True: ``bounded_top_n`` then ranks without computing most of
        the scores."""
        raise NotImplementedError(f"{type(self).__name__} scores are not dot products")

    def recommend(
        self,
        user_index: int | np.ndarray,
        user_items: sp.csr_matrix,
        n: int = 10,
        filter_seen: bool = True,
        exclude: np.ndarray | Sequence[int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` item indices and scores, best first, for one user or an array of users.

        ``filter_seen`` removes the items of the user's row of ``user_items``; ``exclude`` (item
        indices) removes items for everyone. One user gives 1-D arrays; an array gives 2-D arrays
        (len(users), n) padded with ``-1`` / ``-inf`` where fewer items remain.
        """
        self._check_fitted()
        user_items = self._check_matrix(user_items)
        single = np.ndim(user_index) == 0
        users = self._check_users(user_index, user_items)
        n = check_n(n, self.n_items_)
        banned = self._exclude_mask(exclude)
        ids = np.full((len(users), n), -1, dtype=np.int64)
        scores = np.full((len(users), n), -np.inf, dtype=np.float32)
        step = max(1, BLOCK_CELLS // self.n_items_)
        starts = range(0, len(users), step)
        shared = self._global_scores()
        orders = {
            "cold": rank_order(self.item_popularity_),
            "shared": None if shared is None else rank_order(shared),
        }

        def run(start: int) -> None:
            block = users[start : start + step]
            ids[start : start + step], scores[start : start + step] = self._top_block(
                block, user_items[block], n, filter_seen, banned, orders
            )

        with threadpool_limits(limits=config.blas_threads()):
            if len(starts) > 1 and WORKERS > 1:
                with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                    list(pool.map(run, starts))
            else:
                for start in starts:
                    run(start)
        if single:
            keep = ids[0] >= 0
            return ids[0][keep], scores[0][keep]
        return ids, scores

    def similar_items(self, item_index: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``n`` items most similar to ``item_index`` (never the item itself), best first."""
        self._check_fitted()
        item = self._check_item(item_index)
        n = check_n(n, max(1, self.n_items_ - 1))
        sims = np.asarray(self._item_similarity(item), dtype=np.float32).copy()
        sims[item] = -np.inf
        ids, scores = top_n(sims[None, :], n)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def item_similarity(
        self, items: np.ndarray | Sequence[int], others: np.ndarray | Sequence[int]
    ) -> np.ndarray:
        """How alike each pair ``(items[i], others[i])`` is, float32 (len(items),), in the terms
        of ``similarity_kind``: the cosine of the items' factors ("taste", -1..1), of their
        attributes ("content", 0..1) or of their user columns ("co-occurrence", 0..1), or the
        learned weight of ``others[i]`` in the score of ``items[i]`` ("neighbours", >= 0).
        Kinds that keep only each item's nearest items give 0 for the rest. Vectorised over
        pairs (e.g. recommended items against a user's history items); 0 pairs give an empty array.
        """
        self._check_fitted()
        items, others = self._check_items(items), self._check_items(others, "others")
        if len(items) != len(others):
            raise BadInputError(
                f"items and others must pair up one to one; got {len(items)} and {len(others)}."
            )
        if len(items) == 0:
            return np.zeros(0, dtype=np.float32)
        return np.asarray(self._pair_similarity(items, others), dtype=np.float32).ravel()

    def history_similarity(
        self, rows: np.ndarray, items: np.ndarray, pair: np.ndarray, others: np.ndarray
    ) -> np.ndarray:
        """``item_similarity(items[pair], others)`` for the history entries of lists: ``pair``
        (ascending) is the pair (a list's ``rows[i]``, ``items[i]``) each entry belongs to, and
        the entries of the pairs of one row are that row's history, the same items in the same
        order (``reasons.row_entries``). Where the similarity is a dot product of item vectors,
        each history is multiplied by all its row's items at once (``history_dots``)."""
        vectors = self.similarity_vectors()
        if vectors is None or len(pair) == 0:
            return self.item_similarity(np.asarray(items)[pair], others)
        self._check_fitted()
        items, others = self._check_items(items), self._check_items(others, "others")
        return history_dots(vectors, np.asarray(rows), items, np.asarray(pair), others)

    def explain(
        self, user_index: int, user_items: sp.csr_matrix, item_index: int, n: int = 3
    ) -> list[tuple[int, float]]:
        """The history items that drove the score of ``item_index`` for the user, as
        ``(item index, contribution)`` with the largest positive contributions first (at most
        ``n``; empty when the user has no history or nothing in it relates to the item)."""
        self._check_fitted()
        user_items = self._check_matrix(user_items)
        user = int(self._check_users(user_index, user_items)[0])
        item = self._check_item(item_index)
        row = user_items[user]
        history, weights = row.indices, row.data.astype(np.float64)
        if len(history) == 0:
            return []
        contrib = np.asarray(self._contributions(history, weights, item), dtype=np.float64)
        contrib[history == item] = 0.0
        order = np.argsort(-contrib, kind="stable")[: max(0, int(n))]
        return [(int(history[j]), float(contrib[j])) for j in order if contrib[j] > 0]

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters and their current values (sklearn style)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def _global_scores(self) -> np.ndarray | None:
        """The scores (n_items,) when they are the same for every user, else None."""
        return None

    def _top_block(
        self, block, rows, n, filter_seen, banned, orders
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``n`` for one block of users: cold users (no history) and models whose scores are
        the same for everyone walk down one ordered catalogue; the others get one dense float32
        score block with seen items set to ``-inf`` through the CSR indices, then ``top_n``."""
        removed = rows if filter_seen else sp.csr_matrix(rows.shape, dtype=np.float32)
        cold = np.diff(rows.indptr) == 0
        ids = np.full((len(block), n), -1, dtype=np.int64)
        scores = np.full((len(block), n), -np.inf, dtype=np.float32)
        if cold.any():
            ids[cold], scores[cold] = top_global(
                self.item_popularity_, orders["cold"], removed[cold], n, banned
            )
        if cold.all():
            return ids, scores
        block, rows, removed = block[~cold], rows[~cold], removed[~cold]
        if orders["shared"] is not None:
            shared = self._global_scores()
            ids[~cold], scores[~cold] = top_global(shared, orders["shared"], removed, n, banned)
            return ids, scores
        if self.dot_product_scores:  # ranked by the norm bound, from few of the scores
            from personalization.recommendation.models.bounded import (  # it imports this module
                bounded_top_n,
            )

            form = self.factor_form(np.arange(len(block)), rows)
            owner = np.repeat(np.arange(len(block)), np.diff(removed.indptr))
            ids[~cold], scores[~cold] = bounded_top_n(*form, n, (owner, removed.indices), banned)
            return ids, scores
        matrix = np.asarray(self._score(block, rows), dtype=np.float32)
        if not matrix.flags.writeable or not matrix.flags.c_contiguous:
            matrix = np.array(matrix, dtype=np.float32)
        counts = np.diff(removed.indptr)
        owner = np.repeat(np.arange(len(block)) * self.n_items_, counts)
        matrix.ravel()[owner + removed.indices] = -np.inf
        if banned is not None:
            matrix[:, banned] = -np.inf
        ids[~cold], scores[~cold] = top_n(matrix, n)
        return ids, scores

    def _check_fitted(self) -> None:
        if not hasattr(self, "n_items_"):
            raise BadInputError(
                f"This {type(self).__name__} is not fitted yet; call fit(user_items) first."
            )

    def _check_matrix(self, user_items: sp.csr_matrix) -> sp.csr_matrix:
        user_items = check_user_items(user_items)
        if user_items.shape[1] != self.n_items_:
            raise BadInputError(
                f"user_items has {user_items.shape[1]} columns but the model was fitted on "
                f"{self.n_items_} items; use the matrix (and item ids) the model was trained with."
            )
        return user_items

    def _check_users(self, user_index, user_items: sp.csr_matrix) -> np.ndarray:
        users = np.atleast_1d(np.asarray(user_index))
        if users.ndim != 1 or not np.issubdtype(users.dtype, np.integer):
            raise BadInputError(
                f"user_index must be an integer row of user_items or a 1-D array of them; "
                f"got {user_index!r}."
            )
        n_rows = user_items.shape[0]
        bad = users[(users < 0) | (users >= n_rows)]
        if len(bad):
            raise BadInputError(
                f"user_index {int(bad[0])} is out of range; user_items has {n_rows} rows."
            )
        return users.astype(np.int64)

    def _check_item(self, item_index) -> int:
        if not isinstance(item_index, int | np.integer) or not 0 <= item_index < self.n_items_:
            raise BadInputError(
                f"item_index must be an integer in 0..{self.n_items_ - 1}; got {item_index!r}."
            )
        return int(item_index)

    def _check_items(self, items, name: str = "items") -> np.ndarray:
        array = np.asarray(items, dtype=np.int64).ravel()
        bad = array[(array < 0) | (array >= self.n_items_)]
        if len(bad):
            raise BadInputError(
                f"{name} holds item index {int(bad[0])}; item indices run 0..{self.n_items_ - 1}."
            )
        return array

    def _exclude_mask(self, exclude) -> np.ndarray | None:
        if exclude is None:
            return None
        items = self._check_items(exclude, "exclude")
        return items if len(items) else None


def check_user_items(user_items: Any) -> sp.csr_matrix:
    """``user_items`` as a float32 CSR matrix, or ``BadInputError`` with what is wrong."""
    if not sp.issparse(user_items) or user_items.format != "csr":
        raise BadInputError("user_items needs to be a CSR sparse matrix")
    matrix = sp.csr_matrix(user_items, dtype=np.float32)
    if matrix.nnz and not np.isfinite(matrix.data).all():
        raise BadInputError("user_items holds NaN or infinite values; weights must be finite.")
    if matrix.nnz and matrix.data.min() < 0:
        raise BadInputError(
            f"user_items holds negative weights (min {matrix.data.min():g}); weights must be >= 0."
        )
    if not matrix.has_sorted_indices:
        matrix = matrix.sorted_indices()
    return matrix


def check_age_days(age_days: Any, user_items: sp.csr_matrix) -> sp.csr_matrix | None:
    """``age_days`` as a CSR with sorted indices when it has the shape and the non-zeros of
    ``user_items`` (None stays None); else ``BadInputError``."""
    if age_days is None:
        return None
    if (
        not sp.issparse(age_days)
        or age_days.shape != user_items.shape
        or (age_days.nnz != user_items.nnz)
    ):
        raise BadInputError(
            "age_days must be a sparse matrix with the shape and non-zeros of user_items; "
            "pass Interactions.age_days from the same build_interactions call."
        )
    return sp.csr_matrix(age_days).sorted_indices()


def weigh(rows: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """A copy of ``rows`` with ``"log"`` (``log1p``) or ``"binary"`` (1 for any interaction)
    weights; any other ``weighting`` leaves the values as they are."""
    out = rows.copy()
    if weighting == "log":
        out.data = np.log1p(out.data)
    elif weighting == "binary":
        out.data = np.ones_like(out.data)
    return out


def check_n(n: Any, n_items: int) -> int:
    """``n`` as an int in 1..n_items: capped at the catalogue size, ``BadInputError`` below 1."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise BadInputError(f"n must be a whole number of items >= 1; got {n!r}.")
    return int(min(n, n_items))


def check_number(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    integer: bool = False,
) -> float | int:
    """A numeric parameter (numeric text accepted, as from ``--param``) within [low, high]."""
    kind = "an integer" if integer else "a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{name} must be {kind}; got {value!r}.") from None
    if integer and not number.is_integer():
        raise BadInputError(f"{name} must be {kind}; got {value!r}.")
    if (low is not None and number < low) or (high is not None and number > high):
        bounds = f">= {low:g}" if high is None else f"in {low:g}..{high:g}"
        raise BadInputError(f"{name} must be {kind} {bounds}; got {value!r}.")
    return int(number) if integer else number


def random_state(seed: Any) -> np.random.RandomState:
    """A ``RandomState`` for ``seed`` as scikit-learn's ``check_random_state`` makes it (None: a
    fresh unseeded one; an int: seeded; a ``RandomState``: itself), without importing
    scikit-learn, whose import would cost every command a second."""
    if isinstance(seed, np.random.RandomState):
        return seed
    if seed is None or isinstance(seed, int | np.integer):
        return np.random.RandomState(seed)
    raise BadInputError(f"random_state must be an integer or None; got {seed!r}.")


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise BadInputError(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def top_n(matrix: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``n`` largest entries of each row, best first, ties by
    column; entries equal to ``-inf`` (filtered items) come back as index ``-1``.

    One pass over the matrix: the columns are cut into strided groups (column ``j`` belongs to
    group ``j mod width``) and the row-wise maximum of each group is taken; the ``n``-th largest
    of those maxima is a lower bound of the ``n``-th largest entry, so only the entries of the
    groups that reach it are gathered and sorted (about ``n`` groups per row).
    """
    n_rows, n_cols = matrix.shape
    n = min(n, n_cols)
    matrix = np.ascontiguousarray(matrix)
    groups = max(1, n_cols // max(n, int(np.sqrt(5 * n * n_cols))))
    width = n_cols // groups
    main = groups * width
    size = matrix.itemsize
    view = as_strided(matrix, (n_rows, groups, width), (matrix.strides[0], width * size, size))
    maxima = view.max(axis=1)
    if main < n_cols:
        maxima = np.concatenate([maxima, matrix[:, main:]], axis=1)
    floor = np.partition(maxima, maxima.shape[1] - n, axis=1)[:, maxima.shape[1] - n]
    floor = np.maximum(floor, np.finfo(matrix.dtype).min)
    rows, slots = np.nonzero(maxima >= floor[:, None])
    grouped = slots < width
    group_rows = rows[grouped]
    cells = (group_rows * n_cols + slots[grouped])[:, None] + np.arange(groups) * width
    values = np.take(matrix.ravel(), cells)
    keep = values >= floor[group_rows][:, None]
    kept_rows = np.broadcast_to(group_rows[:, None], cells.shape)[keep]
    tail_rows, tail_cols = rows[~grouped], main + slots[~grouped] - width
    rows = np.concatenate([kept_rows, tail_rows])
    cols = np.concatenate([cells[keep] - kept_rows * n_cols, tail_cols])
    values = np.concatenate([values[keep], matrix[tail_rows, tail_cols]])
    return place_top(rows, cols, values, n_rows, n, matrix.dtype)


def place_top(rows, cols, values, n_rows: int, n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Padded (n_rows, n) ids and values of the best ``n`` candidates (row, col, value) of each
    row: by value, then column."""
    order = np.lexsort((cols, -values, rows))
    rows, cols, values = rows[order], cols[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    take = rank < n
    ids = np.full((n_rows, n), -1, dtype=np.int64)
    out = np.full((n_rows, n), -np.inf, dtype=dtype)
    ids[rows[take], rank[take]] = cols[take]
    out[rows[take], rank[take]] = values[take]
    return ids, out


def rank_order(vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The item order of ``vector`` (best first, ties by index) and each item's position in it."""
    order = np.lexsort((np.arange(len(vector)), -vector))
    position = np.empty(len(vector), dtype=np.int64)
    position[order] = np.arange(len(vector))
    return order, position


def top_global(
    vector: np.ndarray,
    ranked: tuple[np.ndarray, np.ndarray],
    removed: sp.csr_matrix,
    n: int,
    banned: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` of the same scores ``vector`` (n_items,) for every row of ``removed`` (CSR,
    rows x items), leaving out the row's stored items and ``banned``. ``ranked`` is
    ``rank_order(vector)``, computed once: each row walks down that order past its removed items,
    so the cost is rows x (n + removed)."""
    n_rows = removed.shape[0]
    order, position = ranked
    counts = np.diff(removed.indptr)
    n_banned = 0 if banned is None else len(banned)
    length = int(min(len(vector), n + n_banned + (counts.max() if n_rows else 0)))
    allowed = np.ones((n_rows, length), dtype=bool)
    seen = position[removed.indices]
    owner = np.repeat(np.arange(n_rows), counts)
    near = seen < length
    allowed[owner[near], seen[near]] = False
    if banned is not None:
        ban = position[banned]
        allowed[:, ban[ban < length]] = False
    rank = np.cumsum(allowed, axis=1) - 1
    hit_rows, hit_pos = np.nonzero(allowed & (rank < n))
    ids = np.full((n_rows, n), -1, dtype=np.int64)
    out = np.full((n_rows, n), -np.inf, dtype=np.float32)
    ids[hit_rows, rank[hit_rows, hit_pos]] = order[hit_pos]
    out[hit_rows, rank[hit_rows, hit_pos]] = vector[order[hit_pos]]
    return ids, out


def unit_rows(vectors: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """``vectors`` (items x dims, dense or sparse) with each row scaled to length 1, float32;
    all-zero rows stay zero."""
    if sp.issparse(vectors):
        vectors = sp.csr_matrix(vectors, dtype=np.float32)
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        inverse = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        return (sp.diags(inverse.astype(np.float32)) @ vectors).tocsr()
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def pair_dots(
    vectors: np.ndarray | sp.csr_matrix, items: np.ndarray, others: np.ndarray
) -> np.ndarray:
    """Dot product (float32, len(items), rounded to ``PAIR_DECIMALS``) of rows ``items[i]`` and
    ``others[i]`` of ``vectors``: for many pairs over few distinct items (an export block), one
    product of those items; else in blocks of about ``BLOCK_CELLS`` gathered cells."""
    if not sp.issparse(vectors) and len(items) >= PAIR_GRID_FROM:
        rows, at_row = _distinct(items, vectors.shape[0])
        cols, at_col = _distinct(others, vectors.shape[0])
        if len(rows) * len(cols) <= min(PAIR_GRID_CELLS, 64 * len(items)):
            # few distinct items on either side (an export block): one product of them is far
            # cheaper than gathering two vectors per pair
            grid = (
                np.asarray(vectors[rows], dtype=np.float32)
                @ np.asarray(vectors[cols], dtype=np.float32).T
            )
            return _rounded(grid[at_row, at_col])
    out = np.zeros(len(items), dtype=np.float32)
    step = max(1, BLOCK_CELLS // max(1, vectors.shape[1]))
    for start in range(0, len(items), step):
        a, b = vectors[items[start : start + step]], vectors[others[start : start + step]]
        if sp.issparse(vectors):
            out[start : start + step] = np.asarray(a.multiply(b).sum(axis=1)).ravel()
        else:
            out[start : start + step] = np.einsum("ij,ij->i", a, b)
    return _rounded(out)


def history_dots(
    vectors: np.ndarray, rows: np.ndarray, items: np.ndarray, pair: np.ndarray, others: np.ndarray
) -> np.ndarray:
    """``pair_dots(vectors, items[pair], others)`` for history entries: ``pair`` (ascending) gives
    the pair of each entry, and the entries of every pair whose ``rows`` value is the same are
    that row's history, the same items in the same order (``reasons.row_entries``).

    Each row's history is gathered once and multiplied by the items of all its pairs in one small
    product, rows batched by history length (padded to a power of two, at most ``BLOCK_CELLS``
    gathered cells at a time): the work of the entries themselves, where ``pair_dots``' product
    of every distinct item with every distinct history item of an export block does some thirty
    times more and holds a 30 MB grid."""
    out = np.zeros(len(pair), dtype=np.float32)
    if len(pair) == 0:
        return out
    vectors = np.asarray(vectors, dtype=np.float32)
    starts = np.searchsorted(pair, np.arange(len(rows)))  # each pair's first entry
    lengths = np.diff(np.r_[starts, len(pair)])
    _, first, owner = np.unique(rows, return_index=True, return_inverse=True)
    owner = owner.ravel()
    counts = np.bincount(owner)
    by_owner = np.argsort(owner, kind="stable")  # pairs row by row, in their order
    slot = np.empty(len(rows), dtype=np.int64)  # each pair's place among its row's pairs
    slot[by_owner] = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    sizes, most = lengths[first], int(counts.max())

    def multiply(members: np.ndarray, width: int) -> None:
        """The entries of the rows ``members``, whose histories hold at most ``width`` items."""
        place = np.full(len(first), -1, dtype=np.int64)
        place[members] = np.arange(len(members))
        pairs = np.flatnonzero(place[owner] >= 0)
        steps = np.arange(width)
        inside = steps[None, :] < sizes[members][:, None]
        history = np.zeros((len(members), width), dtype=np.int64)
        history[inside] = others[(starts[first[members]][:, None] + steps[None, :])[inside]]
        chosen = np.zeros((len(members), most, vectors.shape[1]), dtype=np.float32)
        chosen[place[owner[pairs]], slot[pairs]] = vectors[items[pairs]]
        dots = np.matmul(chosen, vectors[history].transpose(0, 2, 1))  # (rows, most, width)
        found = dots[place[owner[pairs]], slot[pairs]]  # (pairs, width)
        kept = steps[None, :] < lengths[pairs][:, None]
        out[(starts[pairs][:, None] + steps[None, :])[kept]] = found[kept]

    widths = 1 << np.ceil(np.log2(np.maximum(sizes, 1))).astype(np.int64)
    for width in np.unique(widths):
        members = np.flatnonzero(widths == width)
        step = max(1, BLOCK_CELLS // (int(width) * vectors.shape[1]))
        for lo in range(0, len(members), step):
            multiply(members[lo : lo + step], int(width))
    return _rounded(out)


def _distinct(ids: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``ids`` (all in ``range(n)``), ascending, and each id's position
    among them: by marking, not sorting."""
    seen = np.zeros(n, dtype=bool)
    seen[ids] = True
    values = np.flatnonzero(seen)
    position = np.zeros(n, dtype=np.int64)
    position[values] = np.arange(len(values))
    return values, position[ids]


def _rounded(dots: np.ndarray) -> np.ndarray:
    """``dots`` rounded to ``PAIR_DECIMALS``, so that both ways of computing them (one product
    for a block, gathered pairs for a few) give the same reasons for the same pair."""
    return np.round(dots, PAIR_DECIMALS).astype(np.float32, copy=False)


def cooccurrence_neighbours(user_items: sp.csr_matrix, n: int = NEIGHBOURS) -> sp.csr_matrix:
    """Each item's ``n`` most co-occurring items (CSR, items x items): the cosine of the items'
    binary user columns, kept where positive, in blocks of about ``BLOCK_CELLS`` cells."""
    item_users = (user_items.T.tocsr() > 0).astype(np.float32)
    unit = unit_rows(item_users)
    n_items = user_items.shape[1]
    n = min(n, max(1, n_items - 1))
    step = max(1, BLOCK_CELLS // max(1, n_items))
    rows, cols, vals = [], [], []
    unit_t = unit.T.tocsr()
    for start in range(0, n_items, step):
        block = np.arange(start, min(n_items, start + step))
        sims = (unit[block] @ unit_t).toarray()
        sims[np.arange(len(block)), block] = -np.inf
        ids, values = top_n(sims, n)
        ok = (ids >= 0) & (values > 0)
        rows.append(np.repeat(block, n)[ok.ravel()])
        cols.append(ids[ok])
        vals.append(values[ok])
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_items, n_items),
    )


def cosine_similarity_to(vectors: np.ndarray | sp.spmatrix, item_index: int) -> np.ndarray:
    """Cosine similarity (n_items,) of every row of ``vectors`` to row ``item_index``."""
    if sp.issparse(vectors):
        vectors = sp.csr_matrix(vectors)
        dots = np.asarray((vectors @ vectors[item_index].T).todense()).ravel()
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    else:
        dots = vectors @ vectors[item_index]
        norms = np.linalg.norm(vectors, axis=1)
    denom = norms * norms[item_index]
    return np.divide(dots, denom, out=np.zeros(len(dots), dtype=np.float64), where=denom > 0)
