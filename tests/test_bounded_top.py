"""The norm-bounded top-n (the SVD's lists) equals the top-n of every score."""

from __future__ import annotations

import numpy as np
import pytest

from personalization.recommendation.models.base import top_n
from personalization.recommendation.models.bounded import NormOrder, bounded_top_n


def _full(users, items, n, removed, banned):
    scores = (users @ items.T).astype(np.float32)
    if removed is not None:
        scores[removed] = -np.inf
    if banned is not None:
        scores[:, banned] = -np.inf
    return top_n(scores, n)


@pytest.mark.parametrize("seed", range(4))
def test_bounded_lists_equal_the_full_ones(seed):
    rng = np.random.default_rng(seed)
    n_items = 3000
    # small whole numbers: every product is exact in float32, so ties are real ties whatever
    # shape of product computes them (BLAS may round identical columns differently otherwise)
    popularity = rng.zipf(1.5, n_items).clip(max=50)[:, None]
    items = (rng.integers(-3, 4, (n_items, 16)) * popularity).astype(np.float32)
    items[::7] = items[3]  # ties: equal vectors give equal scores, decided by column
    users = rng.integers(-3, 4, (400, 16)).astype(np.float32)
    users[0] = 0  # every score 0: the first columns left
    users[1] = -users[1]
    owner = rng.integers(0, 400, 5000)
    removed = (owner, rng.integers(0, n_items, 5000))
    banned = rng.random(n_items) < 0.01
    ranked = NormOrder.of(items)
    for n in (1, 10, 50):
        for args in ((None, None), (removed, banned)):
            got = bounded_top_n(users, items, ranked, n, *args)
            want = _full(users, items, n, *args)
            assert np.array_equal(got[0], want[0])
            assert np.array_equal(got[1], want[1])


def test_more_than_the_catalogue_pads_as_top_n_does():
    items = np.eye(5, dtype=np.float32)
    users = np.ones((2, 5), dtype=np.float32)
    removed = (np.array([0, 0]), np.array([1, 2]))
    ids, scores = bounded_top_n(users, items, NormOrder.of(items), 8, removed)
    assert ids.tolist() == [[0, 3, 4, -1, -1], [0, 1, 2, 3, 4]]
    assert np.isinf(scores[0, 3:]).all()
