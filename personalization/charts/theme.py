"""The house look of every figure: the palette, the colour of each role, and the styling helpers.

Every builder in ``personalization.charts`` draws from ``PALETTE`` through the role colours below
and finishes its figure with ``style`` (data charts) or ``style_results`` (model results), so
that all pages look alike.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PALETTE = [
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#E45756",
    "#72B7B2",
    "#EECA3B",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#BAB0AC",
]
PRIMARY = PALETTE[0]
ACCENT = PALETTE[1]
POSITIVE = PALETTE[2]
NEGATIVE = PALETTE[3]
NEUTRAL = PALETTE[9]
MODEL = PRIMARY
BASELINE = NEUTRAL
UP = NEGATIVE
DOWN = PRIMARY
BEST = POSITIVE
SERIES = tuple(c for c in PALETTE if c != NEUTRAL)
SCALE = [[0.0, DOWN], [0.5, "#e5e7eb"], [1.0, UP]]
TEMPLATE = "plotly_white"
HEIGHT = 320
RESULTS_HEIGHT = 380


def style(fig: go.Figure, x_title: str, y_title: str, title: str | None = None) -> go.Figure:
    """Apply the house look: white template, both axes titled, compact margins, palette colours."""
    fig.update_layout(
        template=TEMPLATE,
        colorway=PALETTE,
        height=HEIGHT,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        title=title,
        showlegend=fig.layout.showlegend,
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def style_results(
    fig: go.Figure, x: str, y: str, title: str | None = None, height: int = RESULTS_HEIGHT
) -> go.Figure:
    """The look of model results: both axes titled, the title left-aligned, the legend on top."""
    heading = {
        "text": title,
        "x": 0,
        "xref": "paper",
        "y": 1,
        "yref": "container",
        "yanchor": "top",
        "pad": {"t": 12},
    }
    fig.update_layout(
        template=TEMPLATE,
        title=heading if title else None,
        height=height,
        margin={"l": 10, "r": 10, "t": 90 if title else 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
    )
    fig.update_xaxes(title_text=x)
    fig.update_yaxes(title_text=y)
    return fig


def empty_figure(x_title: str, y_title: str, note: str) -> go.Figure:
    """A figure with titled axes and ``note`` in the middle, for data that is missing or empty."""
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return style(fig, x_title, y_title)


def short_text(value: object) -> str:
    """A value as a bar label: numbers with 3 significant digits (thousands whole), NaN empty."""
    if isinstance(value, int | float | np.number) and not isinstance(value, bool):
        if value != value:
            return ""
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def rows_height(rows: int) -> int:
    """Figure height in pixels for ``rows`` horizontal bars or rows of dots (260 to 900)."""
    return int(min(max(260, 60 + 32 * rows), 900))
