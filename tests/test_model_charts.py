"""Every figure builder of ``personalization.charts`` returns a plotly figure with both axes titled and the expected traces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from personalization.charts import data as dc
from personalization.charts import explain as ec
from personalization.charts import models as mc
from personalization.charts import propensity as pc
from personalization.charts import recommender as rc
from personalization.charts import theme

Y = np.array([1, 1, 0, 1, 0, 0, 0, 1, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1])


def titled(fig: go.Figure) -> bool:
    return bool(fig.layout.xaxis.title.text) and bool(fig.layout.yaxis.title.text)


def test_metric_comparison_draws_one_bar_series_per_run_and_greys_the_baseline():
    fig = mc.metric_comparison(
        {"svd": {"ndcg@10": 0.3, "recall@10": 0.2}, "Popularity baseline": {"ndcg@10": 0.1}}
    )
    assert titled(fig)
    assert [t.name for t in fig.data] == ["svd", "Popularity baseline"]
    assert list(fig.data[0].x) == ["ndcg@10", "recall@10"]
    assert fig.data[1].y[1] is None
    assert fig.data[1].marker.color == theme.BASELINE


def test_roc_pr_and_calibration_have_the_model_and_a_reference_line():
    for fig in (pc.roc_figure(Y, S), pc.pr_figure(Y, S), pc.calibration_figure(Y, S, bins=3)):
        assert titled(fig)
        assert len(fig.data) == 2
    assert "AUC 0.7" in pc.roc_figure(Y, S).data[1].name
    assert pc.pr_figure(Y, S).data[0].y[0] == pytest.approx(0.4)


def test_trials_figure_tracks_the_best_so_far():
    fig = mc.trials_figure(pd.DataFrame({"value": [0.2, 0.1, 0.5, 0.4]}))
    assert titled(fig)
    assert list(fig.data[1].y) == [0.2, 0.2, 0.5, 0.5]


def test_beeswarm_orders_features_and_colours_numbers_by_rank():
    points = pd.DataFrame(
        {
            "feature": ["recency"] * 3 + ["device"] * 3,
            "shap": [0.5, -0.4, 0.1, 0.01, 0.02, -0.01],
            "value": [1, 30, 10, "mobile", "desktop", "mobile"],
        }
    )
    fig = ec.beeswarm(points)
    assert titled(fig)
    assert list(fig.layout.yaxis.ticktext) == ["device", "recency"]
    assert list(fig.data[0].marker.color) == pytest.approx([1 / 3, 1.0, 2 / 3])
    assert fig.data[1].name == "Category value"
    given = ec.beeswarm(points.assign(value_norm=[0.0, 1.0, 0.5, None, None, None]))
    assert list(given.data[0].marker.color) == [0.0, 1.0, 0.5]


def test_dependence_uses_dots_for_numbers_and_boxes_for_categories():
    nums = ec.dependence_figure(
        pd.DataFrame({"value": [1, 2, 3], "shap": [0.1, 0.0, -0.1]}), "recency"
    )
    cats = ec.dependence_figure(
        pd.DataFrame({"value": ["a", "b", "a"], "shap": [0.1, 0.0, -0.1]}), "device"
    )
    assert titled(nums) and titled(cats)
    assert nums.layout.xaxis.title.text == "recency"
    assert isinstance(nums.data[0], go.Scatter) and isinstance(cats.data[0], go.Box)
    with_gaps = pd.DataFrame(
        {"value": pd.array([1, None, 3], dtype="Int64").astype(object), "shap": [0.1, 0.0, -0.1]}
    )
    gaps = ec.dependence_figure(with_gaps, "recency")
    assert isinstance(gaps.data[0], go.Scatter) and list(gaps.data[0].x) == [1.0, 3.0]


def test_waterfall_starts_at_the_average_and_groups_the_rest():
    contrib = pd.DataFrame(
        {"feature": ["a", "b", "c"], "value": [1, 2, 3], "shap": [0.3, -0.1, 0.05]}
    )
    fig = ec.waterfall_figure(contrib, base_value=0.2, prediction=0.45, top=2)
    assert titled(fig)
    wf = fig.data[0]
    assert list(wf.measure) == ["absolute", "relative", "relative", "relative", "total"]
    assert wf.base == pytest.approx(0.2)
    assert list(wf.y)[-2] == "1 other features"
    assert list(wf.x) == pytest.approx([0.0, 0.3, -0.1, 0.05, 0.25])
    assert wf.text[0] == "20.0%" and wf.text[-1] == "45.0%"


def test_waterfall_on_log_odds_labels_the_axis_in_probabilities():
    contrib = pd.DataFrame({"feature": ["a"], "value": [1], "shap": [1.0]})
    fig = ec.waterfall_figure(contrib, base_value=0.0, prediction=1.0, output_space="log_odds")
    assert "log-odds" in fig.layout.xaxis.title.text
    assert "50%" in fig.layout.xaxis.ticktext
    assert fig.data[0].text[0] == "50.0%"
    assert fig.data[0].text[-1] == "73.1%"


def test_gains_and_lift_show_the_random_baseline():
    gains = pd.DataFrame({"share_contacted": [0, 0.5, 1], "share_conversions": [0, 0.8, 1]})
    curve = pd.DataFrame({"share_contacted": [0.5, 1.0], "lift": [1.6, 1.0]})
    g, lift = pc.gains_figure(gains), pc.lift_figure(curve)
    assert titled(g) and titled(lift)
    assert g.data[0].name == "Random targeting"
    assert list(lift.data[0].y) == [1.0, 1.0]
    assert list(lift.data[1].y) == [1.6, 1.0]


def test_decile_figure_draws_rates_with_the_overall_rate():
    deciles = pd.DataFrame(
        {"bin": [1, 2], "rate": [0.3, 0.1], "customers": [10, 10], "lift": [1.5, 0.5]}
    )
    fig = pc.decile_figure(deciles, base_rate=0.2)
    assert titled(fig)
    assert list(fig.data[0].y) == [0.3, 0.1]
    assert fig.layout.shapes[0].y0 == pytest.approx(0.2)


def test_segment_lift_has_error_bars_and_counts():
    seg = pd.DataFrame(
        {
            "segment": ["a", "b"],
            "lift": [1.5, 0.8],
            "customers": [120, 1300],
            "ci_low": [0.24, 0.1],
            "ci_high": [0.38, 0.2],
        }
    )
    fig = pc.segment_lift_figure(seg, base_rate=0.2)
    assert titled(fig)
    bar = fig.data[0]
    assert list(bar.error_y.array) == pytest.approx([0.4, 0.2])
    assert list(bar.error_y.arrayminus) == pytest.approx([0.3, 0.3])
    assert list(bar.text) == ["n=120", "n=1,300"]


def test_profit_figure_marks_the_best_cut_off():
    sim = pd.DataFrame({"share_contacted": [0.1, 0.2, 0.3], "profit": [50.0, 80.0, 20.0]})
    fig = pc.profit_figure(sim)
    assert titled(fig)
    assert fig.data[1].x[0] == pytest.approx(0.2)
    assert "top 20%" in fig.data[1].text[0]


def test_profit_figure_follows_the_best_flag_under_a_budget():
    sim = pd.DataFrame(
        {
            "share_contacted": [0.1, 0.2, 0.3],
            "profit": [50.0, 80.0, 20.0],
            "within_budget": [True, False, False],
            "best": [True, False, False],
        }
    )
    fig = pc.profit_figure(sim, chosen=0.3)
    assert [t.name for t in fig.data] == ["Profit", "Over budget", "Best cut-off"]
    assert fig.layout.shapes[-1].x0 == pytest.approx(0.3)
    assert fig.data[2].x[0] == pytest.approx(0.1)


def test_data_profile_figures_are_titled_and_empty_input_gives_a_note():
    per_day = pd.DataFrame({"day": pd.to_datetime(["2024-01-02", "2024-01-01"]), "events": [3, 5]})
    per_type = {"view": 10, "purchase": 2}
    columns = pd.DataFrame({"column": ["a", "b"], "nulls": [0, 5]})
    figures = (
        dc.events_per_day(per_day),
        dc.events_per_type(per_type),
        dc.nulls_per_column(columns, rows=10),
        dc.quantile_bars({"median": 3, "p90": 12}, "Quantile", "Events"),
    )
    assert all(titled(fig) for fig in figures)
    assert list(figures[1].data[0].y) == ["purchase", "view"]
    assert list(figures[2].data[0].x) == pytest.approx([0.5, 0.0])
    empty = dc.events_per_day(None)
    assert titled(empty) and empty.layout.annotations[0].text == "No timestamps to plot"


def test_recommendation_scores_put_rank_one_on_top():
    frame = pd.DataFrame({"title": ["first", "second"], "score": [0.9, 0.5]})
    fig = rc.recommendation_scores(frame)
    assert titled(fig)
    assert list(fig.data[0].y) == ["second", "first"]
    assert (
        rc.recommendation_scores(pd.DataFrame()).layout.annotations[0].text == "No recommendations"
    )


def test_short_text_labels_numbers_compactly():
    assert [theme.short_text(v) for v in (0.12345, 12345.6, float("nan"), "a")] == [
        "0.123",
        "12,346",
        "",
        "a",
    ]
