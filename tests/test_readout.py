"""Campaign readouts: the formulas against independent computations (scipy, hand counts), an
export with a control group followed by appended events, outcomes files, and bad input."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
from datetime import datetime, timedelta

import pandas as pd
import pytest
from scipy import stats

from personalization.cli import main
from personalization.errors import BadInputError
from personalization.monitoring import readout


def run(*argv: object) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, (json.loads(out.getvalue()) if out.getvalue().strip() else None), err.getvalue()


def test_rates_lift_interval_and_p_value_match_independent_figures():
    result = readout.compare_rates(1000, 120, 1000, 100)
    assert result["treatment"] == {"customers": 1000, "conversions": 120, "rate": 0.12}
    assert result["lift"] == pytest.approx(0.2)
    # the pooled z-test equals the chi-square test of the 2 x 2 table without correction
    chi2, p, _, _ = stats.chi2_contingency([[120, 880], [100, 900]], correction=False)
    assert result["p_value"] == pytest.approx(p, rel=1e-9)
    # Katz interval of the risk ratio, by hand: se of log RR = sqrt((1-p1)/x1 + (1-p2)/x2)
    se = math.sqrt(0.88 / 120 + 0.9 / 100)
    z = stats.norm.ppf(0.975)
    assert result["ci_low"] == pytest.approx(1.2 * math.exp(-z * se) - 1)
    assert result["ci_high"] == pytest.approx(1.2 * math.exp(z * se) - 1)
    assert result["ci_low"] < 0 < result["ci_high"]  # not significant at this size


def test_interval_covers_the_true_lift_in_most_simulated_campaigns():
    rng = random.Random(0)
    covered = 0
    for _ in range(400):
        x_t = sum(rng.random() < 0.12 for _ in range(800))
        x_c = sum(rng.random() < 0.10 for _ in range(800))
        r = readout.compare_rates(800, x_t, 800, x_c)
        covered += r["ci_low"] <= 0.2 <= r["ci_high"]
    assert 0.92 <= covered / 400 <= 0.98


def test_no_conversion_in_a_group_leaves_the_interval_undefined():
    result = readout.compare_rates(50, 5, 50, 0)
    assert result["lift"] is None and result["ci_low"] is None and result["p_value"] < 0.05


def test_sample_size_matches_the_textbook_figure():
    # Fleiss without continuity correction: 10% -> 15%, alpha 0.05, power 0.8 needs 686 per group
    assert readout.sample_size(0.10, 0.5) == 686
    assert readout.sample_size(0.10, 0.5, power=0.9) > 686
    with pytest.raises(BadInputError, match="base rate"):
        readout.sample_size(0.0, 0.1)


def test_revenue_difference_has_a_welch_interval():
    out = readout.revenue_difference([10.0, 20.0, 30.0, 40.0], [5.0, 5.0, 15.0, 15.0])
    assert out["treatment_per_customer"] == 25.0 and out["difference"] == 15.0
    se = math.sqrt(pd.Series([10, 20, 30, 40]).var() / 4 + pd.Series([5, 5, 15, 15]).var() / 4)
    assert out["ci_high"] - out["difference"] == pytest.approx(1.959964 * se, rel=1e-5)


@pytest.fixture
def exported(db, tmp_path) -> dict:
    """200 customers with views over March 2024, a popularity model and an export with a 30%
    control group."""
    rng = random.Random(5)
    rows = ["user_id,item_id,event_type,timestamp"]
    for user in range(200):
        for item in rng.sample(range(12), 3):
            rows.append(f"c{user:03d},p{item},view,2024-03-{rng.randint(1, 28):02d} 09:00:00")
    (tmp_path / "events.csv").write_text("\n".join(rows) + "\n")
    assert run("--db", db, "ingest", tmp_path / "events.csv", "--kind", "events")[0] == 0
    assert run("--db", db, "train-recommender", "--algo", "popularity")[0] == 0
    out = tmp_path / "campaign.csv"
    code, result, err = run(
        "--db", db, "export-recommendations", "--out", out, "-k", "2", "--control-share", "0.3"
    )
    assert code == 0, err
    return {"db": db, "file": out, "result": result, "folder": tmp_path}


def test_readout_from_the_events_that_followed_matches_a_hand_count(exported):
    db, folder = exported["db"], exported["folder"]
    groups = pd.read_csv(exported["file"]).drop_duplicates("user_id").set_index("user_id")["group"]
    rng = random.Random(9)
    later = datetime.now() + timedelta(hours=1)
    buyers = {u for u in groups.index if rng.random() < (0.4 if groups[u] == "treatment" else 0.2)}
    rows = ["user_id,item_id,event_type,timestamp,value"]
    rows += [f"{u},p1,purchase,{later:%Y-%m-%d %H:%M:%S},25" for u in sorted(buyers)]
    rows.append(f"stranger,p1,purchase,{later:%Y-%m-%d %H:%M:%S},99")  # not in the export
    rows.append("c000,p1,purchase,2024-03-30 10:00:00,5")  # before the export
    (folder / "later.csv").write_text("\n".join(rows) + "\n")
    code, _, err = run(
        "--db", db, "ingest", folder / "later.csv", "--kind", "events", "--mode", "append"
    )
    assert code == 0, err
    code, out, err = run("--db", db, "readout", "--export", exported["file"])
    assert code == 0, err
    for group in ("treatment", "control"):
        members = groups[groups == group].index
        assert out[group]["customers"] == len(members)
        assert out[group]["conversions"] == len(buyers & set(members))
    expected = readout.compare_rates(
        out["treatment"]["customers"], out["treatment"]["conversions"],
        out["control"]["customers"], out["control"]["conversions"],
    )  # fmt: skip
    assert out["lift"] == pytest.approx(expected["lift"]) and out["ci_low"] < out["lift"]
    assert out["revenue"]["treatment_per_customer"] == pytest.approx(
        25 * out["treatment"]["conversions"] / out["treatment"]["customers"]
    )


def test_readout_from_an_outcomes_file_per_segment(exported):
    groups = pd.read_csv(exported["file"]).drop_duplicates("user_id")[["user_id", "group"]]
    outcomes = groups.assign(
        converted=["yes" if n % 3 == 0 else "no" for n in range(len(groups))],
        revenue=[10.0 * (n % 3 == 0) for n in range(len(groups))],
        region=["north" if n % 2 else "south" for n in range(len(groups))],
    ).drop(columns="group")
    path = exported["folder"] / "outcomes.csv"
    outcomes.to_csv(path, index=False)
    code, out, err = run(
        "--db", exported["db"], "readout", "--export", exported["file"], "--outcomes", path,
        "--segment", "region",
    )  # fmt: skip
    assert code == 0, err
    merged = groups.merge(outcomes, on="user_id")
    hand = merged.groupby("group")["converted"].apply(lambda s: (s == "yes").sum())
    assert out["treatment"]["conversions"] == hand["treatment"]
    assert out["control"]["conversions"] == hand["control"]
    assert [s["segment"] for s in out["segments"]] == ["north", "south"]
    north = merged[merged["region"] == "north"]
    assert out["segments"][0]["treatment"]["customers"] == (north["group"] == "treatment").sum()
    assert out["sample_size"]["per_group"] > 0


def test_bad_readout_input_is_one_line_exit_2(exported):
    folder, db = exported["folder"], exported["db"]
    (folder / "strangers.csv").write_text("user_id,converted\nnobody,yes\n")
    plain = folder / "plain.csv"
    pd.read_csv(exported["file"]).drop(columns="group").to_csv(plain, index=False)
    odd = folder / "odd.csv"
    pd.read_csv(exported["file"]).assign(group="holdout").to_csv(odd, index=False)
    cases = {
        "customers the export does not hold": ["--outcomes", folder / "strangers.csv"],
    }
    for needle, extra in cases.items():
        code, out, err = run("--db", db, "readout", "--export", exported["file"], *extra)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    code, _, err = run("--db", db, "readout", "--export", plain)
    assert code == 2 and "--control-share" in err
    code, _, err = run("--db", db, "readout", "--export", odd)
    assert code == 2 and "unknown groups holdout" in err
