"""Drift: PSI and the tests by type on made-up data with known answers, random halves against an
era shift (made up, and the online-shoppers data split by month when it is there), SHAP
weighting, windows of one events table, and bad input."""

from __future__ import annotations

import contextlib
import io
import json
import math

import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

from personalization import store
from personalization.cli import main
from personalization.errors import BadInputError
from personalization.monitoring import drift


def run(*argv: object) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


def shop(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """``n`` customers: spend (normal, mean moved by ``shift`` sds), visits (Poisson), device (a
    category whose mix moves with ``shift``) and a yes/no flag that does not move."""
    rng = np.random.default_rng(seed)
    mobile = min(0.9, 0.3 + shift * 0.3)
    return pd.DataFrame(
        {
            "spend": rng.normal(100 + 20 * shift, 20, n),
            "visits": rng.poisson(3 + 2 * shift, n),
            "device": rng.choice(["mobile", "desktop"], n, p=[mobile, 1 - mobile]),
            "newsletter": rng.choice([True, False], n),
        }
    )


def test_psi_of_known_shares():
    # PSI = sum((c - r) ln(c / r)): 0.5/0.5 against 0.25/0.75
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.psi_from_shares([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert drift.psi_from_shares([0.2, 0.8], [0.2, 0.8]) == 0.0
    same = np.arange(1000.0)
    assert drift.psi_numeric(same, same) == pytest.approx(0.0)
    assert drift.psi_numeric(same, same + 500) > 1.0


def test_numbers_get_ks_and_categories_chi_square_with_effect_sizes():
    ref, cur = shop(2000, 1), shop(2000, 2, shift=1.0)
    spend = drift.feature_drift(ref["spend"], cur["spend"])
    assert spend["test"] == "ks" and spend["p_value"] < 1e-6
    assert spend["effect_size"] == pytest.approx(spend["statistic"])
    assert 0.3 < spend["effect_size"] < 0.5  # one sd apart: D = 2 Phi(0.5) - 1 = 0.38
    device = drift.feature_drift(ref["device"], cur["device"])
    assert device["test"] == "chi2" and device["drift"] in ("watch", "act") and device["drifted"]
    assert 0.2 < device["effect_size"] < 0.4  # Cramer's V for 30% vs 60% mobile: 0.30
    flag = drift.feature_drift(ref["newsletter"], cur["newsletter"])
    assert flag["test"] == "chi2" and flag["drift"] == "none" and not flag["drifted"]


def test_random_halves_do_not_alert_but_an_era_shift_does():
    whole = shop(4000, 3).sample(frac=1.0, random_state=0)
    halves = drift.compare_frames(whole.iloc[:2000], whole.iloc[2000:])
    assert not drift.summarise(halves)["alert"]
    assert halves["drift"].eq("none").all()
    era = drift.compare_frames(shop(2000, 4), shop(2000, 5, shift=1.5))
    summary = drift.summarise(era)
    assert summary["alert"] and summary["drifted_share"] >= 0.5
    assert era["feature"].iloc[0] in ("spend", "visits", "device")  # most drifted first
    assert era.set_index("feature").loc["newsletter", "drift"] == "none"


def test_shap_weights_rank_what_matters_first():
    ref, cur = shop(1500, 6), shop(1500, 7, shift=1.0)
    weights = pd.Series({"spend": 0.0, "visits": 0.0, "device": 1.0, "newsletter": 0.0})
    table = drift.compare_frames(ref, cur, importance=weights)
    assert table["feature"].iloc[0] == "device"
    assert table["importance"].sum() == pytest.approx(1.0)
    assert drift.summarise(table, weighted=True)["important"] == ["device"]


def test_ids_and_dates_are_skipped():
    ref = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(200)],
            "when": pd.date_range("2024-01-01", periods=200, freq="h"),
            "x": np.arange(200.0),
        }
    )
    table = drift.compare_frames(ref, ref.assign(user_id=[f"v{i}" for i in range(200)]))
    assert table["feature"].tolist() == ["x"]
    assert table.attrs["skipped"] == {"user_id": "looks like an id", "when": "a date"}


def test_different_columns_and_empty_sides_are_bad_input():
    with pytest.raises(BadInputError, match=r"different columns.*only in reference: visits"):
        drift.compare_frames(shop(50, 1), shop(50, 2).drop(columns="visits"))
    with pytest.raises(BadInputError, match="current data has no rows"):
        drift.compare_frames(shop(50, 1), shop(50, 2).iloc[:0])
    with pytest.raises(BadInputError, match="watch <= act"):
        drift.DriftThresholds(psi_watch=0.3, psi_act=0.2)


def load(db, name: str, frame: pd.DataFrame, tmp_path) -> None:
    from personalization.data import ingest

    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    ingest.ingest_file(path, kind="customers", table=name, db=db)


def test_drift_command_prints_the_contract_keys_and_flags_bad_input(db, tmp_path):
    load(db, "spring", shop(600, 1), tmp_path)
    load(db, "autumn", shop(600, 2, shift=1.5), tmp_path)
    load(db, "narrow", shop(600, 3).drop(columns="device"), tmp_path)
    code, out, err = run("--db", db, "drift", "--reference", "spring", "--current", "autumn")
    assert code == 0, err
    assert set(out) >= {"features", "drifted_share", "alert"} and out["alert"] is True
    keys = {"feature", "test", "statistic", "p_value", "psi", "drift"}
    assert all(keys <= set(f) for f in out["features"])
    code, out, err = run("--db", db, "drift", "--reference", "spring", "--current", "narrow")
    assert code == 2 and out is None
    assert "different columns" in err and len(err.strip().splitlines()) == 1


def test_windows_of_one_events_table(db, tmp_path):
    rng = np.random.default_rng(0)
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    rows = []
    for n, day in enumerate(days):
        for _ in range(40):
            late = n >= 30
            kind = rng.choice(["view", "purchase"], p=[0.5, 0.5] if late else [0.9, 0.1])
            rows.append(
                (f"u{rng.integers(500)}", f"i{rng.integers(8)}", kind, day, rng.normal(10, 2))
            )
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "event_type", "timestamp", "value"])
    path = tmp_path / "events.csv"
    events.to_csv(path, index=False)
    from personalization.data import ingest

    ingest.ingest_file(path, kind="events", db=db)
    first = ("events", "events")
    report = drift.drift_report(
        *first,
        reference_window=(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-15")),
        current_window=(pd.Timestamp("2024-01-15"), pd.Timestamp("2024-01-30")),
        db=db,
    )
    assert not report["alert"]
    report = drift.drift_report(
        *first,
        reference_window=(pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-30")),
        current_window=(pd.Timestamp("2024-02-01"), None),
        db=db,
    )
    flagged = {f["feature"]: f for f in report["features"]}
    assert report["alert"] and flagged["event_type"]["drift"] == "act"
    assert "timestamp" in report["skipped"]
    code, _, err = run(
        "--db", db, "drift", "--reference", "events", "--current", "events",
        "--current-window", "2030-01-01..2030-02-01",
    )  # fmt: skip
    assert code == 2 and "holds no rows" in err


def test_model_reference_weights_by_shap_and_tracks_scores(classifier_db):
    db, model_id = classifier_db
    report = drift.drift_report(None, "customers", model_id=model_id, db=db)
    assert report["model_id"] == model_id
    assert report["scores"]["test"] == "ks" and 0 <= report["scores"]["psi"]
    assert sum(f["importance"] for f in report["features"]) == pytest.approx(1.0)
    weighted = [f["weighted_drift"] for f in report["features"]]
    assert weighted == sorted(weighted, reverse=True)


def test_recommendation_drift_per_batch():
    log = pd.DataFrame(
        {
            "batch_id": ["a"] * 4 + ["b"] * 4,
            "user_id": ["u1", "u1", "u2", "u2"] * 2,
            "item_id": ["i1", "i2", "i1", "i3", "i4", "i5", "i4", "i5"],
            "logged_at": [pd.Timestamp("2024-01-01")] * 4 + [pd.Timestamp("2024-02-01")] * 4,
        }
    )
    batches = drift.recommendation_drift(log)["batches"]
    assert [b["batch_id"] for b in batches] == ["a", "b"]
    assert batches[0]["items"] == 3 and batches[0]["coverage"] == pytest.approx(3 / 5)
    assert batches[0]["top_item_share"] == 1.0 and batches[0]["psi"] is None
    assert batches[1]["psi"] > 1.0  # no item in common


def test_online_shoppers_by_month():
    path = shared_file("online-shoppers/online_shoppers_intention.csv")
    data = pd.read_csv(path)
    halves = data.drop(columns="Month").sample(frac=1.0, random_state=1)
    middle = len(halves) // 2
    split = drift.compare_frames(halves.iloc[:middle], halves.iloc[middle:])
    assert not drift.summarise(split)["alert"]
    spring = data[data["Month"].isin(["Mar", "May"])].drop(columns="Month")
    autumn = data[data["Month"].isin(["Nov", "Dec"])].drop(columns="Month")
    era = drift.compare_frames(spring, autumn)
    assert drift.summarise(era)["alert"]
    assert era.set_index("feature").loc["SpecialDay", "drift"] == "act"


def test_store_read_window_names_a_missing_column(db, tmp_path):
    load(db, "plain", shop(20, 1), tmp_path)
    from personalization.store import monitoring as store_monitoring

    with pytest.raises(BadInputError, match="no column 'timestamp'"):
        store_monitoring.read_window("plain", "timestamp", None, None, db=db)
    assert store.count_rows("plain", db=db) == 20
