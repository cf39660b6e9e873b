"""Figures of model runs of either kind: runs side by side, and the trials of a tuning search.

Data in (metric dicts, a frame of trials), a ``plotly`` figure out, both axes titled; colours from
``personalization.charts.theme`` (the model in ``MODEL``, a baseline in ``BASELINE``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from personalization.charts.theme import BASELINE, MODEL, SERIES, short_text, style_results


def metric_comparison(
    runs: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Grouped bars: one group per metric, one bar per run.

    ``runs`` maps a run label (a model id, "Popularity baseline") to its ``{metric: value}``;
    ``metrics`` picks and orders the metrics (default: every numeric one in the first run).
    A run named like a baseline is drawn grey.
    """
    labels = list(runs)
    if metrics is None:
        first = runs[labels[0]] if labels else {}
        metrics = [
            k for k, v in first.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
        ]
    fig = go.Figure()
    for i, label in enumerate(labels):
        values = [_number(runs[label].get(m)) for m in metrics]
        colour = BASELINE if "baseline" in label.lower() else SERIES[i % len(SERIES)]
        fig.add_bar(
            name=label,
            x=list(metrics),
            y=values,
            marker_color=colour,
            text=[short_text(v) for v in values],
            textposition="outside",
            hovertemplate="%{x}: %{y:.4f}<extra>" + label + "</extra>",
        )
    fig.update_layout(barmode="group")
    return style_results(fig, "Metric", "Value (higher is better)", title)


def trials_figure(
    trials: pd.DataFrame,
    value: str = "value",
    maximize: bool = True,
    label: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Each tuning trial's score as a dot and the best score so far as a step line.

    ``trials`` has one row per finished trial, in order, with a numeric ``value`` column;
    ``label`` titles the score axis (default: "Validation score (<value>)").
    """
    values = (
        pd.to_numeric(trials[value], errors="coerce") if len(trials) else pd.Series(dtype=float)
    )
    x = np.arange(1, len(values) + 1)
    best = values.cummax() if maximize else values.cummin()
    fig = go.Figure()
    fig.add_scatter(
        x=x, y=values, mode="markers", name="Trial", marker={"color": BASELINE, "size": 8}
    )
    fig.add_scatter(
        x=x,
        y=best,
        mode="lines",
        name="Best so far",
        line={"color": MODEL, "width": 3, "shape": "hv"},
    )
    fig.update_xaxes(dtick=max(1, len(x) // 10) if len(x) else 1)
    return style_results(fig, "Trial number", label or f"Validation score ({value})", title)


def _number(value: object) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
