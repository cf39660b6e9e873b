"""SHAP tables: additivity for every model family, grouping of one-hot parts, sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personalization import store
from personalization.errors import BadInputError, NotFoundError
from personalization.propensity import explain, pipelines, shap
from personalization.propensity.artifact import ClassifierArtifact
from personalization.propensity.pipelines import build_pipeline, scoring_pipeline

NUMERIC = ["recency_days", "visits", "age"]
CATEGORICAL = ["device"]
FEATURES = NUMERIC + CATEGORICAL
FAMILIES = ("logreg", "random_forest", "gradient_boosting", "mlp")


def customers(n: int = 240, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "user_id": [f"c{i}" for i in range(n)],
            "recency_days": rng.integers(0, 90, n).astype(float),
            "visits": rng.poisson(4, n).astype(float),
            "age": rng.normal(40, 12, n).round(),
            "device": rng.choice(["mobile", "desktop", "tablet"], n, p=[0.5, 0.4, 0.1]).astype(
                object
            ),
            "region": rng.choice(["north", "south"], n),
        }
    )
    frame.loc[rng.random(n) < 0.1, "age"] = np.nan  # gives age a missing indicator
    frame.loc[:3, "device"] = "watch"  # a rare category, grouped as infrequent
    logit = (
        -0.04 * frame["recency_days"] + 0.5 * frame["visits"] + (frame["device"] == "mobile") - 1
    )
    frame["converted"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def make_artifact(algo: str, frame: pd.DataFrame | None = None) -> ClassifierArtifact:
    frame = customers() if frame is None else frame
    train, test = frame.iloc[:180], frame.iloc[180:].reset_index(drop=True)
    params = {
        "random_forest": {"n_estimators": 20},
        "gradient_boosting": {"max_iter": 50},
        "mlp": {"hidden_layer_sizes": (16,)},
    }.get(algo)
    fitted = build_pipeline(algo, NUMERIC, CATEGORICAL, params=params, balance="none")
    fitted.fit(train[FEATURES], train["converted"])
    pipeline = scoring_pipeline(fitted)
    return ClassifierArtifact(
        pipeline=pipeline,
        features=FEATURES,
        numeric=NUMERIC,
        categorical=CATEGORICAL,
        target="converted",
        positive="1",
        threshold=0.5,
        key="user_id",
        table="customers",
        train_sample=train[FEATURES],
        test_frame=test,
        y_test=test["converted"].to_numpy(),
        test_scores=pipeline.predict_proba(test[FEATURES])[:, 1],
        metrics={},
        algo=algo,
    )


@pytest.fixture(scope="module")
def artifacts() -> dict[str, ClassifierArtifact]:
    return {algo: make_artifact(algo) for algo in FAMILIES}


@pytest.mark.parametrize("algo", FAMILIES)
def test_base_plus_contributions_is_the_model_output(artifacts, algo):
    artifact = artifacts[algo]
    rows = artifact.test_frame.head(25)
    result = shap.explain_frame(artifact, rows)
    proba = artifact.predict_proba(rows)
    expected = proba if result.output_space == "probability" else np.log(proba / (1 - proba))
    assert result.base_value + result.shap.sum(axis=1).to_numpy() == pytest.approx(
        expected, abs=1e-6
    )
    assert list(result.shap.columns) == FEATURES


def test_output_space_is_probability_for_forests_only(artifacts):
    spaces = {algo: shap.output_space(a) for algo, a in artifacts.items()}
    assert spaces == {
        "logreg": "log_odds",
        "random_forest": "probability",
        "gradient_boosting": "log_odds",
        "mlp": "log_odds",
    }
    families = {algo: shap.family(shap.parts(a)[1]) for algo, a in artifacts.items()}
    assert families == {
        "logreg": "linear",
        "random_forest": "tree",
        "gradient_boosting": "tree",
        "mlp": "sampled",
    }


def test_one_hot_parts_and_missing_indicator_are_grouped(artifacts):
    artifact = artifacts["logreg"]
    prep = shap.parts(artifact)[0]
    groups = pipelines.column_groups(prep, FEATURES)
    names = list(prep.get_feature_names_out())
    assert len(groups) == len(names) and set(groups) == set(FEATURES)
    assert groups.count("device") == sum("device" in n for n in names) >= 3
    assert groups.count("age") == 2  # the value and its missing indicator


def test_grouped_value_is_the_sum_of_its_parts(artifacts):
    artifact = artifacts["logreg"]
    rows = artifact.test_frame.head(10)
    raw, _ = shap.raw_shap(artifact, shap.transform(artifact, rows))
    groups = np.array(pipelines.column_groups(shap.parts(artifact)[0], FEATURES))
    grouped = shap.explain_frame(artifact, rows).shap
    assert grouped["device"].to_numpy() == pytest.approx(raw[:, groups == "device"].sum(axis=1))


def test_owner_prefers_the_longest_column():
    assert pipelines.owner("age_group_young", ["age", "age_group"]) == "age_group"
    assert pipelines.owner("missingindicator_age", ["age", "age_group"]) == "age"
    assert pipelines.owner("device_infrequent_sklearn", ["device"]) == "device"


def test_global_importance_ranks_the_driving_features(artifacts):
    table = shap.global_importance(artifacts["gradient_boosting"], sample=60)
    assert list(table.columns) == ["feature", "mean_abs_shap"]
    assert sorted(table["feature"]) == sorted(FEATURES)
    assert table["mean_abs_shap"].is_monotonic_decreasing and (table["mean_abs_shap"] >= 0).all()
    assert set(table["feature"].head(2)) & {"visits", "recency_days"}


def test_beeswarm_data_is_long_and_normalised(artifacts):
    data = shap.beeswarm_data(artifacts["random_forest"], sample=30)
    assert len(data) == 30 * len(FEATURES)
    assert list(data.columns) == ["row", "feature", "shap", "value", "value_norm"]
    numeric = data[data["feature"] == "visits"]["value_norm"]
    assert numeric.min() == 0 and numeric.max() == 1
    assert data[data["feature"] == "device"]["value_norm"].isna().all()


def test_dependence_data_and_unknown_feature(artifacts):
    data = shap.dependence_data(artifacts["logreg"], "recency_days", sample=40)
    assert len(data) == 40 and list(data.columns) == ["value", "shap"]
    # logistic regression on a standardised column: the effect falls as recency grows
    assert np.corrcoef(data["value"].astype(float), data["shap"])[0, 1] < -0.99
    with pytest.raises(NotFoundError, match="no feature 'nope'"):
        shap.dependence_data(artifacts["logreg"], "nope")


@pytest.mark.parametrize("algo", ["gradient_boosting", "mlp"])
def test_explain_customer_by_key(artifacts, algo):
    artifact = artifacts[algo]
    key = artifact.test_frame["user_id"].iloc[3]
    result = explain.explain_customer(artifact, key)
    contributions = result["contributions"]
    assert list(contributions.columns) == ["feature", "value", "shap"]
    assert result["base_value"] + contributions["shap"].sum() == pytest.approx(
        result["prediction"], abs=1e-6
    )
    assert result["probability"] == pytest.approx(artifact.test_scores[3])
    assert contributions["shap"].abs().is_monotonic_decreasing
    assert result["average_rate"] == pytest.approx(artifact.y_test.mean())
    steps = result["steps"]
    assert result["model_average"] + steps["change"].sum() == pytest.approx(result["chance"])
    assert result["chance"] == pytest.approx(result["probability"])
    assert steps["before"].iloc[0] == pytest.approx(result["model_average"])
    assert steps["after"].iloc[-1] == pytest.approx(result["chance"])
    assert steps[["before", "after"]].to_numpy().min() >= -1e-9
    assert steps[["before", "after"]].to_numpy().max() <= 1 + 1e-9
    assert "the chance from" in result["sentence"] and result["sentence"].endswith(".")


def test_chances_start_at_the_real_rate_even_when_rebalancing_skews_them():
    frame = customers(n=400)
    rare = np.random.default_rng(1).random(400) < 0.25  # about a tenth convert
    frame["converted"] = frame["converted"] * rare
    train, test = frame.iloc[:300], frame.iloc[300:].reset_index(drop=True)
    fitted = build_pipeline("logreg", NUMERIC, CATEGORICAL, balance="class_weight")
    fitted.fit(train[FEATURES], train["converted"])
    pipeline = scoring_pipeline(fitted)
    artifact = make_artifact("logreg")
    artifact.pipeline = pipeline
    artifact.test_frame, artifact.y_test = test, test["converted"].to_numpy()
    artifact.test_scores = pipeline.predict_proba(test[FEATURES])[:, 1]
    note = explain.calibration_note(artifact)
    assert note["average_rate"] == pytest.approx(test["converted"].mean())
    assert note["skewed"] and note["average_score"] > 2 * note["average_rate"]
    assert "chances run high" in note["message"]
    result = explain.explain_customer(artifact, test["user_id"].iloc[0])
    assert result["average_rate"] == pytest.approx(test["converted"].mean())
    honest = explain.calibration_note(make_artifact("logreg"))
    assert not honest["skewed"] and "can be read as chances" in honest["message"]


def test_explain_customer_from_a_series_and_from_the_table(artifacts, db):
    artifact = artifacts["logreg"]
    row = artifact.test_frame.iloc[0]
    by_series = explain.explain_customer(artifact, row)
    assert by_series["prediction"] == pytest.approx(
        explain.explain_customer(artifact, row["user_id"])["prediction"]
    )
    table = customers().iloc[:180]
    with store.connect(db) as con:
        con.register("train_rows", table)
        con.execute("CREATE TABLE customers AS SELECT * FROM train_rows")
    found = explain.explain_customer(artifact, "c5", db=db)  # a training row, not in the test split
    assert found["probability"] == pytest.approx(artifact.predict_proba(table.iloc[[5]])[0])
    with pytest.raises(NotFoundError, match="No customer with user_id = 'zz'"):
        explain.explain_customer(artifact, "zz", db=db)


def test_series_missing_a_feature_is_bad_input(artifacts):
    with pytest.raises(BadInputError, match="lack the model's columns age"):
        explain.explain_customer(
            artifacts["logreg"], pd.Series({"recency_days": 3, "visits": 1, "device": "x"})
        )


def test_sentence_speaks_chances_from_the_biggest_step():
    steps = pd.DataFrame(
        {
            "feature": ["PageValues", "n_purchase", "device"],
            "value": [68.0, 0.0, "mobile"],
            "change": [0.19, -0.05, 0.01],
            "before": [0.12, 0.31, 0.26],
            "after": [0.31, 0.26, 0.27],
        }
    )
    steps["text"] = [
        explain.step_text(f, v, b, a)
        for f, v, b, a in steps[["feature", "value", "before", "after"]].itertuples(index=False)
    ]
    assert explain.chance_sentence(steps) == (
        "PageValues of 68 raises the chance from 12% to 31%; the other way: no purchase events "
        "lowers the chance from 31% to 26%."
    )
    assert explain.step_text("visits", 2, 0.05, 0.031) == (
        "visits of 2 lowers the chance from 5.0% to 3.1%"
    )
    assert explain.describe("device", "mobile") == "device is mobile"
    assert explain.describe("age", np.nan) == "age unknown"


def test_steps_wait_rather_than_leave_zero_to_one():
    changes = pd.Series({"a": -0.3, "b": 0.25, "c": -0.05})
    assert explain.step_order(changes, 0.2) == ["b", "a", "c"]
    assert explain.step_order(changes, 0.5) == ["a", "b", "c"]


def test_shares_add_up_to_one_and_keep_the_order(artifacts):
    table = explain.with_shares(shap.global_importance(artifacts["gradient_boosting"], sample=40))
    assert table["share"].sum() == pytest.approx(1.0)
    assert table["share"].is_monotonic_decreasing
    assert table.attrs["output_space"] == "log_odds"


def test_column_groups_of_a_plain_column_transformer_with_remainder():
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    frame = pd.DataFrame(
        {"device": ["a", "b", "a"], "age": [1.0, 2.0, 3.0], "age_group": ["x", "y", "x"]}
    )
    prep = ColumnTransformer(
        [("cat", OneHotEncoder(sparse_output=False), ["device", "age_group"])],
        remainder="passthrough",
    ).fit(frame)
    assert pipelines.column_groups(prep, list(frame.columns)) == [
        "device",
        "device",
        "age_group",
        "age_group",
        "age",
    ]


def test_forests_too_deep_for_the_budget_get_additive_saabas_values(artifacts, monkeypatch):
    artifact = artifacts["random_forest"]
    rows = artifact.test_frame.head(20)
    assert shap.explain_frame(artifact, rows).method == "tree"
    monkeypatch.setattr(shap, "FOREST_BUDGET", 0)
    result = shap.explain_frame(artifact, rows)
    assert result.method == "saabas"
    proba = artifact.predict_proba(rows)
    assert result.base_value + result.shap.sum(axis=1).to_numpy() == pytest.approx(proba, abs=1e-6)
    assert shap.global_importance(artifact, sample=20).attrs["method"] == "saabas"


def test_importance_of_the_beeswarm_table_is_the_global_importance(artifacts):
    artifact = artifacts["gradient_boosting"]
    points = shap.beeswarm_data(artifact, sample=40)
    table = shap.importance(points)
    expected = shap.global_importance(artifact, sample=40)
    assert table["feature"].tolist() == expected["feature"].tolist()
    assert table["mean_abs_shap"].to_numpy() == pytest.approx(expected["mean_abs_shap"].to_numpy())
    assert table.attrs == expected.attrs


def test_as_probability_is_the_sigmoid_of_log_odds_only():
    assert shap.as_probability(0.0, "log_odds") == 0.5
    assert shap.as_probability(np.log(3), "log_odds") == pytest.approx(0.75)
    assert shap.as_probability(0.3, "probability") == 0.3
    assert shap.as_probability(-shap.logit(np.array([0.2]))[0], "log_odds") == pytest.approx(0.8)


def test_customer_choices_start_with_the_highest_score_and_stay_few(artifacts):
    artifact = artifacts["logreg"]
    keys = explain.customer_choices(artifact)
    top = artifact.test_frame.iloc[int(np.argmax(artifact.test_scores))][artifact.key]
    assert keys[0] == top and len(keys) == len(artifact.test_frame) == len(set(keys))
    few = explain.customer_choices(artifact, limit=20)
    assert len(few) == 20 and few[:10] == keys[:10] and set(few) <= set(keys)
