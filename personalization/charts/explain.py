"""Figures of why a conversion model scores as it does (SHAP): each feature's share of the moves
(``share_bar``), the beeswarm of every customer, one feature's effect, and one customer's
waterfall.

Inputs are the tidy frames of ``personalization.propensity``'s explanations (``feature``,
``shap``, ``value``); raising effects are drawn in ``UP``, lowering ones in ``DOWN``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy.special import expit, logit

from personalization.charts.theme import (
    BASELINE,
    DOWN,
    MODEL,
    SCALE,
    UP,
    rows_height,
    short_text,
    style_results,
)


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
        x=numeric[shap],
        y=numeric["y"],
        mode="markers",
        name="Feature value",
        marker={
            "color": numeric["colour"],
            "colorscale": SCALE,
            "cmin": 0,
            "cmax": 1,
            "size": 5,
            "opacity": 0.7,
            "colorbar": {"title": "Feature value", "tickvals": [0, 1], "ticktext": ["low", "high"]},
        },
        customdata=numeric[[feature, value]].astype(str).to_numpy(),
        hovertemplate="%{customdata[0]} = %{customdata[1]}<br>SHAP %{x:.3f}<extra></extra>",
        showlegend=False,
    )
    if len(text):
        fig.add_scatter(
            x=text[shap],
            y=text["y"],
            mode="markers",
            name="Category value",
            marker={"color": BASELINE, "size": 5, "opacity": 0.7},
            customdata=text[[feature, value]].astype(str).to_numpy(),
            hovertemplate="%{customdata[0]} = %{customdata[1]}<br>SHAP %{x:.3f}<extra></extra>",
        )
    fig.add_vline(x=0, line_color=BASELINE)
    fig.update_yaxes(
        tickvals=list(rows.values()), ticktext=list(rows), range=[-0.6, len(rows) - 0.4]
    )
    return style_results(
        fig,
        "SHAP value (impact on the score; right = raises it)",
        "Feature",
        title,
        height=rows_height(len(rows)),
    )


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
            x=numeric[keep],
            y=data.loc[keep, y],
            mode="markers",
            marker={"color": MODEL, "size": 6, "opacity": 0.6},
            name=feature,
            hovertemplate=f"{feature} = %{{x}}<br>effect %{{y:+.3f}}<extra></extra>",
        )
    else:
        labels = data[x].astype(object).where(known, "(missing)").astype(str)
        order = data[y].groupby(labels).median().sort_values().index.tolist()
        fig.add_box(
            x=labels,
            y=data[y],
            marker_color=MODEL,
            name=feature,
            boxpoints="all",
            jitter=0.4,
            pointpos=0,
        )
        fig.update_xaxes(categoryorder="array", categoryarray=order)
    fig.add_hline(y=0, line_color=BASELINE, line_dash="dash")
    label = "Effect on the score (SHAP; above 0 raises it)" if y == "shap" else y
    return style_results(fig, feature, label, title)


def waterfall_figure(
    contributions: pd.DataFrame,
    base_value: float,
    prediction: float | None = None,
    top: int = 10,
    output_space: str = "probability",
    title: str | None = None,
) -> go.Figure:
    """One customer's score built up from the average: the ``top`` biggest contributions, then the rest.

    ``contributions`` has ``feature``, ``value`` and ``shap`` in the model's output units
    (``output_space``: ``probability`` or ``log_odds``). Bars start at ``base_value`` (the average
    customer) and the last bar spans from there to ``prediction``. On the log-odds scale the axis
    is labelled in probabilities, so the bars stay additive and the ticks stay readable.
    """
    data = contributions.assign(size=contributions["shap"].abs()).sort_values(
        "size", ascending=False
    )
    head, rest = data.head(top), data.iloc[top:]
    labels = ["Average customer"] + [
        f"{f} = {short_text(v)}" for f, v in zip(head["feature"], head["value"], strict=False)
    ]
    steps = [0.0] + [float(v) for v in head["shap"]]
    if len(rest):
        labels.append(f"{len(rest)} other features")
        steps.append(float(rest["shap"].sum()))
    base = float(base_value)
    final = float(prediction) if prediction is not None else base + sum(steps)
    labels.append("This customer")
    measures = ["absolute"] + ["relative"] * (len(steps) - 1) + ["total"]
    text = [_percent(base, output_space)] + [f"{v:+.2f}" for v in steps[1:]]
    text.append(_percent(final, output_space))
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=labels,
            x=steps + [final - base],
            base=base,
            measure=measures,
            increasing={"marker": {"color": UP}},
            decreasing={"marker": {"color": DOWN}},
            totals={"marker": {"color": BASELINE}},
            text=text,
            textposition="outside",
            connector={"line": {"color": "#d1d5db"}},
        )
    )
    fig.add_vline(x=base, line_color=BASELINE, line_dash="dot")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    x_title = "Chance to convert (each bar adds or removes)"
    if output_space == "log_odds":
        ticks = [
            0.001,
            0.002,
            0.005,
            0.01,
            0.02,
            0.03,
            0.05,
            0.1,
            0.15,
            0.2,
            0.3,
            0.4,
            0.5,
            0.6,
            0.7,
            0.8,
            0.85,
            0.9,
            0.95,
            0.97,
            0.98,
            0.99,
            0.995,
            0.999,
        ]
        fig.update_xaxes(
            tickvals=[float(logit(p)) for p in ticks],
            ticktext=[f"{p:.1%}".replace(".0%", "%") for p in ticks],
        )
        x_title = "Chance to convert (log-odds scale; bars add up)"
    else:
        fig.update_xaxes(tickformat=".0%")
    return style_results(fig, x_title, "Feature", title, height=rows_height(len(labels)))


def _percent(value: float, output_space: str) -> str:
    """A score in ``output_space`` (``probability`` or ``log_odds``) as a percentage."""
    return f"{float(expit(value)) if output_space == 'log_odds' else value:.1%}"


def _rank_unit(values: pd.Series) -> pd.Series:
    numeric = pd.to_numeric(values, errors="coerce")
    if numeric.notna().sum() < max(1, len(values) // 2):
        return pd.Series(np.nan, index=values.index)
    return numeric.rank(pct=True)


def share_bar(importance: pd.DataFrame, top: int = 15, title: str | None = None) -> go.Figure:
    """Horizontal bars of each column's share of the explanation (``feature``, ``share`` 0..1, as
    ``propensity.explain.with_shares`` gives), biggest on top, labelled in percent."""
    data = importance.sort_values("share", ascending=False).head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=data["share"],
            y=data["feature"].astype(str),
            orientation="h",
            marker_color=MODEL,
            text=[f"{s:.0%}" for s in data["share"]],
            textposition="outside",
            hovertemplate="%{y}: %{x:.1%} of the explanation<extra></extra>",
        )
    )
    top_share = float(data["share"].max()) if len(data) else 1.0
    fig.update_xaxes(tickformat=".0%", range=[0, top_share * 1.18])  # room for the labels
    return style_results(
        fig,
        "Share of what moves the chance",
        "Column",
        title,
        height=rows_height(len(data)),
    )


def chance_waterfall(
    steps: pd.DataFrame,
    average_rate: float,
    model_average: float,
    chance: float,
    top: int = 10,
    title: str | None = None,
) -> go.Figure:
    """One customer's chance built up from the real conversion rate, in percent.

    ``steps`` has ``feature``, ``value`` and ``change`` (chance points, in the order to draw, as
    ``propensity.explain.chance_steps`` gives). The first bar is the real rate, then the model's
    average against it (left out when under half a point), the ``top`` steps, the rest summed,
    and the customer's chance; the bars add up exactly.
    """
    head, rest = steps.head(top), steps.iloc[top:]
    labels, moves = ["Average customer (real rate)"], [float(average_rate)]
    if abs(model_average - average_rate) >= 0.005:
        labels.append("Model's average vs the real rate")
        moves.append(float(model_average - average_rate))
    labels += [
        f"{f} = {short_text(v)}" for f, v in zip(head["feature"], head["value"], strict=True)
    ]
    moves += [float(c) for c in head["change"]]
    if len(rest):
        labels.append(f"{len(rest)} other columns")
        moves.append(float(rest["change"].sum()))
    labels.append("This customer")
    text = [f"{moves[0]:.1%}"] + [f"{m * 100:+.1f} pts" for m in moves[1:]] + [f"{chance:.1%}"]
    fig = go.Figure(
        go.Waterfall(
            orientation="h",
            y=labels,
            x=moves + [float(chance)],
            measure=["absolute"] + ["relative"] * (len(moves) - 1) + ["total"],
            increasing={"marker": {"color": UP}},
            decreasing={"marker": {"color": DOWN}},
            totals={"marker": {"color": BASELINE}},
            text=text,
            textposition="outside",
            connector={"line": {"color": "#d1d5db"}},
        )
    )
    fig.add_vline(x=float(average_rate), line_color=BASELINE, line_dash="dot")
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickformat=".0%")
    fig.update_layout(showlegend=False)
    return style_results(
        fig,
        "Chance to convert (each bar adds or removes points)",
        "Column",
        title,
        height=rows_height(len(labels)),
    )
