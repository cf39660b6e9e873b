"""Figures of how well a conversion model ranks customers: ROC, precision-recall and calibration
curves; cumulative gains and lift, conversion per score bin, lift per segment and profit by depth.

Every builder takes plain arrays or tidy frames (as ``personalization.propensity`` returns them)
and gives back a ``plotly.graph_objects.Figure`` with both axes titled. Colours come from
``personalization.charts.theme``: the model in ``MODEL``, the baseline or random line in
``BASELINE``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from personalization.charts.theme import ACCENT, BASELINE, BEST, MODEL, style_results


def roc_figure(y_true: Sequence, scores: Sequence, title: str | None = None) -> go.Figure:
    """ROC curve of ``scores`` against binary ``y_true`` (1 = converted), with the chance diagonal."""
    fpr, tpr, _ = roc_curve(np.asarray(y_true).astype(int), np.asarray(scores, dtype=float))
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="Random guess",
        line={"color": BASELINE, "dash": "dash"},
    )
    fig.add_scatter(
        x=fpr,
        y=tpr,
        mode="lines",
        name=f"Model (AUC {auc(fpr, tpr):.3f})",
        line={"color": MODEL, "width": 3},
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return style_results(
        fig, "False positive rate (non-buyers flagged)", "True positive rate (buyers found)", title
    )


def pr_figure(y_true: Sequence, scores: Sequence, title: str | None = None) -> go.Figure:
    """Precision-recall curve with the base rate (what random targeting achieves) as a flat line."""
    y = np.asarray(y_true).astype(int)
    precision, recall, _ = precision_recall_curve(y, np.asarray(scores, dtype=float))
    base = float(y.mean()) if len(y) else 0.0
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[base, base],
        mode="lines",
        name=f"Base rate ({base:.1%})",
        line={"color": BASELINE, "dash": "dash"},
    )
    fig.add_scatter(
        x=recall,
        y=precision,
        mode="lines",
        name=f"Model (AP {auc(recall, precision):.3f})",
        line={"color": MODEL, "width": 3},
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return style_results(
        fig, "Recall: share of all buyers found", "Precision: share of flagged who buy", title
    )


def calibration_figure(
    y_true: Sequence, scores: Sequence, bins: int = 10, title: str | None = None
) -> go.Figure:
    """Predicted probability against the observed conversion rate, in ``bins`` quantile bins."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    observed, predicted = calibration_curve(y, s, n_bins=bins, strategy="quantile")
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="Perfectly calibrated",
        line={"color": BASELINE, "dash": "dash"},
    )
    fig.add_scatter(
        x=predicted,
        y=observed,
        mode="lines+markers",
        name="Model",
        line={"color": MODEL, "width": 3},
        hovertemplate="predicted %{x:.1%}<br>observed %{y:.1%}<extra></extra>",
    )
    top = float(max(np.max(predicted, initial=0), np.max(observed, initial=0), 0.05)) * 1.05
    fig.update_xaxes(range=[0, min(top, 1.0)], tickformat=".0%")
    fig.update_yaxes(range=[0, min(top, 1.0)], tickformat=".0%")
    return style_results(fig, "Predicted probability", "Observed conversion rate", title)


def gains_figure(
    gains: pd.DataFrame,
    x: str = "share_contacted",
    y: str = "share_conversions",
    title: str | None = None,
) -> go.Figure:
    """Cumulative gains: share of all conversions caught when contacting the top share of customers."""
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[0, 1],
        mode="lines",
        name="Random targeting",
        line={"color": BASELINE, "dash": "dash"},
    )
    fig.add_scatter(
        x=gains[x],
        y=gains[y],
        mode="lines",
        name="Model",
        line={"color": MODEL, "width": 3},
        hovertemplate="contact top %{x:.0%}<br>catch %{y:.0%} of conversions<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return style_results(
        fig,
        "Share of customers contacted (highest scores first)",
        "Share of all conversions caught",
        title,
    )


def lift_figure(
    curve: pd.DataFrame, x: str = "share_contacted", y: str = "lift", title: str | None = None
) -> go.Figure:
    """Cumulative lift by how deep the ranked list is contacted, with the random line at 1.

    ``curve`` has ``share_contacted`` (0..1) and ``lift`` (as ``lift.lift_curve`` returns).
    """
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1],
        y=[1.0, 1.0],
        mode="lines",
        name="Random targeting (1x)",
        line={"color": BASELINE, "dash": "dash"},
    )
    fig.add_scatter(
        x=curve[x],
        y=curve[y],
        mode="lines",
        name="Model",
        line={"color": MODEL, "width": 3},
        hovertemplate="top %{x:.0%}: %{y:.2f}x the conversions of random<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1.0], tickformat=".0%")
    fig.update_yaxes(rangemode="tozero")
    return style_results(
        fig,
        "Share of customers contacted (highest scores first)",
        "Cumulative lift (x random)",
        title,
    )


def decile_figure(deciles: pd.DataFrame, base_rate: float, title: str | None = None) -> go.Figure:
    """Conversion rate per score bin (bin 1 = highest scores) against the overall rate."""
    fig = go.Figure(
        go.Bar(
            x=deciles["bin"].astype(int),
            y=deciles["rate"],
            marker_color=MODEL,
            name="Conversion rate",
            text=[f"{v:.0%}" if v >= 0.1 else f"{v:.1%}" for v in deciles["rate"]],
            textposition="outside",
            customdata=deciles[["customers", "lift"]].to_numpy(),
            hovertemplate="bin %{x}: %{y:.1%} convert<br>%{customdata[0]:,} customers, "
            "lift %{customdata[1]:.2f}x<extra></extra>",
        )
    )
    fig.add_hline(
        y=base_rate,
        line_color=BASELINE,
        line_dash="dash",
        annotation_text=f"overall {base_rate:.1%}",
    )
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return style_results(fig, "Score bin (1 = highest scores)", "Conversion rate", title)


def segment_lift_figure(
    segments: pd.DataFrame,
    base_rate: float | None = None,
    value: str = "lift",
    title: str | None = None,
) -> go.Figure:
    """Bars of lift per segment with confidence intervals and the customer count on each bar.

    ``segments`` has one row per segment: ``segment``, ``value`` (default ``lift``), ``customers``
    and optionally ``ci_low`` / ``ci_high``. The interval bounds are conversion rates (as
    ``lift.segment_lift`` gives them) and are divided by ``base_rate`` to put them on the lift
    scale; without ``base_rate`` they are taken as lifts already.
    """
    data = segments.reset_index(drop=True)
    error = None
    if {"ci_low", "ci_high"} <= set(data.columns):
        scale = float(base_rate) if base_rate else 1.0
        error = {
            "type": "data",
            "symmetric": False,
            "color": "#374151",
            "array": (data["ci_high"] / scale - data[value]).clip(lower=0),
            "arrayminus": (data[value] - data["ci_low"] / scale).clip(lower=0),
        }
    colours = [MODEL if v >= 1 else BASELINE for v in data[value].fillna(0)]
    fig = go.Figure(
        go.Bar(
            x=data["segment"].astype(str),
            y=data[value],
            error_y=error,
            marker_color=colours,
            text=[f"n={int(n):,}" for n in data["customers"]],
            textposition="inside",
            insidetextanchor="start",
            hovertemplate="%{x}<br>lift %{y:.2f}x<br>%{text}<extra></extra>",
        )
    )
    fig.add_hline(y=1, line_color=BASELINE, line_dash="dash", annotation_text="random (1x)")
    return style_results(fig, "Segment", "Lift (x the overall conversion rate)", title)


def profit_figure(
    simulation: pd.DataFrame,
    x: str = "share_contacted",
    y: str = "profit",
    chosen: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Profit by how deep the list is contacted, with the most profitable cut-off marked.

    ``chosen`` (a share 0..1) draws the user's own cut-off as a dotted vertical line.

    The marked cut-off is the row flagged ``best`` when the frame has that column (as
    ``lift.targeting_simulation`` gives it, respecting a budget), else the highest ``y``.
    """
    fig = go.Figure()
    fig.add_scatter(
        x=simulation[x],
        y=simulation[y],
        mode="lines+markers",
        name="Profit",
        line={"color": MODEL, "width": 3},
        hovertemplate="contact top %{x:.0%}<br>profit %{y:,.0f}<extra></extra>",
    )
    if "within_budget" in simulation and not simulation["within_budget"].all():
        over = simulation[~simulation["within_budget"]]
        fig.add_scatter(
            x=over[x],
            y=over[y],
            mode="markers",
            name="Over budget",
            marker={"color": BASELINE, "size": 9, "symbol": "x"},
        )
    flagged = simulation[simulation["best"]] if "best" in simulation else simulation.iloc[0:0]
    if len(simulation):
        best = flagged.iloc[0] if len(flagged) else simulation.loc[simulation[y].idxmax()]
        fig.add_scatter(
            x=[best[x]],
            y=[best[y]],
            mode="markers+text",
            name="Best cut-off",
            marker={"color": BEST, "size": 16, "symbol": "star"},
            text=[f"best: top {best[x]:.0%}"],
            textposition="top center",
        )
    fig.add_hline(y=0, line_color=BASELINE, line_dash="dash")
    if chosen is not None:
        fig.add_vline(
            x=chosen,
            line_color=ACCENT,
            line_dash="dot",
            annotation_text="your plan",
            annotation_position="bottom right",
        )
    fig.update_xaxes(tickformat=".0%")
    return style_results(
        fig, "Share of customers contacted (highest scores first)", "Profit (value - cost)", title
    )


def score_histogram(
    scores: Sequence[float], threshold: float, title: str | None = None
) -> go.Figure:
    """How the customers' scores spread (20 bins from 0 to 1), with the model's threshold: the
    customers right of the line are the ones it would contact."""
    values = np.asarray(scores, dtype=float)
    counts, edges = np.histogram(values, bins=20, range=(0.0, 1.0))
    above = edges[:-1] >= threshold
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=np.diff(edges) * 0.95,
            marker_color=[MODEL if a else BASELINE for a in above],
            customdata=np.column_stack([edges[:-1], edges[1:]]),
            hovertemplate="%{customdata[0]:.0%} to %{customdata[1]:.0%}: %{y:,} customers"
            "<extra></extra>",
        )
    )
    fig.add_vline(
        x=threshold,
        line_color=ACCENT,
        line_dash="dash",
        annotation_text=f"threshold {threshold:.0%}",
        annotation_position="top right",
    )
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    return style_results(fig, "Chance to convert (score)", "Customers", title)
