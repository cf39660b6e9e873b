"""Plotly figure builders for the dashboard: data in, figure out (no streamlit here).

Every figure labels both axes and draws from ``PALETTE`` so that all pages look alike. Frames
are tidy and may be empty; an empty frame gives an empty figure with a note, never an error.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
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
TEMPLATE = "plotly_white"
HEIGHT = 320


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


def _empty(x_title: str, y_title: str, note: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=note, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return style(fig, x_title, y_title)
