"""Fold-in updates: ALS and SVD take in new and changed users without a refit
(``models.als``, ``models.svd``), the plan of what changes (``deploy.update.plan_fold_in``) and the
``update`` command (a new model version; the source left as it was)."""

from __future__ import annotations

import contextlib
import io
import json
import random

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from personalization import registry
from personalization.cli import main
from personalization.deploy.update import plan_fold_in, update_model
from personalization.errors import BadInputError
from personalization.recommendation.interactions import build_interactions
from personalization.recommendation.models.als import ALSRecommender
from personalization.recommendation.models.svd import SVDRecommender
from tests.conftest import load_csv

SVD_PARAMS = {"rank": 3, "reg": 0, "popularity_reg": 0, "weighting": "log"}


def grouped(n_users: int = 60, seed: int = 0) -> sp.csr_matrix:
    """Users in 3 groups; each touched 5 of its group's 10 items (group g: items 10g..10g+9)."""
    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for user in range(n_users):
        group = user % 3
        for item in rng.choice(10, 5, replace=False):
            rows.append(user)
            cols.append(10 * group + item)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, 30))


def with_rows(matrix: sp.csr_matrix, items_per_row: list[list[int]]) -> sp.csr_matrix:
    extra = sp.lil_matrix((len(items_per_row), matrix.shape[1]), dtype=np.float32)
    for r, items in enumerate(items_per_row):
        extra[r, items] = 1.0
    return sp.vstack([matrix, extra.tocsr()], format="csr")


@pytest.mark.parametrize(
    "model", [ALSRecommender(factors=4, iterations=8), SVDRecommender(**SVD_PARAMS)]
)
def test_a_folded_in_user_gets_items_of_their_group(model):
    train = grouped()
    model.fit(train)
    both = with_rows(train, [[20, 21, 22]])  # a new user of group 2
    model.fold_in(np.array([60]), both)
    assert model.n_users_ == 61
    ids, _ = model.recommend(60, both, n=5)
    assert set(ids.tolist()) <= set(range(23, 30))


def test_als_fold_in_solves_the_normal_equations_exactly():
    model = ALSRecommender(factors=4, iterations=5, regularization=0.1, alpha=2.0).fit(grouped())
    before = model.user_factors_.copy()
    both = with_rows(grouped(), [[0, 1, 2], [15]])
    model.fold_in(np.array([3, 60, 61]), both)
    Y = model.item_factors_.astype(np.float64)
    for user in (3, 60, 61):
        row = both[user]
        c = 2.0 * row.data
        lhs = Y.T @ Y + 0.1 * np.eye(4) + (Y[row.indices].T * c) @ Y[row.indices]
        rhs = ((1 + c)[:, None] * Y[row.indices]).sum(axis=0)
        assert np.allclose(model.user_factors_[user], np.linalg.solve(lhs, rhs), atol=1e-4)
    untouched = [u for u in range(60) if u != 3]
    assert np.array_equal(model.user_factors_[untouched], before[untouched])
    assert model.user_factors_.shape == (62, 4)


def test_svd_fold_in_scores_the_projection_of_the_row():
    model = SVDRecommender(**SVD_PARAMS).fit(grouped())
    both = with_rows(grouped(), [[10, 11]])
    model.fold_in(np.array([60]), both)
    expected = model.user_vectors(both[60]) @ model.output_factors_.T
    assert np.allclose(model.score(np.array([60]), both), expected, atol=1e-5)


@pytest.mark.parametrize(
    "model", [ALSRecommender(factors=2, iterations=2), SVDRecommender(**SVD_PARAMS)]
)
def test_fold_in_refuses_a_matrix_of_other_items(model):
    model.fit(grouped())
    with pytest.raises(BadInputError, match="columns"):
        model.fold_in(np.array([0]), sp.csr_matrix((61, 31), dtype=np.float32))
    with pytest.raises(BadInputError, match="out of range"):
        model.fold_in(np.array([70]), grouped())


def frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user_id", "item_id", "event_type"])


def test_plan_finds_new_and_changed_users_and_keeps_known_rows_in_place():
    first = [("a", "i1", "view"), ("a", "i2", "purchase"), ("b", "i2", "view"), ("c", "i3", "view")]
    old = build_interactions(frame(first))
    later = first + [("b", "i3", "view"), ("0new", "i1", "view"), ("d", "i9", "view")]
    plan = plan_fold_in(old, frame(later))
    assert (plan.added, plan.updated) == (1, 1)  # 0new added; b updated; d touched only i9
    assert plan.interactions.user_ids.tolist() == ["a", "b", "c", "0new"]
    assert plan.rows.tolist() == [1, 3]
    assert plan.new_items.tolist() == ["i9"]
    assert (plan.interactions.matrix[[0, 2]] != old.matrix[[0, 2]]).nnz == 0
    assert plan.interactions.item_ids.tolist() == old.item_ids.tolist()


def events_csv(users: range, day: int, seed: int = 0) -> str:
    """Users in 3 groups, each buying 5 of the 10 items of its group on one day."""
    rng = random.Random(seed)
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in users:
        group = user % 3
        for item in rng.sample(range(10 * group, 10 * group + 10), 5):
            rows.append(f"u{user:03d},i{item:02d},purchase,2024-03-{day:02d} 10:00:00")
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize("algo", ["als", "svd"])
def test_update_saves_a_new_version_that_knows_the_new_users(db, tmp_path, algo):
    from personalization.data import ingest
    from personalization.recommendation import serving, training

    load_csv(db, tmp_path, "events", events_csv(range(60), 1))
    params = {"factors": 4} if algo == "als" else SVD_PARAMS
    source = training.train_recommender(algo=algo, params=params, db=db)["model_id"]
    more = events_csv(range(55, 70), 5, seed=1) + "u001,i99,view,2024-03-06 10:00:00\n"
    (tmp_path / "more.csv").write_text(more)
    ingest.ingest_file(tmp_path / "more.csv", kind="events", db=db)
    result = update_model(source, db=db)
    assert (result["users_added"], result["users_updated"], result["items_waiting"]) == (10, 5, 1)
    assert result["saved"] and result["model_id"] != source and result["status"] == "promoted"
    new_art, info = registry.load_model(result["model_id"], db=db)
    assert info["params"]["folded_in_from"] == source and info["algo"] == algo
    old_art, old_info = registry.load_model(source, db=db)
    assert old_info["status"] == "candidate" and old_art.interactions.matrix.shape[0] == 60
    assert new_art.interactions.matrix.shape[0] == 70
    items = serving.recommend_for_user("u068", k=3, db=db)["item_id"]  # group 2: items 20..29
    assert len(items) == 3 and all(20 <= int(item[1:]) < 30 for item in items)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):  # the command line, on the promoted model
        assert main(["--db", str(db), "update"]) == 0
    again = json.loads(out.getvalue())
    assert not again["saved"] and again["model_id"] == result["model_id"]
    assert (again["users_added"], again["users_updated"]) == (0, 0)


def test_update_refuses_a_model_that_cannot_fold_in(db, tmp_path):
    from personalization.recommendation import training

    load_csv(db, tmp_path, "events", events_csv(range(30), 1))
    model_id = training.train_recommender(algo="popularity", db=db)["model_id"]
    before = registry.list_models(db=db)
    assert main(["--db", str(db), "update", "--model", model_id]) == 2
    assert registry.list_models(db=db) == before


def test_a_fold_in_of_a_held_default_stays_a_candidate(db, tmp_path):
    from personalization.data import ingest
    from personalization.recommendation import training

    load_csv(db, tmp_path, "events", events_csv(range(30), 1))
    source = training.train_recommender(algo="svd", params=SVD_PARAMS, db=db)["model_id"]
    registry.set_hold(source, "the spring campaign uses it", db=db)
    (tmp_path / "more.csv").write_text(events_csv(range(30, 36), 5, seed=1))
    ingest.ingest_file(tmp_path / "more.csv", kind="events", db=db)
    result = update_model(source, db=db)
    assert result["saved"] and result["users_added"] == 6 and result["status"] == "candidate"
    assert "is held (the spring campaign uses it)" in result["why"]
    assert registry.resolve(kind="recommender", db=db)["model_id"] == source
