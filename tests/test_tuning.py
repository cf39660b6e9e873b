"""The one search engine: grid, random and Bayesian search over spaces given as data."""

from __future__ import annotations

import pytest

from personalization import tuning
from personalization.errors import BadInputError
from personalization.propensity.pipelines import DEFAULT_PARAMS


def objective(params: dict) -> dict:
    return {
        "ndcg@10": 1.0 - abs(params["rank"] - 20) / 100 - (0.5 if params["mode"] == "bad" else 0)
    }


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_search_finds_the_better_setting(method):
    trials = []
    out = tuning.search_params(
        objective,
        {"rank": [5, 20, 80], "mode": ["good", "bad"]},
        method=method,
        trials=12,
        seed=0,
        on_trial=trials.append,
    )
    assert out["best_params"] == {"rank": 20, "mode": "good"}
    assert len(out["trials"]) == len(trials) and trials[0]["trial"] == 0
    assert out["best_value"] == pytest.approx(1.0)


def test_bayes_with_ranges_is_seeded():
    space = {"rank": (2, 64, "log"), "reg": (0.0, 1.0)}
    f = lambda p: {"ndcg@10": -abs(p["rank"] - 16) - p["reg"]}  # noqa: E731
    a = tuning.search_params(f, space, "bayes", trials=8, seed=5)
    b = tuning.search_params(f, space, "bayes", trials=8, seed=5)
    assert a["best_params"] == b["best_params"] and isinstance(a["best_params"]["rank"], int)


def test_grid_of_ranges_and_bad_search():
    assert tuning.grid({"a": (1, 5)}) == [{"a": v} for v in (1, 2, 3, 4, 5)]
    with pytest.raises(BadInputError, match="grid, random, bayes"):
        tuning.search_params(objective, {"rank": [1]}, method="annealing")
    with pytest.raises(BadInputError, match="not among"):
        tuning.search_params(lambda p: {"x": 1.0}, {"rank": [1]}, method="grid")
    with pytest.raises(BadInputError, match="list of choices or"):
        tuning.search_params(objective, {"rank": (5, 1)}, method="random")


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_first_setting_is_tried_first_and_not_repeated(method):
    seen = []
    space = {"rank": [5, 20, 80], "mode": ["good", "bad"]}
    first = {"rank": 80, "mode": "good"}
    tuning.search_params(objective, space, method, trials=6, first=first, on_trial=seen.append)
    assert seen[0]["params"] == first and len(seen) == 6
    if method == "grid":
        assert [t["params"] for t in seen].count(first) == 1


def test_tuple_choices_come_back_as_tuples():
    seen = []
    space = {"layers": [(32,), (64, 32)], "alpha": (1e-4, 1e-1, "log")}
    tuning.search_params(
        lambda p: {"auc": len(p["layers"]) - p["alpha"]},
        space,
        "bayes",
        trials=5,
        metric="auc",
        first={"layers": (64, 32), "alpha": 1e-3},
        on_trial=seen.append,
    )
    assert seen[0]["params"] == {"layers": (64, 32), "alpha": 1e-3}
    assert all(t["params"]["layers"] in [(32,), (64, 32)] for t in seen)


def test_progress_counts_the_trials_actually_run():
    seen = []
    tuning.search_params(
        objective,
        {"rank": [5, 20], "mode": ["good"]},
        "grid",
        trials=10,
        progress=lambda f, m: seen.append((f, m)),
    )
    assert [f for f, _ in seen] == [0.5, 1.0] and seen[-1][1].startswith("trial 2 of 2:")


def test_the_product_spaces_are_valid_for_every_method():
    spaces = [
        *tuning.RECOMMENDER_SPACES.values(),
        *tuning.CLASSIFIER_SPACES.values(),
        *tuning.CLASSIFIER_GRIDS.values(),
    ]
    for space in spaces:
        assert tuning.grid(space) and len(tuning.random_settings(space, 3)) == 3
    for algo, space in tuning.CLASSIFIER_SPACES.items():
        assert set(space) <= set(DEFAULT_PARAMS[algo]) and set(
            tuning.CLASSIFIER_GRIDS[algo]
        ) <= set(space)
