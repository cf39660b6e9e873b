"""Plotly figures for model results: data in, figure out.

Every builder takes plain arrays or tidy frames (as the library's metric, SHAP and lift functions
return them) and gives back a ``plotly.graph_objects.Figure`` with both axes titled. Nothing here
imports streamlit or reads storage. Colours come from ``personalization.charts.theme.PALETTE``: the model
in ``MODEL``, the baseline or random line in ``BASELINE``, raising and lowering effects in ``UP``
and ``DOWN``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from sklearn.calibration import calibration_curve
from sklearn.metrics import auc, precision_recall_curve, roc_curve

from personalization.charts.theme import (
    ACCENT,
    NEGATIVE,
    NEUTRAL,
    PALETTE,
    POSITIVE,
    PRIMARY,
    TEMPLATE,
)

MODEL = PRIMARY
BASELINE = NEUTRAL
UP = NEGATIVE
DOWN = PRIMARY
BEST = POSITIVE
SERIES = tuple(c for c in PALETTE if c != NEUTRAL)
SCALE = [[0.0, DOWN], [0.5, "#e5e7eb"], [1.0, UP]]


def style(fig: go.Figure, x: str, y: str, title: str | None = None, height: int = 380) -> go.Figure:
    """Give ``fig`` axis titles, the house template and a compact layout."""
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0, "xref": "paper", "y": 1, "yref": "container", "yanchor": "top",
               "pad": {"t": 12}} if title else None,
        height=height,
        margin={"l": 10, "r": 10, "t": 90 if title else 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=y)
    return fig


def metric_comparison(
    runs: Mapping[str, Mapping[str, float]], metrics: Sequence[str] | None = None, title: str | None = None
) -> go.Figure:
    """Grouped bars: one group per metric, one bar per run.

    ``runs`` maps a run label (a model id, "Popularity baseline") to its ``{metric: value}``;
    ``metrics`` picks and orders the metrics (default: every numeric one in the first run).
    A run named like a baseline is drawn grey.
    """
    labels = list(runs)
    if metrics is None:
        first = runs[labels[0]] if labels else {}
        metrics = [k for k, v in first.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    fig = go.Figure()
    for i, label in enumerate(labels):
        values = [_number(runs[label].get(m)) for m in metrics]
        colour = BASELINE if "baseline" in label.lower() else SERIES[i % len(SERIES)]
        fig.add_bar(
            name=label,
            x=list(metrics),
            y=values,
            marker_color=colour,
            text=[_short(v) for v in values],
            textposition="outside",
            hovertemplate="%{x}: %{y:.4f}<extra>" + label + "</extra>",
        )
    fig.update_layout(barmode="group")
    return style(fig, "Metric", "Value (higher is better)", title)


def roc_figure(y_true: Sequence, scores: Sequence, title: str | None = None) -> go.Figure:
    """ROC curve of ``scores`` against binary ``y_true`` (1 = converted), with the chance diagonal."""
    fpr, tpr, _ = roc_curve(np.asarray(y_true).astype(int), np.asarray(scores, dtype=float))
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="Random guess", line={"color": BASELINE, "dash": "dash"}
    )
    fig.add_scatter(
        x=fpr, y=tpr, mode="lines", name=f"Model (AUC {auc(fpr, tpr):.3f})", line={"color": MODEL, "width": 3}
    )
    fig.update_xaxes(range=[0, 1])
    fig.update_yaxes(range=[0, 1.02])
    return style(fig, "False positive rate (non-buyers flagged)", "True positive rate (buyers found)", title)


def pr_figure(y_true: Sequence, scores: Sequence, title: str | None = None) -> go.Figure:
    """Precision-recall curve with the base rate (what random targeting achieves) as a flat line."""
    y = np.asarray(y_true).astype(int)
    precision, recall, _ = precision_recall_curve(y, np.asarray(scores, dtype=float))
    base = float(y.mean()) if len(y) else 0.0
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[base, base], mode="lines", name=f"Base rate ({base:.1%})",
        line={"color": BASELINE, "dash": "dash"},
    )
    fig.add_scatter(
        x=recall, y=precision, mode="lines", name=f"Model (AP {auc(recall, precision):.3f})",
        line={"color": MODEL, "width": 3},
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return style(fig, "Recall: share of all buyers found", "Precision: share of flagged who buy", title)


def calibration_figure(
    y_true: Sequence, scores: Sequence, bins: int = 10, title: str | None = None
) -> go.Figure:
    """Predicted probability against the observed conversion rate, in ``bins`` quantile bins."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    observed, predicted = calibration_curve(y, s, n_bins=bins, strategy="quantile")
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="Perfectly calibrated", line={"color": BASELINE, "dash": "dash"}
    )
    fig.add_scatter(
        x=predicted, y=observed, mode="lines+markers", name="Model", line={"color": MODEL, "width": 3},
        hovertemplate="predicted %{x:.1%}<br>observed %{y:.1%}<extra></extra>",
    )
    top = float(max(np.max(predicted, initial=0), np.max(observed, initial=0), 0.05)) * 1.05
    fig.update_xaxes(range=[0, min(top, 1.0)], tickformat=".0%")
    fig.update_yaxes(range=[0, min(top, 1.0)], tickformat=".0%")
    return style(fig, "Predicted probability", "Observed conversion rate", title)


def trials_figure(
    trials: pd.DataFrame, value: str = "value", maximize: bool = True, label: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Each tuning trial's score as a dot and the best score so far as a step line.

    ``trials`` has one row per finished trial, in order, with a numeric ``value`` column;
    ``label`` titles the score axis (default: "Validation score (<value>)").
    """
    values = pd.to_numeric(trials[value], errors="coerce") if len(trials) else pd.Series(dtype=float)
    x = np.arange(1, len(values) + 1)
    best = values.cummax() if maximize else values.cummin()
    fig = go.Figure()
    fig.add_scatter(x=x, y=values, mode="markers", name="Trial", marker={"color": BASELINE, "size": 8})
    fig.add_scatter(
        x=x, y=best, mode="lines", name="Best so far", line={"color": MODEL, "width": 3, "shape": "hv"}
    )
    fig.update_xaxes(dtick=max(1, len(x) // 10) if len(x) else 1)
    return style(fig, "Trial number", label or f"Validation score ({value})", title)


def shap_bar(importance: pd.DataFrame, top: int = 15, title: str | None = None) -> go.Figure:
    """Horizontal bars of mean |SHAP| per feature (columns ``feature``, ``mean_abs_shap``), biggest on top."""
    data = importance.sort_values("mean_abs_shap", ascending=False).head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=data["mean_abs_shap"], y=data["feature"].astype(str), orientation="h", marker_color=MODEL,
            hovertemplate="%{y}: %{x:.4f}<extra></extra>",
        )
    )
    return style(fig, "Average impact on the score (mean |SHAP|)", "Feature", title, height=_rows_height(len(data)))


def beeswarm(
    points: pd.DataFrame,
    feature: str = "feature",
    shap: str = "shap",
    value: str = "value",
    top: int = 12,
    title: str | None = None,
) -> go.Figure:
    """One row of dots per feature: x = SHAP value, colour = feature value (low blue, high red).

    ``points`` is long: one row per (customer, feature). The colour is ``value_norm`` (0..1, NaN for
    categories) when the frame has it, else the value's rank within its feature; text values
    (categories) are shown grey. Features are ordered
    by mean |SHAP|, most important on top, and at most ``top`` are drawn.
    """
    norm = "value_norm" if "value_norm" in points else None
    data = points[[feature, shap, value] + ([norm] if norm else [])].copy()
    data[feature] = data[feature].astype(str)
    order = data.groupby(feature)[shap].apply(lambda s: s.abs().mean()).sort_values(ascending=False)
    keep = list(order.index[:top])
    data = data[data[feature].isin(keep)]
    data["colour"] = data[norm] if norm else data.groupby(feature)[value].transform(_rank_unit)
    rows = {name: i for i, name in enumerate(reversed(keep))}
    rng = np.random.default_rng(0)
    data["y"] = data[feature].map(rows) + rng.uniform(-0.3, 0.3, len(data))
    numeric = data[data["colour"].notna()]
    text = data[data["colour"].isna()]
    fig = go.Figure()
    fig.add_scatter(
        x=numeric[shap], y=numeric["y"], mode="markers", name="Feature value",
        marker={"color": numeric["colour"], "colorscale": SCALE, "cmin": 0, "cmax": 1, "size": 5,
                "opacity": 0.7, "colorbar": {"title": "Feature value", "tickvals": [0, 1],
                                             "ticktext": ["low", "high"]}},
        customdata=numeric[[feature, value]].astype(str).to_numpy(),
        hovertemplate="%{customdata[0]} = %{customdata[1]}<br>SHAP %{x:.3f}<extra></extra>",
        showlegend=False,
    )
    if len(text):
        fig.add_scatter(
            x=text[shap], y=text["y"], mode="markers", name="Category value",
            marker={"color": BASELINE, "size": 5, "opacity": 0.7},
            customdata=text[[feature, value]].astype(str).to_numpy(),
            hovertemplate="%{customdata[0]} = %{customdata[1]}<br>SHAP %{x:.3f}<extra></extra>",
        )
    fig.add_vline(x=0, line_color=BASELINE)
    fig.update_yaxes(tickvals=list(rows.values()), ticktext=list(rows), range=[-0.6, len(rows) - 0.4])
    return style(fig, "SHAP value (impact on the score; right = raises it)", "Feature", title,
                 height=_rows_height(len(rows)))


def dependence_figure(
    points: pd.DataFrame, feature: str, x: str = "value", y: str = "shap", title: str | None = None
) -> go.Figure:
    """Effect of one feature: its value (x) against its SHAP contribution (y), one dot per customer.

    A feature whose known values are mostly numbers is drawn as dots (missing values left out);
    otherwise one box per category, categories in order of their median effect.
    """
    data = points.copy()
    numeric = pd.to_numeric(data[x], errors="coerce")
    known = data[x].notna()
    fig = go.Figure()
    if known.any() and numeric[known].notna().mean() >= 0.9:
        keep = numeric.notna()
        fig.add_scatter(
            x=numeric[keep], y=data.loc[keep, y], mode="markers",
            marker={"color": MODEL, "size": 6, "opacity": 0.6}, name=feature,
            hovertemplate=f"{feature} = %{{x}}<br>effect %{{y:+.3f}}<extra></extra>",
        )
    else:
        labels = data[x].astype(object).where(known, "(missing)").astype(str)
        order = data[y].groupby(labels).median().sort_values().index.tolist()
        fig.add_box(x=labels, y=data[y], marker_color=MODEL, name=feature, boxpoints="all",
                    jitter=0.4, pointpos=0)
        fig.update_xaxes(categoryorder="array", categoryarray=order)
    fig.add_hline(y=0, line_color=BASELINE, line_dash="dash")
    label = "Effect on the score (SHAP; above 0 raises it)" if y == "shap" else y
    return style(fig, feature, label, title)


def waterfall_figure(
    contributions: pd.DataFrame, base_value: float, prediction: float | None = None, top: int = 10,
    output_space: str = "probability", title: str | None = None,
) -> go.Figure:
    """One customer's score built up from the average: the ``top`` biggest contributions, then the rest.

    ``contributions`` has ``feature``, ``value`` and ``shap`` in the model's output units
    (``output_space``: ``probability`` or ``log_odds``). Bars start at ``base_value`` (the average
    customer) and the last bar spans from there to ``prediction``. On the log-odds scale the axis
    is labelled in probabilities, so the bars stay additive and the ticks stay readable.
    """
    data = contributions.assign(size=contributions["shap"].abs()).sort_values("size", ascending=False)
    head, rest = data.head(top), data.iloc[top:]
    labels = ["Average customer"] + [f"{f} = {_short(v)}" for f, v in zip(head["feature"], head["value"], strict=False)]
    steps = [0.0] + [float(v) for v in head["shap"]]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        steps.append(float(rest["shap"].sum()))
    base = float(base_value)
    final = float(prediction) if prediction is not None else base + sum(steps)
    labels.append("This customer")
    measures = ["absolute"] + ["relative"] * (len(steps) - 1) + ["total"]
    text = [_as_probability(base, output_space)] + [f"{v:+.2f}" for v in steps[1:]]
    text.append(_as_probability(final, output_space))
    fig = go.Figure(
        go.Waterfall(
            orientation="h", y=labels, x=steps + [final - base], base=base, measure=measures,
            increasing={"marker": {"color": UP}}, decreasing={"marker": {"color": DOWN}},
            totals={"marker": {"color": BASELINE}}, text=text, textposition="outside",
            connector={"line": {"color": "#d1d5db"}},
        )
    )
    fig.add_vline(x=base, line_color=BASELINE, line_dash="dot")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    x_title = "Chance to convert (each bar adds or removes)"
    if output_space == "log_odds":
        ticks = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85,
                 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999]
        fig.update_xaxes(tickvals=[float(np.log(p / (1 - p))) for p in ticks],
                         ticktext=[f"{p:.1%}".replace(".0%", "%") for p in ticks])
        x_title = "Chance to convert (log-odds scale; bars add up)"
    else:
        fig.update_xaxes(tickformat=".0%")
    return style(fig, x_title, "Feature", title, height=_rows_height(len(labels)))


def _as_probability(value: float, output_space: str) -> str:
    p = 1 / (1 + np.exp(-value)) if output_space == "log_odds" else value
    return f"{p:.1%}"


def gains_figure(
    gains: pd.DataFrame, x: str = "share_contacted", y: str = "share_conversions", title: str | None = None
) -> go.Figure:
    """Cumulative gains: share of all conversions caught when contacting the top share of customers."""
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="Random targeting", line={"color": BASELINE, "dash": "dash"}
    )
    fig.add_scatter(
        x=gains[x], y=gains[y], mode="lines", name="Model", line={"color": MODEL, "width": 3},
        hovertemplate="contact top %{x:.0%}<br>catch %{y:.0%} of conversions<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    return style(fig, "Share of customers contacted (highest scores first)", "Share of all conversions caught",
                 title)


def lift_figure(
    curve: pd.DataFrame, x: str = "share_contacted", y: str = "lift", title: str | None = None
) -> go.Figure:
    """Cumulative lift by how deep the ranked list is contacted, with the random line at 1.

    ``curve`` has ``share_contacted`` (0..1) and ``lift`` (as ``lift.lift_curve`` returns).
    """
    fig = go.Figure()
    fig.add_scatter(
        x=[0, 1], y=[1.0, 1.0], mode="lines", name="Random targeting (1x)", line={"color": BASELINE, "dash": "dash"}
    )
    fig.add_scatter(
        x=curve[x], y=curve[y], mode="lines", name="Model", line={"color": MODEL, "width": 3},
        hovertemplate="top %{x:.0%}: %{y:.2f}x the conversions of random<extra></extra>",
    )
    fig.update_xaxes(range=[0, 1.0], tickformat=".0%")
    fig.update_yaxes(rangemode="tozero")
    return style(fig, "Share of customers contacted (highest scores first)", "Cumulative lift (x random)", title)


def decile_figure(deciles: pd.DataFrame, base_rate: float, title: str | None = None) -> go.Figure:
    """Conversion rate per score bin (bin 1 = highest scores) against the overall rate."""
    fig = go.Figure(
        go.Bar(
            x=deciles["bin"].astype(int), y=deciles["rate"], marker_color=MODEL, name="Conversion rate",
            text=[f"{v:.0%}" if v >= 0.1 else f"{v:.1%}" for v in deciles["rate"]], textposition="outside",
            customdata=deciles[["customers", "lift"]].to_numpy(),
            hovertemplate="bin %{x}: %{y:.1%} convert<br>%{customdata[0]:,} customers, "
            "lift %{customdata[1]:.2f}x<extra></extra>",
        )
    )
    fig.add_hline(y=base_rate, line_color=BASELINE, line_dash="dash", annotation_text=f"overall {base_rate:.1%}")
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return style(fig, "Score bin (1 = highest scores)", "Conversion rate", title)


def segment_lift_figure(
    segments: pd.DataFrame, base_rate: float | None = None, value: str = "lift", title: str | None = None
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
            "type": "data", "symmetric": False, "color": "#374151",
            "array": (data["ci_high"] / scale - data[value]).clip(lower=0),
            "arrayminus": (data[value] - data["ci_low"] / scale).clip(lower=0),
        }
    colours = [MODEL if v >= 1 else BASELINE for v in data[value].fillna(0)]
    fig = go.Figure(
        go.Bar(
            x=data["segment"].astype(str), y=data[value], error_y=error, marker_color=colours,
            text=[f"n={int(n):,}" for n in data["customers"]], textposition="inside",
            insidetextanchor="start",
            hovertemplate="%{x}<br>lift %{y:.2f}x<br>%{text}<extra></extra>",
        )
    )
    fig.add_hline(y=1, line_color=BASELINE, line_dash="dash", annotation_text="random (1x)")
    return style(fig, "Segment", "Lift (x the overall conversion rate)", title)


def profit_figure(
    simulation: pd.DataFrame, x: str = "share_contacted", y: str = "profit", chosen: float | None = None,
    title: str | None = None,
) -> go.Figure:
    """Profit by how deep the list is contacted, with the most profitable cut-off marked.

    ``chosen`` (a share 0..1) draws the user's own cut-off as a dotted vertical line.

    The marked cut-off is the row flagged ``best`` when the frame has that column (as
    ``lift.targeting_simulation`` gives it, respecting a budget), else the highest ``y``.
    """
    fig = go.Figure()
    fig.add_scatter(
        x=simulation[x], y=simulation[y], mode="lines+markers", name="Profit", line={"color": MODEL, "width": 3},
        hovertemplate="contact top %{x:.0%}<br>profit %{y:,.0f}<extra></extra>",
    )
    if "within_budget" in simulation and not simulation["within_budget"].all():
        over = simulation[~simulation["within_budget"]]
        fig.add_scatter(x=over[x], y=over[y], mode="markers", name="Over budget",
                        marker={"color": BASELINE, "size": 9, "symbol": "x"})
    flagged = simulation[simulation["best"]] if "best" in simulation else simulation.iloc[0:0]
    if len(simulation):
        best = flagged.iloc[0] if len(flagged) else simulation.loc[simulation[y].idxmax()]
        fig.add_scatter(
            x=[best[x]], y=[best[y]], mode="markers+text", name="Best cut-off",
            marker={"color": BEST, "size": 16, "symbol": "star"},
            text=[f"best: top {best[x]:.0%}"], textposition="top center",
        )
    fig.add_hline(y=0, line_color=BASELINE, line_dash="dash")
    if chosen is not None:
        fig.add_vline(x=chosen, line_color=ACCENT, line_dash="dot", annotation_text="your plan",
                      annotation_position="bottom right")
    fig.update_xaxes(tickformat=".0%")
    return style(fig, "Share of customers contacted (highest scores first)", "Profit (value - cost)", title)


def _rank_unit(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() < max(1, len(values) // 2):
        return pd.Series(np.nan, index=values.index)
    return numeric.rank(pct=True)


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _short(value) -> str:
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        if value != value:
            return ""
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def _rows_height(rows: int) -> int:
    return int(min(max(260, 60 + 32 * rows), 900))
