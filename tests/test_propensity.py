"""Propensity models on small synthetic tables with a known signal, and on the UCI shoppers data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from personalization import registry, store
from personalization.errors import BadInputError, NotEnoughDataError
from personalization.propensity import CLASSIFIERS
from personalization.propensity.artifact import ClassifierArtifact
from personalization.propensity.columns import choose_columns
from personalization.propensity.metrics import baseline_metrics, choose_threshold
from personalization.propensity.pipelines import column_groups, limit_threads
from personalization.propensity.scoring import export_scores, score_customers
from personalization.propensity.training import split_rows, train_classifier
from tests.conftest import shared_file


def load(frame: pd.DataFrame, table: str, db) -> None:
    """Put ``frame`` into ``table`` of the test database."""
    with store.connect(db) as con:
        con.register("frame_in", frame)
        con.execute(f"CREATE OR REPLACE TABLE {store.quote_ident(table)} AS SELECT * FROM frame_in")
        con.unregister("frame_in")


def customers(n: int = 1200, seed: int = 0) -> pd.DataFrame:
    """Customers whose conversion depends on visits and device; ``noise`` carries no signal."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:05d}" for i in range(n)],
            "visits": rng.poisson(3, n).astype(float),
            "device": rng.choice(["mobile", "desktop", "tablet"], n, p=[0.5, 0.4, 0.1]),
            "age": rng.integers(18, 80, n),
            "noise": rng.normal(size=n),
        }
    )
    logit = -4.0 + 1.0 * frame["visits"] + 1.5 * (frame["device"] == "desktop")
    frame["converted"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "yes", "no")
    frame.loc[rng.random(n) < 0.1, "visits"] = np.nan
    return frame


@pytest.fixture
def table(db):
    load(customers(), "customers", db)
    return "customers"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A default model on ``customers()``, trained once for the tests that only read it."""
    db = tmp_path_factory.mktemp("trained") / "test.duckdb"
    load(customers(), "customers", db)
    return db, train_classifier("customers", target="converted", folds=0, db=db)


@pytest.mark.parametrize("algo", CLASSIFIERS)
def test_each_algo_beats_the_base_rate(db, table, algo):
    folds = 3 if algo == "logreg" else 0
    result = train_classifier(table, target="converted", algo=algo, folds=folds, db=db)
    test, baseline = result["metrics"]["test"], result["metrics"]["baseline"]
    assert result["positive"] == "yes"
    assert test["roc_auc"] > 0.75
    assert test["pr_auc"] > baseline["pr_auc"] + 0.15
    assert baseline["roc_auc"] == 0.5
    for split in ("validation", "test"):
        assert {"roc_auc", "pr_auc", "precision", "recall", "f1", "threshold"} <= set(
            result["metrics"][split]
        )
    if folds:
        assert 0.75 < result["cv"]["roc_auc_mean"] <= 1 and 0 <= result["cv"]["roc_auc_std"] < 0.1
        assert len(result["cv"]["roc_auc"]) == 3
    artifact, info = registry.load_model(result["model_id"], db=db)
    assert isinstance(artifact, ClassifierArtifact) and info["kind"] == "classifier"
    assert [name for name, _ in artifact.pipeline.steps] == ["prep", "model"]


def test_artifact_holds_what_explanations_and_lift_need(trained):
    db, result = trained
    artifact, _ = registry.load_model(result["model_id"], db=db)
    assert artifact.key == "customer_id" and "customer_id" not in artifact.features
    assert set(artifact.features) == {"visits", "device", "age", "noise"}
    assert artifact.categorical == ["device"]
    assert (
        len(artifact.train_sample) <= 500
        and list(artifact.train_sample.columns) == artifact.features
    )
    assert len(artifact.test_frame) == len(artifact.y_test) == len(artifact.test_scores) == 180
    assert "customer_id" in artifact.test_frame.columns
    np.testing.assert_allclose(artifact.predict_proba(artifact.test_frame), artifact.test_scores)
    prep = artifact.pipeline.named_steps["prep"]
    groups = column_groups(prep, artifact.features)
    assert len(groups) == prep.transform(artifact.train_sample).shape[1]
    assert set(groups) == set(artifact.features)


def test_splits_are_stratified_disjoint_and_complete():
    y = (np.arange(1000) % 5 == 0).astype(int)
    for fractions, sizes in [
        ((0.7, 0.15, 0.15), (700, 150, 150)),
        ((0.8, 0.1, 0.1), (800, 100, 100)),
    ]:
        parts = split_rows(y, fractions, seed=3)
        assert tuple(len(p) for p in parts) == sizes
        assert len(np.unique(np.concatenate(parts))) == 1000
        for part in parts:
            assert y[part].mean() == pytest.approx(0.2, abs=0.01)


def test_smote_resamples_only_the_training_rows(db, table):
    result = train_classifier(
        table, target="converted", algo="logreg", balance="smote", folds=2, db=db
    )
    artifact, _ = registry.load_model(result["model_id"], db=db)
    y = (customers()["converted"] == "yes").astype(int).to_numpy()
    _, val, test = split_rows(y, (0.7, 0.15, 0.15), seed=0)
    assert result["rows"] == {"train": 840, "validation": 180, "test": 180}
    assert result["metrics"]["validation"]["positives"] == y[val].sum()
    assert artifact.y_test.sum() == y[test].sum() and len(artifact.y_test) == len(test)
    assert "sampler" not in artifact.pipeline.named_steps


@pytest.mark.parametrize("balance", ["class_weight", "undersample", "none"])
def test_other_balances_train(db, table, balance):
    result = train_classifier(
        table, target="converted", algo="logreg", balance=balance, folds=0, db=db
    )
    assert result["metrics"]["test"]["roc_auc"] > 0.75


def test_leakage_guard_names_a_planted_leak_and_not_honest_columns(db):
    frame = customers()
    frame["refund_total"] = np.where(
        frame["converted"] == "yes", 50.0, 0.0
    ) + np.random.default_rng(1).random(1200)
    frame["converted_channel"] = np.where(frame["converted"] == "yes", "email", "none")
    load(frame, "customers", db)
    result = train_classifier("customers", target="converted", algo="logreg", folds=0, db=db)
    assert {f["column"] for f in result["leakage"]} == {"refund_total", "converted_channel"}
    assert result["status"] == "candidate"
    assert any("converted_channel" in w for w in result["warnings"])
    for honest in ("visits", "device", "age", "noise"):
        assert not any(f"'{honest}'" in w for w in result["warnings"])


def test_leakage_guard_names_dates_and_keeps_quiet_on_honest_tables(db, table):
    honest = train_classifier(table, target="converted", algo="logreg", folds=0, db=db)
    assert honest["leakage"] == [] and all("date" not in w for w in honest["warnings"])
    frame = customers()
    frame["signup_date"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(1200), unit="D")
    columns = choose_columns(frame, "converted")
    assert "signup_date" in columns["dropped"]
    assert any("'signup_date' is a date" in w for w in columns["warnings"])


def test_positive_matches_however_the_target_is_stored(db):
    frame = customers(600)
    for stored, positive in [
        (frame["converted"].str.upper(), "yes"),
        (frame["converted"] == "yes", "yes"),
        ((frame["converted"] == "yes").astype(int), "true"),
    ]:
        load(frame.assign(converted=stored), "customers", db)
        result = train_classifier(
            "customers", target="converted", positive=positive, algo="logreg", folds=0, db=db
        )
        assert result["rows"]["test"] == 90
        assert result["metrics"]["test"]["positives"] == pytest.approx(
            0.15 * (frame["converted"] == "yes").sum(), abs=1
        )


def test_default_positive_is_the_minority_value(db, table):
    result = train_classifier(table, target="converted", algo="logreg", folds=0, db=db)
    assert result["positive"] == "yes" and result["positive_rate"] < 0.5


def test_numeric_text_becomes_numeric_and_empty_or_constant_columns_are_dropped():
    frame = customers(300).assign(
        visits_text=lambda f: f["visits"].map(lambda v: "" if pd.isna(v) else f"{v:g}")
    )
    frame["visits_text"] = frame["visits_text"].replace("", None)
    frame["empty"] = None
    frame["same"] = "x"
    columns = choose_columns(frame, "converted")
    assert "visits_text" in columns["numeric"]
    assert {"empty", "same"} <= set(columns["dropped"])
    assert any("'empty' is all empty" in w for w in columns["warnings"])
    assert any("'same' is constant" in w for w in columns["warnings"])


def test_scores_a_whole_table_and_exports_it(trained, tmp_path):
    db, _ = trained
    scores = score_customers(db=db)
    assert list(scores.columns) == ["customer_id", "score", "decision"] and len(scores) == 1200
    assert scores["score"].is_monotonic_decreasing and scores["score"].between(0, 1).all()
    out = export_scores(str(tmp_path / "scores.csv"), db=db)
    assert out["rows"] == 1200 and len(pd.read_csv(out["path"])) == 1200
    load(customers(50).drop(columns="device"), "new_customers", db)
    with pytest.raises(BadInputError, match="lacks columns.*device"):
        score_customers(table="new_customers", db=db)


def test_search_reports_each_trial_and_never_loses_to_the_defaults(db, table):
    seen = []
    grid = train_classifier(
        table,
        target="converted",
        algo="logreg",
        search="grid",
        folds=0,
        on_trial=seen.append,
        db=db,
    )
    assert len(seen) == len(grid["trials"]) == 4
    assert max(t["roc_auc"] for t in seen) == seen[-1]["best_roc_auc"] >= seen[0]["roc_auc"]
    seen.clear()
    bayes = train_classifier(
        table,
        target="converted",
        algo="logreg",
        search="bayes",
        trials=4,
        folds=0,
        on_trial=seen.append,
        db=db,
    )
    assert len(seen) == 4 and seen[0]["params"] == {"C": 1.0}
    assert bayes["metrics"]["validation"]["roc_auc"] == pytest.approx(
        max(t["roc_auc"] for t in seen)
    )


def test_threshold_by_best_f1_and_by_profit():
    y = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1])
    assert choose_threshold(y, scores) == 0.6
    assert choose_threshold(y, scores, cost_per_contact=1.0, value_per_conversion=10.0) == 0.6
    assert choose_threshold(y, scores, cost_per_contact=1.0, value_per_conversion=1.5) == 0.8
    assert choose_threshold(y, scores, cost_per_contact=5.0, value_per_conversion=1.0) == 1.0


def test_baseline_is_the_base_rate():
    y = np.array([1, 0, 0, 0])
    base = baseline_metrics(y, 0.25)
    assert base["roc_auc"] == 0.5 and base["pr_auc"] == 0.25 and base["recall"] == 1.0
    assert base["brier"] == pytest.approx(0.1875)
    assert base["f1"] == pytest.approx(0.4)


def test_profit_threshold_reports_expected_profit(db, table):
    result = train_classifier(
        table,
        target="converted",
        algo="logreg",
        folds=0,
        cost_per_contact=1.0,
        value_per_conversion=20.0,
        db=db,
    )
    test = result["metrics"]["test"]
    matrix = test["confusion_matrix"]
    assert test["expected_profit"] == 20.0 * matrix["tp"] - (matrix["tp"] + matrix["fp"])
    assert sum(matrix.values()) == 180 and len(test["calibration"]) >= 2


# Bad input: each a clear message with the fix.


def test_missing_target_column_lists_the_columns(db, table):
    with pytest.raises(BadInputError, match="no column 'bought'.*customer_id, visits.*--target"):
        train_classifier(table, target="bought", db=db)


def test_one_class_target(db):
    load(customers(300).assign(converted="no"), "customers", db)
    with pytest.raises(BadInputError, match="one value .* in all 300 rows"):
        train_classifier("customers", target="converted", db=db)


def test_positive_value_that_does_not_occur_lists_the_values(db, table):
    with pytest.raises(
        BadInputError, match=r"'maybe' does not occur.*found: no \(\d+\), yes \(\d+\)"
    ):
        train_classifier(table, target="converted", positive="maybe", db=db)


def test_missing_target_values_are_refused_or_dropped_on_request(db):
    frame = customers(600)
    frame.loc[:6, "converted"] = None
    load(frame, "customers", db)
    with pytest.raises(BadInputError, match="missing in 7 of 600 rows.*--drop-missing-target"):
        train_classifier("customers", target="converted", db=db)
    result = train_classifier(
        "customers", target="converted", algo="logreg", folds=0, drop_missing_target=True, db=db
    )
    assert any("Dropped 7 rows" in w for w in result["warnings"])
    assert sum(result["rows"].values()) == 593


def test_more_than_two_classes_suggests_positive(db):
    frame = customers(600)
    frame["plan"] = np.random.default_rng(2).choice(["gold", "silver", "bronze"], 600)
    load(frame, "customers", db)
    with pytest.raises(BadInputError, match="3 values .*--positive") as caught:
        train_classifier("customers", target="plan", db=db)
    assert all(plan in str(caught.value) for plan in ("gold", "silver", "bronze"))
    result = train_classifier(
        "customers", target="plan", positive="Gold", algo="logreg", folds=0, db=db
    )
    assert result["positive"] == "gold" and any(
        "others are negative" in w for w in result["warnings"]
    )


def test_nothing_left_to_learn_from(db):
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(100)],
            "same": 1,
            "converted": ["yes"] * 30 + ["no"] * 70,
        }
    )
    load(frame, "customers", db)
    with pytest.raises(BadInputError, match="No usable feature column"):
        train_classifier("customers", target="converted", db=db)


def test_too_few_positives_for_the_split_the_folds_and_smote(db):
    frame = customers(400)
    frame["converted"] = "no"
    frame.loc[:9, "converted"] = "yes"
    load(frame, "customers", db)
    with pytest.raises(NotEnoughDataError, match="Only 10 rows .* needs at least 14"):
        train_classifier("customers", target="converted", db=db)
    frame.loc[:19, "converted"] = "yes"
    load(frame, "customers", db)
    with pytest.raises(
        NotEnoughDataError, match="holds only 14 rows .* 20-fold .* needs at least 20"
    ):
        train_classifier("customers", target="converted", folds=20, db=db)
    frame.loc[15:, "converted"] = "no"
    load(frame, "customers", db)
    with pytest.raises(
        NotEnoughDataError, match=r"SMOTE needs at least 6 .* holds 11, about 5 per fold"
    ):
        train_classifier("customers", target="converted", balance="smote", folds=2, db=db)


def test_bad_options_are_refused(db, table):
    with pytest.raises(BadInputError, match="--split takes three"):
        train_classifier(table, target="converted", split=(0.5, 0.2, 0.2), db=db)
    with pytest.raises(BadInputError, match="--algo must be one of"):
        train_classifier(table, target="converted", algo="xgboost", db=db)
    with pytest.raises(BadInputError, match="--exclude names columns that do not exist: nope"):
        train_classifier(table, target="converted", exclude=["nope"], db=db)


def test_shoppers_beats_default_hist_gradient_boosting(db):
    from personalization.data.ingest import ingest_file

    ingest_file(
        shared_file("online-shoppers/online_shoppers_intention.csv"), kind="customers", db=db
    )
    result = train_classifier("customers", target="Revenue", positive="TRUE", folds=0, db=db)
    frame = store.read_table("customers", db=db)
    y = (frame.pop("Revenue") == "TRUE").astype(int).to_numpy()
    train, _, test = split_rows(y, (0.7, 0.15, 0.15), seed=0)
    X = frame.astype({c: "category" for c in frame.columns if frame[c].dtype.kind not in "biuf"})
    with limit_threads():
        default = HistGradientBoostingClassifier(random_state=0).fit(X.iloc[train], y[train])
        default_auc = roc_auc_score(y[test], default.predict_proba(X.iloc[test])[:, 1])
    test_figures = result["metrics"]["test"]
    assert test_figures["roc_auc"] >= default_auc
    assert test_figures["pr_auc"] > result["metrics"]["baseline"]["pr_auc"] + 0.4
