"""Lift, gains and targeting economics on hand-made scores with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personalization.errors import BadInputError
from personalization.propensity import lift

# 20 customers, scores 20..1; converters at scores 20, 19, 18 (top decile + one), 11 and 1.
SCORES = np.arange(20, 0, -1, dtype=float)
Y = np.isin(SCORES, [20, 19, 18, 11, 1]).astype(int)


def test_decile_table_known_deciles():
    table = lift.decile_table(Y, SCORES, bins=10)
    assert table["bin"].tolist() == list(range(1, 11))
    assert table["customers"].tolist() == [2] * 10
    assert table["conversions"].tolist() == [2, 1, 0, 0, 1, 0, 0, 0, 0, 1]
    assert table["rate"].iloc[0] == 1.0
    base = 5 / 20
    assert table["lift"].iloc[0] == pytest.approx(1.0 / base)
    assert table["cumulative_lift"].iloc[1] == pytest.approx((3 / 4) / base)
    assert table["cumulative_gain"].tolist()[:3] == pytest.approx([0.4, 0.6, 0.6])
    assert table["cumulative_gain"].iloc[-1] == pytest.approx(1.0)
    assert table["cumulative_lift"].iloc[-1] == pytest.approx(1.0)
    assert (table["max_score"].iloc[0], table["min_score"].iloc[0]) == (20, 19)


def test_decile_table_input_order_does_not_matter():
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(Y))
    pd.testing.assert_frame_equal(
        lift.decile_table(Y[perm], SCORES[perm]), lift.decile_table(Y, SCORES)
    )


def test_fewer_customers_than_bins_and_empty_input():
    table = lift.decile_table([1, 0, 0], [0.9, 0.5, 0.1], bins=10)
    assert table["bin"].tolist() == [1, 2, 3]
    assert lift.decile_table([], []).columns.tolist() == lift.DECILE_COLUMNS


def test_no_conversions_gives_nan_lift():
    table = lift.decile_table([0, 0, 0, 0], [4, 3, 2, 1], bins=2)
    assert table["lift"].isna().all()


def test_bad_inputs_are_named():
    with pytest.raises(BadInputError, match="same length"):
        lift.decile_table([1, 0], [0.5])
    with pytest.raises(BadInputError, match="0 and 1"):
        lift.decile_table([2, 0], [0.5, 0.1])
    with pytest.raises(BadInputError, match="missing"):
        lift.decile_table([1, 0], [np.nan, 0.1])


def test_gains_curve_endpoints_and_steps():
    gains = lift.gains_curve(Y, SCORES, points=11)
    assert gains["share_contacted"].iloc[0] == 0 and gains["share_conversions"].iloc[0] == 0
    assert gains["share_conversions"].iloc[-1] == pytest.approx(1.0)
    assert gains.loc[gains["contacted"] == 2, "share_conversions"].item() == pytest.approx(0.4)
    assert gains["share_conversions"].is_monotonic_increasing


def test_lift_curve_top_share():
    curve = lift.lift_curve(Y, SCORES, points=10)
    assert curve["contacted"].iloc[0] == 2
    assert curve["lift"].iloc[0] == pytest.approx(4.0)
    assert curve["lift"].iloc[-1] == pytest.approx(1.0)


def test_segment_lift_uses_overall_bins_and_rate():
    segments = np.where(np.arange(20) % 2 == 0, "mobile", "desktop")
    segments = segments.astype(object)
    segments[5] = None
    table = lift.segment_lift(Y, SCORES, segments, bins=2)
    assert set(table["segment"]) == {"mobile", "desktop", "(missing)"}
    # the customers of all segments in a bin add up to the overall bin
    assert table.groupby("bin")["customers"].sum().tolist() == [10, 10]
    mobile_top = table[(table["segment"] == "mobile") & (table["bin"] == 1)].iloc[0]
    # mobile = even positions 0,2,4,6,8 of the top half: scores 20,18,16,14,12 -> 2 conversions
    assert (mobile_top["customers"], mobile_top["conversions"]) == (5, 2)
    assert mobile_top["lift"] == pytest.approx((2 / 5) / (5 / 20))


def test_segment_lift_interval_contains_the_rate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    table = lift.segment_lift(y, rng.random(300), rng.choice(["a", "b", "c"], 300), bins=5)
    assert ((table["ci_low"] <= table["rate"]) & (table["rate"] <= table["ci_high"])).all()
    assert ((table["ci_low"] >= 0) & (table["ci_high"] <= 1)).all()
    assert (table["ci_high"] - table["ci_low"] > 0).all()


def test_wilson_interval_known_value():
    low, high = lift.wilson_interval(np.array([5]), np.array([10]))
    assert (low[0], high[0]) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_targeting_simulation_picks_the_obvious_cut_off():
    # the top 4 of 20 convert, nobody else: contacting exactly 20% is best
    y = np.r_[np.ones(4), np.zeros(16)]
    scores = np.linspace(1, 0, 20)
    sim = lift.targeting_simulation(
        y, scores, cost_per_contact=1.0, value_per_conversion=10.0, steps=10
    )
    best = sim[sim["best"]].iloc[0]
    assert sim["best"].sum() == 1
    assert (best["contacted"], best["expected_conversions"]) == (4, 4)
    assert best["profit"] == pytest.approx(40 - 4)
    assert best["roi"] == pytest.approx(36 / 4)
    assert sim["profit"].iloc[-1] == pytest.approx(40 - 20)


def test_targeting_simulation_respects_the_budget():
    y = np.r_[np.ones(4), np.zeros(16)]
    scores = np.linspace(1, 0, 20)
    sim = lift.targeting_simulation(y, scores, 1.0, 10.0, budget=3, steps=10)
    best = sim[sim["best"]].iloc[0]
    assert best["contacted"] == 3 and best["cost"] <= 3
    assert not sim.loc[sim["contacted"] > 3, "within_budget"].any()
    with pytest.raises(BadInputError, match="cost_per_contact"):
        lift.targeting_simulation(y, scores, -1.0, 10.0)


def test_segment_lift_refuses_an_id_like_column():
    with pytest.raises(BadInputError, match="20 distinct values"):
        lift.segment_lift(Y, SCORES, [f"id{i}" for i in range(20)], max_segments=10)


def test_depth_summary_adds_up_the_top_bins_per_segment():
    segments = np.where(np.arange(20) % 2 == 0, "even", "odd")
    top = lift.depth_summary(Y, SCORES, segments, share=0.2).set_index("segment")
    # the top 4 scores are positions 0..3: even 0, 2 (both convert) and odd 1, 3 (1 converts)
    assert top.loc["even", ["customers", "conversions"]].tolist() == [2, 2]
    assert top.loc["odd", ["customers", "conversions"]].tolist() == [2, 1]
    assert top.loc["even", "lift"] == pytest.approx(1.0 / 0.25)
    assert (top["ci_low"] <= top["rate"]).all() and (top["rate"] <= top["ci_high"]).all()
    assert top.index[0] == "even"
    everyone = lift.depth_summary(Y, SCORES, segments, share=1.0).set_index("segment")
    assert everyone["customers"].tolist() == [10, 10] and everyone["conversions"].sum() == 5


def test_simulated_cut_scales_the_rate_at_that_depth_to_the_list():
    y = np.r_[np.ones(4), np.zeros(16)]
    scores = np.linspace(1, 0, 20)
    row = lift.simulated_cut(
        y, scores, share=0.2, cost_per_contact=1.0, value_per_conversion=10.0, list_size=1000
    )
    assert row["contacted"] == 200 and row["expected_conversions"] == pytest.approx(200)
    assert row["profit"] == pytest.approx(200 * 10 - 200) and row["roi"] == pytest.approx(9)


def test_simulate_campaign_by_share_and_by_budget():
    y = np.r_[np.ones(4), np.zeros(16)]
    scores = np.linspace(1, 0, 20)
    by_share = lift.simulate_campaign(y, scores, 1000, 1.0, 10.0, share=0.1)
    assert by_share["share"] == 0.1 and by_share["chosen"]["contacted"] == 100
    assert by_share["best"]["share_contacted"] == pytest.approx(0.2)
    by_budget = lift.simulate_campaign(y, scores, 1000, 1.0, 10.0, budget=50)
    assert by_budget["share"] == pytest.approx(0.05) and by_budget["chosen"]["contacted"] == 50
    assert by_budget["curve"].loc[~by_budget["curve"]["within_budget"], "cost"].min() > 50
    with pytest.raises(BadInputError, match="give a budget"):
        lift.simulate_campaign(y, scores, 1000, 1.0, 10.0)


def test_segment_choices_put_large_groups_first_and_show_n():
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(100)],
            "rare": ["a"] * 98 + ["b"] * 2,
            "device": ["mobile", "desktop"] * 50,
            "converted": ["yes", "no"] * 50,
        }
    )
    choices = lift.segment_choices(frame, exclude=("customer_id", "converted"))
    assert list(choices) == ["device", "rare"]
    assert choices["device"] == "device (2 groups, smallest n=50)"


def test_small_groups_are_merged_into_other_and_flagged():
    values = ["a"] * 40 + ["b"] * 35 + ["c"] * 3 + ["d"] * 2 + [None] * 1
    merged = lift.merge_small_groups(values, min_group=30)
    assert merged.value_counts().to_dict() == {"a": 40, "b": 35, "other": 6}
    groups = lift.segment_groups(values, min_group=30)
    assert groups.to_dict("list") == {
        "segment": ["a", "b", "other"],
        "customers": [40, 35, 6],
        "small": [False, False, True],
    }
    assert lift.merge_small_groups(["a"] * 40 + ["b"], min_group=30).tolist()[-1] == "b"


def test_segment_columns_prefer_large_groups_then_mergeable_ones():
    from personalization.values import segment_columns

    frame = pd.DataFrame(
        {
            "tiny": ["x", "y"] * 5 + ["z"] * 290,  # two groups of 5
            "mergeable": ["p"] * 150 + ["q"] * 140 + ["r", "s"] * 5,  # small groups hold 3%
            "weekend": ["yes", "no"] * 150,
        }
    )
    assert segment_columns(frame) == ["weekend", "mergeable", "tiny"]
    choices = lift.segment_choices(frame)
    assert choices["mergeable"] == "mergeable (4 groups, smallest n=5; under 30 merged into other)"


def test_lift_in_words_and_the_overall_rate():
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 1] * 10)
    scores = np.where(y == 1, 0.9, 0.1)
    scores[9::10] = 0.05  # one converter in ten is scored low
    assert lift.lift_in_words(y, scores, share=0.2) == (
        "The top 20% by score convert at 100%, 3.3 times the overall 30% (random targeting gets "
        "1.0 times); they hold 67% of all conversions."
    )
    assert "cannot be measured" in lift.lift_in_words(np.zeros(5), np.ones(5))

    class Saved:
        y_test = y

    assert lift.overall_rate(Saved()) == pytest.approx(0.3)
