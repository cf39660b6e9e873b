"""Figures of the Monitor page: drift per feature, one feature's two distributions, metric
timelines, approval, and campaign readouts with their intervals. Data in, figure out."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from personalization.charts.theme import (
    ACCENT,
    BASELINE,
    MODEL,
    NEGATIVE,
    NEUTRAL,
    POSITIVE,
    PRIMARY,
    SERIES,
    empty_figure,
    rows_height,
    style,
)

LEVEL_COLOURS = {"act": NEGATIVE, "watch": ACCENT, "none": NEUTRAL}


def drift_figure(
    features: pd.DataFrame, watch: float = 0.1, act: float = 0.25, title: str | None = None
) -> go.Figure:
    """Horizontal PSI bars per feature (``feature``, ``psi``, ``drift``), coloured by level, with
    the watch and act thresholds as dashed lines; the most drifted on top."""
    if features.empty:
        return empty_figure("PSI", "Feature", "No feature to compare")
    shown = features.iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=shown["psi"],
            y=shown["feature"].astype(str),
            orientation="h",
            marker_color=[LEVEL_COLOURS.get(level, NEUTRAL) for level in shown["drift"]],
            hovertemplate="%{y}: PSI %{x:.3f}<extra></extra>",
        )
    )
    for value, colour in ((watch, ACCENT), (act, NEGATIVE)):
        fig.add_vline(x=value, line_dash="dash", line_color=colour)
    fig = style(fig, "PSI (population stability index)", "Feature", title)
    fig.update_layout(height=max(260, rows_height(len(features))))
    return fig


def overlay_figure(
    reference: pd.Series, current: pd.Series, numeric: bool, title: str | None = None
) -> go.Figure:
    """One feature's reference and current distributions: overlaid normalised histograms for
    numbers, side-by-side shares per category otherwise."""
    fig = go.Figure()
    for name, values, colour in (
        ("Reference", reference, BASELINE),
        ("Current", current, MODEL),
    ):
        values = values.dropna()
        if numeric:
            fig.add_trace(
                go.Histogram(
                    x=values, name=name, histnorm="probability", opacity=0.6, marker_color=colour
                )
            )
        else:
            shares = values.astype(str).value_counts(normalize=True).head(30)
            fig.add_trace(
                go.Bar(x=shares.index, y=shares.to_numpy(), name=name, marker_color=colour)
            )
    fig.update_layout(barmode="overlay" if numeric else "group", showlegend=True)
    return style(fig, str(reference.name or "value"), "Share of rows", title)


def timeline_figure(
    frame: pd.DataFrame, x: str, lines: Mapping[str, str], y_title: str, title: str | None = None
) -> go.Figure:
    """Lines over time: ``lines`` maps a column of ``frame`` to its legend label; columns whose
    label names a baseline are dashed."""
    if frame.empty:
        return empty_figure(x, y_title, "No window to show yet")
    fig = go.Figure()
    for n, (column, label) in enumerate(lines.items()):
        if column not in frame.columns:
            continue
        dashed = "baseline" in label.lower()
        fig.add_trace(
            go.Scatter(
                x=frame[x],
                y=frame[column],
                name=label,
                mode="lines+markers",
                line={"dash": "dash" if dashed else "solid", "color": SERIES[n % len(SERIES)]},
            )
        )
    fig.update_layout(showlegend=True)
    return style(fig, "Window", y_title, title)


def approval_figure(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Thumbs up and down per model, stacked (``model_id``, ``up``, ``down``)."""
    rows = table[table["up"] + table["down"] > 0] if len(table) else table
    if rows.empty:
        return empty_figure("Model", "Ratings", "No thumbs given yet")
    fig = go.Figure(
        [
            go.Bar(x=rows["model_id"], y=rows["up"], name="Thumbs up", marker_color=POSITIVE),
            go.Bar(x=rows["model_id"], y=rows["down"], name="Thumbs down", marker_color=NEGATIVE),
        ]
    )
    fig.update_layout(barmode="stack", showlegend=True)
    return style(fig, "Model", "Ratings", title)


def readout_figure(result: Mapping, title: str | None = None) -> go.Figure:
    """Relative lift with its 95% interval, overall and per segment (a readout's dict)."""
    rows = [{"segment": "All customers", **result}] + list(result.get("segments") or [])
    rows = [r for r in rows if r.get("lift") is not None]
    if not rows:
        return empty_figure("Lift", "Group", "No lift yet: a group has no conversion")
    frame = pd.DataFrame(rows).iloc[::-1]
    low = (frame["lift"] - frame["ci_low"]).fillna(0) * 100
    high = (frame["ci_high"] - frame["lift"]).fillna(0) * 100
    fig = go.Figure(
        go.Scatter(
            x=frame["lift"] * 100,
            y=frame["segment"].astype(str),
            mode="markers",
            marker={"size": 11, "color": PRIMARY},
            error_x={"type": "data", "array": high, "arrayminus": low, "visible": True},
            hovertemplate="%{y}: %{x:.1f}%<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_dash="dash", line_color=NEUTRAL)
    fig = style(fig, "Lift of treated over control (%, 95% interval)", "Group", title)
    fig.update_layout(height=max(220, rows_height(len(frame))))
    return fig
