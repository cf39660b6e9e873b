"""The training path's shared work: per-event codes built once, the SVD's settings searched on a
given split and reused by later fits, the randomized SVD (warm-started too), and the end-to-end
benchmark's streaming generator."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from personalization.recommendation.interactions import EventCodes, build_interactions
from personalization.recommendation.models.svd import SVDRecommender, truncated_svd

ROOT = Path(__file__).resolve().parent.parent


def _events(n=3000, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in rng.integers(0, 120, n)],
            "item_id": [f"i{i}" for i in rng.integers(0, 60, n)],
            "event_type": rng.choice(["view", "click", "purchase", "remove_from_cart"], n),
            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D"),
        }
    )


@pytest.mark.parametrize("half_life", [None, 10.0])
def test_event_codes_give_the_same_interactions_as_building_each_part(half_life):
    events = _events()
    codes = EventCodes(events, None, half_life)
    late = events["timestamp"] >= pd.Timestamp("2024-03-01")
    for part in (events, events[~late], events[late]):
        want = build_interactions(part, None, half_life)
        got = codes.interactions(codes.rows_of(part))
        assert list(got.user_ids) == list(want.user_ids)
        assert list(got.item_ids) == list(want.item_ids)
        assert got.now == want.now
        assert abs(got.matrix - want.matrix).max() < 1e-5
        assert abs(got.age_days - want.age_days).max() < 1e-4
    without = codes.interactions(codes.rows_of(events[late]), with_age=False)
    assert without.age_days is None


def test_truncated_svd_matches_lapack_and_a_warm_start_converges_faster():
    rng = np.random.default_rng(0)
    low = rng.random((300, 6)) @ rng.random((6, 80))
    matrix = sp.csr_matrix((low + 0.01 * rng.random((300, 80))).astype(np.float32))
    exact = np.linalg.svd(matrix.toarray().astype(np.float64), compute_uv=False)[:5]
    values, vectors = truncated_svd(matrix, 5, 4, np.random.default_rng(1))
    assert np.allclose(values, exact, rtol=1e-3)
    assert np.allclose(vectors.T @ vectors, np.eye(5), atol=1e-4)
    warm, _ = truncated_svd(matrix, 5, 0, np.random.default_rng(2), start=vectors)
    cold, _ = truncated_svd(matrix, 5, 0, np.random.default_rng(2))
    assert np.abs(warm - exact).max() <= np.abs(cold - exact).max() + 1e-6
    assert np.allclose(warm, exact, rtol=1e-3)


def _blocks(n_users=200, n_items=60, groups=3, seed=0) -> sp.csr_matrix:
    """Users of a group touch most items of their group: known structure for rank choice."""
    rng = np.random.default_rng(seed)
    user_group = np.arange(n_users) % groups
    item_group = np.arange(n_items) % groups
    dense = (user_group[:, None] == item_group[None, :]) & (rng.random((n_users, n_items)) < 0.6)
    return sp.csr_matrix(dense.astype(np.float32))


def test_search_scores_every_open_setting_and_use_settings_skips_validation():
    matrix = _blocks()
    held = matrix.copy()
    users = np.arange(0, 200, 2)
    train = matrix.tolil()
    held_rows = sp.lil_matrix(matrix.shape, dtype=np.float32)
    for u in users:
        cols = matrix[u].indices[:3]
        train[u, cols] = 0
        held_rows[u, cols] = 1
    train, held = train.tocsr(), held_rows.tocsr()[users]
    train.eliminate_zeros()
    model = SVDRecommender(rank_grid=(2, 4, 8), reg_grid=(0.0, 1.0, 10.0))
    scores = model.search(train, users, held, ("log", "binary"))
    # the first weighting at every popularity setting, the other at the best one
    assert {k[0] for k in scores} == {"log", "binary"}
    assert {k[3] for k in scores if k[0] == "log"} == {0.1, 0.3}
    assert len({k[3] for k in scores if k[0] == "binary"}) == 1
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    best = max(scores, key=scores.get)
    # three planted groups are found: a random ranking of the ~50 unseen items scores about 0.1
    assert best[1] >= 2 and scores[best] > 0.3
    fitted = SVDRecommender().use_settings(best[1], best[2], best[3]).fit(matrix)
    assert (fitted.rank_, fitted.reg_, fitted.popularity_reg_) == best[1:]
    assert not hasattr(fitted, "validation_scores_")
    assert fitted.get_params()["rank"] == "auto"
    again = SVDRecommender(rank_grid=(2, 4)).fit(matrix)  # the preset was used once only
    assert hasattr(again, "validation_scores_")
    # the SVD the best setting came from starts a later fit, which then needs fewer iterations
    assert model.best_vectors_.shape[0] == matrix.shape[1]
    assert model.best_vectors_.shape[1] >= best[1]
    warm = SVDRecommender().use_settings(*best[1:], start=model.best_vectors_).fit(matrix)
    planted = slice(0, 3)  # the three groups' factors (the others are noise)
    assert np.allclose(warm.singular_values_[planted], fitted.singular_values_[planted], rtol=1e-3)


def test_search_start_puts_each_items_vector_on_its_row_of_another_matrix():
    from personalization.recommendation.interactions import Interactions
    from personalization.recommendation.training import SearchStart

    start = SearchStart(np.arange(6, dtype=np.float32).reshape(3, 2), np.array(["a", "b", "c"]))
    other = Interactions(
        sp.csr_matrix((2, 3), dtype=np.float32),
        np.array(["u1", "u2"], dtype=object),
        np.array(["c", "new", "a"], dtype=object),
    )
    assert start.for_items(other).tolist() == [
        [4.0, 5.0],
        [0.0, 0.0],
        [0.0, 1.0],
    ]


def test_training_reuses_the_chosen_settings_and_keeps_auto_in_params(db, tmp_path):
    from personalization.data.ingest import ingest_file
    from personalization.recommendation import training

    path = tmp_path / "events.csv"
    _events(4000, seed=1).to_csv(path, index=False)
    ingest_file(path, kind="events", db=db)
    out = training.train_recommender("svd", db=db)
    params = out["params"]
    assert params["rank"] == "auto" and "rank_" in params
    assert params["weighting"] in training.AUTO_WEIGHTINGS
    assert "ndcg@10" in out["metrics"] and "diversity" in out["metrics"]["baseline"]


def test_generator_streams_chunks_with_the_shape_asked(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("end_to_end", ROOT / "bench" / "end_to_end.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.shape_for(1_000_000) == (50_000, 10_000)
    assert bench.shape_for(20_000_000) == (400_000, 100_000)
    monkeypatch.setattr(bench, "CHUNK", 700)
    path = tmp_path / "events.csv"
    bench.write_clickstream(path, 2000)
    frame = pd.read_csv(path)
    assert len(frame) == 2000
    assert set(frame["event_type"]) <= {"view", "click", "add_to_cart", "purchase"}
    counts = frame["item_id"].value_counts()
    assert counts.iloc[0] > 5 * counts.median()  # Zipf: a head of popular items
    days = pd.to_datetime(frame["timestamp"])
    assert (days.max() - days.min()).days <= 90
