"""Every recommender passes one contract on two disjoint blocks of users and items; then the
model-specific answers (SVD rank, EASE closed form, content and hybrid cold start)."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from personalization.errors import BadInputError
from personalization.recommendation.models import ALGORITHMS, make_recommender
from personalization.recommendation.models.base import SIMILARITY_KINDS, Recommender, top_n
from personalization.recommendation.models.ease import EASERecommender
from personalization.recommendation.models.hybrid import HybridRecommender
from personalization.recommendation.models.svd import SVDRecommender

N_USERS, N_ITEMS, HALF = 40, 20, 10
PERSONALISED = [
    "svd",
    "als",
    "itemknn",
    "ease",
    "content",
    "hybrid",
    "sequence",
    "recent",
    "transitions",
    "session-knn",
]
TOO_SMALL = ["sasrec"]
PARAMS = {
    "svd": {"rank": 2},
    "als": {"factors": 2, "regularization": 0.1, "iterations": 10},
    "sequence": {"families": "recent,transitions,session-knn"},
    "sasrec": {"dim": 16, "epochs": 2, "blocks": 1},
}


def block_matrix(seed: int = 0) -> sp.csr_matrix:
    """Users 0..19 touch only items 0..9, users 20..39 only items 10..19 (about 60% of them)."""
    rng = np.random.default_rng(seed)
    dense = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    for user in range(N_USERS):
        block = np.arange(HALF) + (HALF if user >= N_USERS // 2 else 0)
        dense[user, rng.choice(block, size=6, replace=False)] = 1.0
    dense[:, 0] += 1.0 * (np.arange(N_USERS) < N_USERS // 2)
    return sp.csr_matrix(dense)


def item_frame() -> pd.DataFrame:
    names = ["garden tools and seeds", "kitchen pans and pots"]
    return pd.DataFrame(
        {
            "category": ["garden"] * HALF + ["kitchen"] * HALF,
            "description": [f"{names[i >= HALF]} model {i}" for i in range(N_ITEMS)],
        }
    )


def fitted(algo: str, matrix: sp.csr_matrix | None = None):
    if algo == "sasrec":
        pytest.importorskip("torch")
    matrix = block_matrix() if matrix is None else matrix
    model = make_recommender(algo, **PARAMS.get(algo, {}))
    return model.fit(matrix, item_features=item_frame()), matrix


def block_of(index: int) -> int:
    return int(index >= HALF)


@pytest.fixture(scope="module", params=list(ALGORITHMS))
def model_and_matrix(request):
    return request.param, *fitted(request.param)


def test_registry_lists_every_family():
    assert set(ALGORITHMS) == {
        "popularity",
        "trending",
        "svd",
        "als",
        "itemknn",
        "ease",
        "content",
        "hybrid",
        "sequence",
        "recent",
        "transitions",
        "session-knn",
        "sasrec",
    }


def test_unknown_algorithm_and_parameter_are_named():
    with pytest.raises(BadInputError, match="choose one of"):
        make_recommender("magic")
    with pytest.raises(BadInputError, match="takes no parameter colour"):
        make_recommender("svd", colour=1)


def test_recommends_within_the_users_block(model_and_matrix):
    algo, model, matrix = model_and_matrix
    if algo not in PERSONALISED:
        pytest.skip("popularity models are the same for everyone")
    ids, _ = model.recommend(np.arange(N_USERS), matrix, n=3)
    user_blocks = (np.arange(N_USERS) >= N_USERS // 2).astype(int)
    assert (np.vectorize(block_of)(ids) == user_blocks[:, None]).all()


def test_popularity_models_rank_the_most_popular_first(model_and_matrix):
    algo, model, matrix = model_and_matrix
    if algo in TOO_SMALL:
        pytest.skip("a neural model fitted on 40 users is not held to the planted blocks")
    ids, _ = model.recommend(N_USERS - 1, matrix, n=1, filter_seen=False)
    if algo in PERSONALISED:
        assert block_of(ids[0]) == 1
    else:
        assert ids[0] == 0


def test_filter_seen_and_exclude(model_and_matrix):
    _, model, matrix = model_and_matrix
    for user in (0, 25):
        seen = set(matrix[user].indices)
        ids, _ = model.recommend(user, matrix, n=N_ITEMS)
        assert not seen & set(ids)
        assert len(ids) == N_ITEMS - len(seen)
        all_ids, _ = model.recommend(user, matrix, n=N_ITEMS, filter_seen=False)
        assert sorted(all_ids) == list(range(N_ITEMS))
        excluded, _ = model.recommend(user, matrix, n=5, exclude=[all_ids[0]])
        assert all_ids[0] not in excluded


def test_shapes_and_ordering(model_and_matrix):
    _, model, matrix = model_and_matrix
    ids, scores = model.recommend(np.array([0, 5, 30]), matrix, n=4)
    assert ids.shape == scores.shape == (3, 4)
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    one_ids, one_scores = model.recommend(5, matrix, n=4)
    assert one_ids.ndim == 1 and list(one_ids) == list(ids[1])
    assert model.score(np.array([0, 1]), matrix).shape == (2, N_ITEMS)


def test_n_larger_than_the_catalogue_is_capped_and_padded(model_and_matrix):
    _, model, matrix = model_and_matrix
    ids, scores = model.recommend(np.array([0, 1]), matrix, n=1000)
    assert ids.shape == (2, N_ITEMS)
    n_seen = np.diff(matrix.indptr)[:2]
    assert ((ids >= 0).sum(axis=1) == N_ITEMS - n_seen).all()
    assert np.isneginf(scores[ids < 0]).all()


def test_similar_items_excludes_the_item(model_and_matrix):
    algo, model, _ = model_and_matrix
    for item in (1, 15):
        ids, scores = model.similar_items(item, n=3)
        assert item not in ids and len(ids) == 3
        assert (np.diff(scores) <= 1e-6).all()
        if algo in PERSONALISED:
            assert {block_of(i) for i in ids} == {block_of(item)}


def test_explain_names_history_items(model_and_matrix):
    algo, model, matrix = model_and_matrix
    user = 3
    ids, _ = model.recommend(user, matrix, n=1)
    reasons = model.explain(user, matrix, int(ids[0]), n=3)
    assert len(reasons) <= 3
    assert all(item in matrix[user].indices and weight > 0 for item, weight in reasons)
    if algo in PERSONALISED:
        assert reasons and all(block_of(item) == 0 for item, _ in reasons)
        assert [w for _, w in reasons] == sorted((w for _, w in reasons), reverse=True)


def test_item_similarity_ranks_items_of_the_same_block_higher(model_and_matrix):
    algo, model, _ = model_and_matrix
    assert model.similarity_kind in SIMILARITY_KINDS
    items = np.repeat(np.arange(N_ITEMS), N_ITEMS)
    others = np.tile(np.arange(N_ITEMS), N_ITEMS)
    sims = model.item_similarity(items, others)
    assert sims.dtype == np.float32 and sims.shape == (N_ITEMS * N_ITEMS,)
    same = (items // HALF == others // HALF) & (items != others)
    if algo not in TOO_SMALL:
        assert sims[same].mean() > sims[items // HALF != others // HALF].mean()
    assert model.item_similarity([], []).shape == (0,)
    np.testing.assert_array_equal(
        model.item_similarity([3], [5]), sims[3 * N_ITEMS + 5 : 3 * N_ITEMS + 6]
    )


def test_history_similarity_is_item_similarity_of_each_history_entry(model_and_matrix):
    from personalization.recommendation.reasons import row_entries

    _, model, matrix = model_and_matrix
    rows = np.array([3, 25, 3, 7, 25, 3, 0, 39])  # a row's pairs need not be neighbours
    items = np.array([11, 2, 4, 15, 19, 0, 9, 1])
    pair, others, _ = row_entries(matrix, rows)
    got = model.history_similarity(rows, items, pair, others)
    assert got.dtype == np.float32 and len(got) == len(pair) > 0
    np.testing.assert_allclose(got, model.item_similarity(items[pair], others), atol=2e-5)
    assert model.history_similarity(rows[:0], items[:0], pair[:0], others[:0]).shape == (0,)


def test_history_dots_batches_rows_of_any_history_length(monkeypatch):
    from personalization.recommendation.models import base
    from personalization.recommendation.reasons import row_entries

    rng = np.random.default_rng(3)
    vectors = base.unit_rows(rng.standard_normal((50, 8)).astype(np.float32))
    lengths = [0, 1, 2, 3, 5, 9, 17, 40, 1, 0]
    matrix = sp.vstack(
        [
            sp.csr_matrix((np.ones(n), (np.zeros(n), rng.choice(50, n, replace=False))), (1, 50))
            for n in lengths
        ]
    ).tocsr()
    rows = rng.integers(0, len(lengths), 60)
    items = rng.integers(0, 50, 60)
    pair, others, _ = row_entries(matrix, rows)
    want = base.pair_dots(vectors, items[pair], others)
    monkeypatch.setattr(base, "BLOCK_CELLS", 64)  # several chunks per history length
    np.testing.assert_allclose(
        base.history_dots(vectors, rows, items, pair, others), want, atol=2e-5
    )


def test_item_similarity_refuses_bad_pairs(model_and_matrix):
    _, model, _ = model_and_matrix
    with pytest.raises(BadInputError, match="pair up one to one"):
        model.item_similarity([0, 1], [2])
    with pytest.raises(BadInputError, match="others holds item index 20"):
        model.item_similarity([0], [N_ITEMS])
    with pytest.raises(BadInputError, match="not fitted"):
        make_recommender("svd").item_similarity([0], [1])


def test_hybrid_similarity_is_its_collaborative_parts():
    hybrid, _ = fitted("hybrid")
    part = hybrid.collaborative_
    assert hybrid.similarity_kind == part.similarity_kind == "taste"
    items, others = np.arange(N_ITEMS), np.arange(N_ITEMS)[::-1]
    np.testing.assert_array_equal(
        hybrid.item_similarity(items, others), part.item_similarity(items, others)
    )


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_fit_has_one_signature_and_checks_age_days(algo):
    assert inspect.signature(ALGORITHMS[algo].fit) == inspect.signature(Recommender.fit)
    if algo == "sasrec":
        pytest.importorskip("torch")
    matrix = block_matrix()
    age = matrix.copy()
    model = make_recommender(algo, **PARAMS.get(algo, {}))
    model.fit(matrix, item_features=item_frame(), age_days=age)
    assert model.recommend(0, matrix, n=2)[0].shape == (2,)
    with pytest.raises(BadInputError, match="age_days must be a sparse matrix"):
        model.fit(matrix, item_features=item_frame(), age_days=age[:, :5])


def test_pickle_roundtrip_gives_identical_scores(model_and_matrix):
    _, model, matrix = model_and_matrix
    copy = pickle.loads(pickle.dumps(model))
    users = np.arange(N_USERS)
    np.testing.assert_array_equal(copy.score(users, matrix), model.score(users, matrix))


def test_bad_input_messages(model_and_matrix):
    _, model, matrix = model_and_matrix
    with pytest.raises(BadInputError, match="user_items needs to be a CSR sparse matrix"):
        model.recommend(0, matrix.toarray())
    with pytest.raises(BadInputError, match="columns but the model was fitted on 20 items"):
        model.recommend(0, matrix[:, :5])
    with pytest.raises(BadInputError, match="user_index 99 is out of range"):
        model.recommend(99, matrix)
    with pytest.raises(BadInputError, match="n must be"):
        model.recommend(0, matrix, n=0)
    with pytest.raises(BadInputError, match="item_index"):
        model.similar_items(N_ITEMS)


def test_a_user_with_no_history_gets_popular_items(model_and_matrix):
    _, model, matrix = model_and_matrix
    empty = sp.vstack([matrix, sp.csr_matrix((1, N_ITEMS), dtype=np.float32)], format="csr")
    ids, _ = model.recommend(N_USERS, empty, n=1)
    assert ids[0] == 0


def test_unfitted_and_empty_input_are_refused():
    with pytest.raises(BadInputError, match="not fitted"):
        make_recommender("svd").recommend(0, block_matrix())
    with pytest.raises(BadInputError, match="no interactions"):
        make_recommender("svd").fit(sp.csr_matrix((3, 3), dtype=np.float32))
    with pytest.raises(BadInputError, match="negative"):
        make_recommender("svd").fit(sp.csr_matrix(np.array([[1.0, -1.0]])))
    with pytest.raises(BadInputError, match="rank must be an integer"):
        make_recommender("svd", rank="many").fit(block_matrix())


def planted(n_users=300, n_items=120, groups=6, seed=1) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    group_of_user = rng.integers(groups, size=n_users)
    group_of_item = np.arange(n_items) % groups
    probability = np.where(group_of_user[:, None] == group_of_item[None, :], 0.5, 0.01)
    return sp.csr_matrix((rng.random((n_users, n_items)) < probability).astype(np.float32))


def test_svd_auto_chooses_the_best_validation_setting_near_the_planted_rank():
    model = SVDRecommender(weighting="none").fit(planted())
    scores = model.validation_scores_
    assert {reg for _, reg, _ in scores} == {1.0, 3.0, 10.0}
    assert {pop for _, _, pop in scores} == {0.1, 0.3}
    assert scores[(model.rank_, model.reg_, model.popularity_reg_)] == max(scores.values())
    assert 4 <= model.rank_ <= 16


def test_svd_without_regularisation_is_the_low_rank_reconstruction():
    matrix = planted()
    model = SVDRecommender(rank=6, weighting="none", reg=0, popularity_reg=0, n_iter=8).fit(matrix)
    u, s, vt = np.linalg.svd(matrix.toarray())
    expected = (u[:, :6] * s[:6]) @ vt[:6]
    np.testing.assert_allclose(model.score(np.arange(10), matrix), expected[:10], atol=1e-3)
    assert not hasattr(model, "validation_scores_")


def test_an_svd_saved_before_the_shrinkage_still_scores_as_it_did():
    matrix = planted()
    model = SVDRecommender(rank=6, weighting="none", reg=0, popularity_reg=0).fit(matrix)
    expected = model.score(np.arange(10), matrix)
    old = dict(model.__dict__, beta=0.0, beta_=0.0)
    for name in (
        "reg",
        "popularity_reg",
        "reg_grid",
        "popularity_reg_grid",
        "reg_",
        "popularity_reg_",
        "input_factors_",
        "output_factors_",
        "shrinkage_",
        "item_scale_",
    ):
        del old[name]
    restored = SVDRecommender.__new__(SVDRecommender)
    restored.__setstate__(old)
    loaded = pickle.loads(pickle.dumps(restored))
    np.testing.assert_allclose(loaded.score(np.arange(10), matrix), expected, rtol=1e-5)
    assert loaded.get_params()["reg"] == 0.0


def test_svd_at_full_rank_is_the_closed_form_denoising_autoencoder():
    """Scores x B with B = (G + L)^-1 G, G = X^T X, L = reg m (I + alpha diag(G) / m)."""
    dense = planted(n_users=200, n_items=40).toarray()
    dense[:, 39] = dense[:, 38]  # a repeated column: rank 39 is the full rank
    matrix = sp.csr_matrix(dense)
    model = SVDRecommender(rank=39, weighting="none", reg=2.0, popularity_reg=0.5, n_iter=10)
    model.fit(matrix)
    gram = (matrix.T @ matrix).toarray().astype(np.float64)
    mean = np.diag(gram).mean()
    penalty = 2.0 * mean * (np.eye(40) + 0.5 * np.diag(np.diag(gram)) / mean)
    expected = matrix[:10].toarray() @ np.linalg.solve(gram + penalty, gram)
    np.testing.assert_allclose(model.score(np.arange(10), matrix), expected, atol=2e-3)


def test_als_cg_solves_the_normal_equations_for_rows_of_any_length(monkeypatch):
    import personalization.recommendation.models.als as als

    monkeypatch.setattr(als, "CHUNK", 8)
    rng = np.random.default_rng(4)
    dense = (rng.random((30, 15)) < np.linspace(0, 1, 30)[:, None]) * rng.integers(1, 5, (30, 15))
    confidence = sp.csr_matrix(dense.astype(np.float32))
    fixed = rng.standard_normal((15, 4)).astype(np.float32)
    blocks = als.plan_blocks(confidence)
    assert sorted(np.concatenate([rows for rows, _, _ in blocks])) == list(range(30))
    solved = als.solve_cg(blocks, fixed, np.zeros((30, 4), np.float32), 0.5, 12)
    for user in range(30):
        c = dense[user].astype(np.float64)
        system = fixed.T @ fixed + fixed.T @ (c[:, None] * fixed) + 0.5 * np.eye(4)
        expected = np.linalg.solve(system, fixed.T @ ((1 + c) * (c > 0)))
        np.testing.assert_allclose(solved[user], expected, rtol=1e-3, atol=1e-4)


def test_ease_matches_the_closed_form():
    matrix = planted(40, 12, 3)
    model = EASERecommender(l2=10.0, weighting="none").fit(matrix)
    dense = matrix.toarray().astype(np.float64)
    inverse = np.linalg.inv(dense.T @ dense + 10.0 * np.eye(12))
    expected = np.eye(12) - inverse / np.diag(inverse)
    np.testing.assert_allclose(model.weights_, expected, atol=1e-5)


def test_ease_log_weighting_equals_ease_on_log1p_weights():
    matrix = planted(40, 12, 3)
    matrix.data *= np.arange(1, matrix.nnz + 1, dtype=np.float32) % 5 + 1
    logged = matrix.copy()
    logged.data = np.log1p(logged.data)
    model = EASERecommender(l2=10.0).fit(matrix)
    plain = EASERecommender(l2=10.0, weighting="none").fit(logged)
    np.testing.assert_allclose(model.weights_, plain.weights_, atol=1e-6)
    np.testing.assert_allclose(
        model.score(np.arange(5), matrix), plain.score(np.arange(5), logged), atol=1e-5
    )
    binary = EASERecommender(l2=10.0, weighting="binary").fit(matrix)
    np.testing.assert_allclose(
        binary.weights_,
        EASERecommender(l2=10.0, weighting="none").fit((matrix > 0).astype(np.float32)).weights_,
        atol=1e-6,
    )
    assert not np.allclose(model.weights_, binary.weights_, atol=1e-3)


def test_ease_auto_l2_picks_from_the_grid_on_validation():
    model = EASERecommender(l2="auto", l2_grid=(0.1, 10.0, 1e5)).fit(planted())
    assert set(model.l2_scores_) == {0.1, 10.0, 1e5}
    assert model.l2_ == max(model.l2_scores_, key=model.l2_scores_.get)
    assert model.l2_scores_[model.l2_] > model.l2_scores_[1e5]
    fixed = EASERecommender(l2=model.l2_).fit(planted())
    np.testing.assert_allclose(model.weights_, fixed.weights_, atol=1e-6)


def test_ease_refuses_a_huge_catalogue():
    with pytest.raises(BadInputError, match="use itemknn or svd"):
        EASERecommender(max_items=10).fit(planted(40, 12, 3))


def test_content_recommends_an_item_without_events():
    matrix = block_matrix()
    matrix = sp.hstack([matrix, sp.csr_matrix((N_USERS, 1), dtype=np.float32)], format="csr")
    items = pd.concat(
        [item_frame(), pd.DataFrame({"category": ["garden"], "description": ["garden seeds new"]})],
        ignore_index=True,
    )
    model = make_recommender("content").fit(matrix, item_features=items)
    ids, _ = model.recommend(np.arange(N_USERS // 2), matrix, n=N_ITEMS + 1)
    assert N_ITEMS in ids
    assert (np.vectorize(lambda i: i >= HALF and i != N_ITEMS)(ids[:, :4]) == 0).all()
    hybrid = HybridRecommender().fit(matrix, item_features=items)
    assert N_ITEMS in hybrid.recommend(0, matrix, n=6)[0]
    assert block_of(hybrid.similar_items(N_ITEMS, n=1)[0][0]) == 0


def test_content_needs_item_features():
    with pytest.raises(BadInputError, match="item attributes"):
        make_recommender("content").fit(block_matrix())


def test_trending_favours_recent_interactions():
    matrix = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0]], dtype=np.float32))
    age = sp.csr_matrix(np.array([[30, 1], [40, 0], [50, 0]], dtype=np.float32))
    age.data = np.array([30, 1, 40, 50], dtype=np.float32)
    model = make_recommender("trending", window_days=14).fit(matrix, age_days=age)
    assert model.recommend(1, matrix, n=1, filter_seen=False)[0][0] == 1
    plain = make_recommender("trending").fit(matrix)
    assert plain.recommend(1, matrix, n=1, filter_seen=False)[0][0] == 0


def reference_top(scores: np.ndarray, seen: np.ndarray, banned: list[int], n: int):
    """One user's top ``n`` by a plain stable sort: best score first, ties by item index."""
    allowed = [i for i in np.argsort(-scores, kind="stable") if i not in seen and i not in banned]
    return allowed[:n]


@pytest.mark.parametrize("algo", ["popularity", "svd", "als", "itemknn", "ease"])
def test_recommend_for_many_users_equals_a_per_user_sort(algo, monkeypatch):
    import personalization.recommendation.models.base as base

    monkeypatch.setattr(base, "BLOCK_CELLS", 7 * 300)
    rng = np.random.default_rng(3)
    dense = (rng.random((60, 300)) < 0.05) * rng.integers(1, 4, size=(60, 300))
    dense[5] = 0
    dense[7] = np.arange(300) < 290
    matrix = sp.csr_matrix(dense.astype(np.float32))
    model = make_recommender(algo, **PARAMS.get(algo, {})).fit(matrix)
    users = np.arange(60)
    scores = np.array(model.score(users, matrix))
    scores[5] = model.item_popularity_
    banned = [3, 150]
    ids, values = model.recommend(users, matrix, n=12, exclude=banned)
    for user in users:
        expected = reference_top(scores[user], matrix[user].indices, banned, 12)
        assert list(ids[user][ids[user] >= 0]) == expected
        np.testing.assert_allclose(values[user][: len(expected)], scores[user][expected], rtol=1e-6)
    assert (ids[7] >= 0).sum() == 10 and np.isneginf(values[7][10:]).all()


def test_top_n_handles_ties_and_filtered_entries():
    matrix = np.array(
        [[1, 3, 3, 0, 3, 2], [-np.inf, 5, -np.inf, -np.inf, -np.inf, -np.inf]], dtype=np.float32
    )
    ids, values = top_n(matrix, 3)
    assert ids.tolist() == [[1, 2, 4], [1, -1, -1]]
    assert values[1, 0] == 5 and np.isneginf(values[1, 1:]).all()
