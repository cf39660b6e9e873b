"""The ``explain``, ``lift`` and ``build-features`` commands: one JSON object, contract keys."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from personalization import store
from personalization.cli import main
from personalization.propensity.training import train_classifier


def run(capsys, *argv) -> tuple[int, dict | str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if code == 0 else err)


def load_frame(db, name: str, frame: pd.DataFrame) -> None:
    with store.connect(db) as con:
        con.register("incoming", frame)
        con.execute(f"CREATE OR REPLACE TABLE {store.quote_ident(name)} AS SELECT * FROM incoming")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple:
    db = tmp_path_factory.mktemp("cli") / "cli.duckdb"
    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame(
        {
            "user_id": [f"c{i}" for i in range(n)],
            "visits": rng.poisson(4, n).astype(float),
            "recency_days": rng.integers(0, 90, n).astype(float),
            "device": rng.choice(["mobile", "desktop"], n),
        }
    )
    logit = 0.6 * frame["visits"] - 0.03 * frame["recency_days"] - 1.5
    frame["converted"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    load_frame(db, "customers", frame)
    result = train_classifier(
        "customers", target="converted", positive="1", algo="logreg", folds=0, db=db
    )
    return db, result["model_id"], frame


def test_explain_global(trained, capsys):
    db, model_id, _ = trained
    code, out = run(capsys, "--db", db, "explain", "--model", model_id, "--top", 2, "--sample", 50)
    assert code == 0
    assert [set(f) for f in out["features"]] == [{"feature", "mean_abs_shap", "share"}] * 2
    assert 0 < out["features"][1]["share"] <= out["features"][0]["share"] < 1
    assert out["average_rate"] == pytest.approx(0.4, abs=0.2)
    assert out["features"][0]["feature"] in {"visits", "recency_days"}
    assert out["output_space"] == "log_odds"


def test_explain_one_row(trained, capsys):
    db, model_id, _ = trained
    code, out = run(capsys, "--db", db, "explain", "--model", model_id, "--row", "c7")
    assert code == 0
    assert {"feature", "shap"} <= set(out["features"][0])
    assert out["sentence"].endswith(".")
    total = out["base_value"] + sum(f["shap"] for f in out["features"])
    assert total == pytest.approx(out["prediction"], abs=1e-6)  # --top 10 covers all 3 features
    chance = out["model_average"] + sum(f["change"] for f in out["features"])
    assert chance == pytest.approx(out["chance"], abs=1e-6)
    assert "the chance from" in out["features"][0]["text"]
    frame = trained[2]
    assert out["average_rate"] > 0 and "chance" in out["calibration"]
    assert 0 < out["average_rate"] < 1 and frame["converted"].mean() > 0


def test_explain_unknown_row_is_bad_input(trained, capsys):
    db, model_id, _ = trained
    code, err = run(capsys, "--db", db, "explain", "--model", model_id, "--row", "nobody")
    assert code == 2 and "No customer with user_id = 'nobody'" in err


def test_lift_overall_and_per_segment(trained, capsys):
    db, model_id, _ = trained
    code, out = run(capsys, "--db", db, "lift", "--model", model_id, "--bins", 5)
    assert code == 0 and len(out["rows"]) == 5
    keys = {"segment", "bin", "customers", "rate", "lift", "cumulative_lift"}
    assert all(keys <= set(r) for r in out["rows"])
    assert {r["segment"] for r in out["rows"]} == {"all"}
    assert out["rows"][0]["bin"] == 1 and out["rows"][0]["lift"] > 1
    code, out = run(capsys, "--db", db, "lift", "--segment", "device", "--bins", 2)
    assert code == 0 and {r["segment"] for r in out["rows"]} == {"mobile", "desktop"}
    code, err = run(capsys, "--db", db, "lift", "--segment", "nope")
    assert code == 2 and "not a column" in err


def test_build_features_command(db, capsys):
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u1"],
            "item_id": ["i1", "i1", "i2", "i1"],
            "event_type": ["view", "add_to_cart", "view", "purchase"],
            "timestamp": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05"]),
            "value": [1.0, None, 2.0, 9.0],
            "session_id": ["s1", "s1", "s2", "s3"],
        }
    )
    load_frame(db, "events", events)
    code, out = run(
        capsys, "--db", db, "build-features", "--cutoff", "2024-01-04", "--label-days", 3
    )
    assert code == 0
    assert (out["table"], out["rows"], out["positives"], out["label_days"]) == (
        "customer_features",
        2,
        1,
        3,
    )
    assert out["cutoff"] == "2024-01-04 00:00:00"
    code, err = run(
        capsys, "--db", db, "build-features", "--cutoff", "2024-01-06", "--label-days", 3
    )
    assert code == 2 and "No purchase between" in err
