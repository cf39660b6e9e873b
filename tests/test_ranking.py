"""Splits, ranking metrics and cross-validation on tiny cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from personalization import evaluation
from personalization.errors import BadInputError, NotEnoughDataError


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    """Binary users x items matrix from each user's list of relevant items."""
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c), np.float32), (r, c)), shape=(len(rows), n_items))


# ---------------------------------------------------------------- metrics


def test_perfect_list_scores_one_everywhere():
    test = csr([[0, 1], [2, 3]], 5)
    m = evaluation.ranking_metrics(np.array([[1, 0], [3, 2]]), test, k=2)
    assert m == {
        "precision@2": 1.0,
        "recall@2": 1.0,
        "ndcg@2": 1.0,
        "map@2": 1.0,
        "hit_rate@2": 1.0,
        "mrr": 1.0,
    }


def test_known_values_for_one_user():
    # relevant {0, 2}; list [0, 1, 2]: hits at ranks 1 and 3
    test = csr([[0, 2]], 4)
    m = evaluation.ranking_metrics(np.array([[0, 1, 2]]), test, k=3)
    assert m["precision@3"] == pytest.approx(2 / 3)
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["map@3"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    dcg = 1 + 1 / math.log2(4)
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"] == pytest.approx(dcg / idcg)
    assert m["mrr"] == 1.0


def test_miss_then_hit_and_users_without_relevant_items_are_left_out():
    test = csr([[3], [], [9]], 10)
    recs = np.array([[1, 3], [0, 1], [4, 5]])
    m = evaluation.ranking_metrics(recs, test, k=2)
    assert m["hit_rate@2"] == pytest.approx(0.5)  # user 1 has nothing relevant: not counted
    assert m["mrr"] == pytest.approx((1 / 2 + 0) / 2)
    assert m["precision@2"] == pytest.approx((1 / 2) / 2)
    assert evaluation.ndcg_at_k(recs, test, k=2) == pytest.approx((1 / math.log2(3)) / 2)


def test_map_divides_by_min_of_k_and_relevant():
    test = csr([[0, 1, 2, 3, 4]], 6)
    assert evaluation.map_at_k(np.array([[0, 5]]), test, k=2) == pytest.approx(0.5)


def test_padding_counts_as_a_miss_and_users_select_rows():
    test = csr([[7], [2]], 8)
    recs = np.array([[2, -1]])
    assert evaluation.precision_at_k(recs, test, k=2, users=np.array([1])) == pytest.approx(0.5)
    assert evaluation.recall_at_k(recs, test, k=2, users=np.array([0])) == 0.0


def test_empty_input_returns_zero():
    test = csr([[], []], 3)
    assert evaluation.ranking_metrics(np.array([[0], [1]]), test) == dict.fromkeys(
        ["precision@1", "recall@1", "ndcg@1", "map@1", "hit_rate@1", "mrr"], 0.0
    )
    assert evaluation.catalog_coverage(np.empty((0, 0)), 5) == 0.0
    assert evaluation.novelty(np.empty((0, 3)), test) == 0.0


def test_hits_marks_relevant_places():
    test = csr([[1], [0, 2]], 3)
    out = evaluation.hits(np.array([[1, 0], [1, 2]]), test)
    assert out.tolist() == [[True, False], [False, True]]


def test_coverage_and_novelty():
    assert evaluation.catalog_coverage(np.array([[0, 1], [1, -1]]), 4) == 0.5
    train = csr([[0, 1], [0], [0], [0]], 3)  # item 0: 4 of 4 users, item 1: 1 of 4, item 2: none
    assert evaluation.novelty(np.array([[0]]), train) == 0.0
    assert evaluation.novelty(np.array([[1]]), train) == pytest.approx(2.0)
    assert evaluation.novelty(np.array([[2]]), train) == pytest.approx(2.0)  # counted as once


def test_diversity_zero_for_identical_items_one_for_orthogonal():
    vectors = sp.csr_matrix(np.array([[1.0, 0], [2.0, 0], [0, 1.0]]))
    assert evaluation.intra_list_diversity(np.array([[0, 1]]), vectors) == pytest.approx(0.0)
    assert evaluation.intra_list_diversity(np.array([[0, 2]]), vectors) == pytest.approx(1.0)
    assert evaluation.intra_list_diversity(np.array([[0, 1, 2]]), vectors) == pytest.approx(2 / 3)
    assert evaluation.intra_list_diversity(np.array([[0, -1]]), vectors) == 0.0


def summed_vectors_diversity(recs: np.ndarray, vectors: sp.csr_matrix) -> float:
    """The former formula: ``|sum of a list's unit vectors|^2`` minus the self-similarities,
    through a lists x features product (kept here as the reference)."""
    norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
    unit = sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ vectors
    size = (recs >= 0).sum(axis=1)
    keep = size >= 2
    if not keep.any():
        return 0.0
    recs, size = recs[keep], size[keep]
    rows = np.repeat(np.arange(len(recs)), recs.shape[1])
    flat = recs.ravel()
    ok = flat >= 0
    picks = sp.csr_matrix(
        (np.ones(ok.sum()), (rows[ok], flat[ok])), shape=(len(recs), vectors.shape[0])
    )
    summed = picks @ unit
    self_sim = np.asarray(picks @ (norms > 0).astype(float)).ravel()
    pair_sum = np.asarray(summed.multiply(summed).sum(axis=1)).ravel() - self_sim
    return float(np.clip(1.0 - pair_sum / (size * (size - 1)), 0.0, 1.0).mean())


@pytest.mark.parametrize("seed", range(8))
def test_diversity_from_the_gram_matrix_equals_the_summed_vectors_formula(seed):
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(3, 60))
    vectors = sp.random(
        n_items, int(rng.integers(1, 30)), density=0.3, random_state=seed, format="csr"
    )
    recs = rng.integers(-1, n_items, size=(int(rng.integers(1, 40)), int(rng.integers(1, 8))))
    expected = summed_vectors_diversity(recs, sp.csr_matrix(vectors, dtype=np.float64))
    assert evaluation.intra_list_diversity(recs, vectors) == pytest.approx(expected, abs=1e-9)


def test_evaluate_recs_has_every_key():
    train = csr([[0], [1]], 3)
    test = csr([[2], [2]], 3)
    m = evaluation.evaluate_recs(np.array([[2, 1], [0, 2]]), test, train, k=2)
    assert set(m) == {
        "precision@2",
        "recall@2",
        "ndcg@2",
        "map@2",
        "hit_rate@2",
        "mrr",
        "coverage",
        "novelty",
        "diversity",
    }
    assert m["coverage"] == 1.0 and m["hit_rate@2"] == 1.0


def test_bad_recs_shape_is_bad_input():
    with pytest.raises(BadInputError, match="2-D"):
        evaluation.ranking_metrics(np.array([1, 2]), csr([[1]], 3))
    with pytest.raises(BadInputError, match="users="):
        evaluation.ranking_metrics(np.array([[1]]), csr([[1], [2]], 3))


# ---------------------------------------------------------------- splits


def events_frame() -> pd.DataFrame:
    rows = []
    for u in range(6):
        for i in range(5):
            rows.append(
                (
                    f"u{u}",
                    f"i{(u + i) % 7}",
                    pd.Timestamp("2024-01-01") + pd.Timedelta(days=u + 3 * i),
                )
            )
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


def test_random_matrix_split_has_no_leakage_and_keeps_everything():
    m = sp.random(30, 20, density=0.3, format="csr", random_state=1)
    train, test = evaluation.split_random(m, 0.25, seed=3)
    assert train.multiply(test).nnz == 0
    assert (train + test - m).count_nonzero() == 0
    assert 0.1 < test.nnz / m.nnz < 0.4


def test_holdout_split_holds_out_a_share_of_chosen_users_only():
    rng = np.random.default_rng(0)
    matrix = sp.csr_matrix((rng.random((50, 30)) < 0.3).astype(np.float32))
    counts = np.diff(matrix.indptr)
    train, users, held = evaluation.holdout_split(matrix, 0.25, 10, np.random.RandomState(0))
    assert len(users) == 10 and (np.diff(users) > 0).all() and (counts[users] >= 2).all()
    assert held.shape == (10, 30)
    held_counts = np.diff(held.indptr)
    assert (held_counts == np.maximum(1, np.floor(counts[users] * 0.25))).all()
    full = train.toarray()
    full[users] += held.toarray()
    np.testing.assert_array_equal(full, matrix.toarray())
    others = np.setdiff1d(np.arange(50), users)
    assert (train[others] != matrix[others]).nnz == 0


def test_kfold_each_cell_tested_once():
    m = sp.random(10, 10, density=0.5, format="csr", random_state=0)
    tests = [t for _, t in evaluation.kfold(m, folds=3, seed=0)]
    assert sum(t.nnz for t in tests) == m.nnz
    assert (sum(tests) - m).count_nonzero() == 0


def test_temporal_split_respects_cutoff():
    ev = events_frame()
    train, test = evaluation.split_temporal(ev, 0.3)
    assert train["timestamp"].max() < test["timestamp"].min()
    assert len(train) + len(test) == len(ev)


def test_temporal_split_without_timestamps_says_what_to_do():
    ev = events_frame().assign(timestamp=pd.NaT)
    with pytest.raises(NotEnoughDataError, match="--split random"):
        evaluation.split_temporal(ev)


def test_random_event_split_keeps_pairs_together():
    ev = pd.concat([events_frame()] * 2)
    train, test = evaluation.split_events(ev, "random", 0.4, seed=1)
    pairs = lambda f: set(zip(f["user_id"], f["item_id"], strict=True))  # noqa: E731
    assert not pairs(train) & pairs(test)
    assert len(test) > 0


def test_leave_last_takes_each_users_newest_items():
    ev = events_frame()
    train, test = evaluation.split_leave_last(ev, n=1)
    assert test.groupby("user_id").size().eq(1).all() and test["user_id"].nunique() == 6
    newest = ev.sort_values("timestamp").groupby("user_id").tail(1)
    assert set(zip(test.user_id, test.item_id, strict=False)) == set(
        zip(newest.user_id, newest.item_id, strict=False)
    )
    assert not set(zip(train.user_id, train.item_id, strict=False)) & set(
        zip(test.user_id, test.item_id, strict=False)
    )


def test_split_events_rejects_unknown_method_and_bad_size():
    with pytest.raises(BadInputError, match="random, temporal, leave-last"):
        evaluation.split_events(events_frame(), "weekly")
    with pytest.raises(BadInputError, match="between 0 and 1"):
        evaluation.split_random(sp.csr_matrix((2, 2)), 1.5)


def test_align_and_unseen_relevant():
    m = sp.csr_matrix(np.array([[1.0, 2.0], [3.0, 0.0]]))
    out = evaluation.align(
        m,
        np.array(["a", "b"]),
        np.array(["x", "y"]),
        np.array(["b", "c", "a"]),
        np.array(["y", "x"]),
    )
    assert out.toarray().tolist() == [[0, 3], [0, 0], [2, 1]]
    train = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert evaluation.unseen_relevant(m, train).toarray().tolist() == [[0, 1], [1, 0]]


# ---------------------------------------------------------------- cross-validation


def test_cross_validate_gives_mean_and_std():
    m = sp.random(8, 8, density=0.5, format="csr", random_state=0)
    seen = []
    out = evaluation.cross_validate(
        lambda tr, te: {"n": float(te.nnz)}, m, folds=4, progress=lambda f, msg: seen.append(f)
    )
    assert out["mean"]["n"] == pytest.approx(m.nnz / 4)
    assert out["std"]["n"] >= 0 and len(out["folds"]) == 4 and seen[-1] == 1.0
