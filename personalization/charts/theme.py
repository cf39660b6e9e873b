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


def events_per_day(frame: pd.DataFrame, day: str = "day", count: str = "events") -> go.Figure:
    """Line of events per calendar day; ``frame`` has a date column ``day`` and a count ``count``."""
    if frame is None or frame.empty:
        return _empty("Day", "Events", "No timestamps to plot")
    fig = px.area(frame.sort_values(day), x=day, y=count, color_discrete_sequence=[PRIMARY])
    fig.update_traces(hovertemplate="%{x|%Y-%m-%d}: %{y:,} events<extra></extra>")
    return style(fig, "Day", "Events")


def events_per_type(frame: pd.DataFrame, kind: str = "event_type", count: str = "events") -> go.Figure:
    """Horizontal bars of events per event type, largest on top."""
    if frame is None or frame.empty:
        return _empty("Events", "Event type", "No events")
    data = frame.sort_values(count)
    fig = px.bar(data, x=count, y=kind, orientation="h", color_discrete_sequence=[PRIMARY], text=count)
    fig.update_traces(texttemplate="%{text:,}", hovertemplate="%{y}: %{x:,}<extra></extra>")
    return style(fig, "Events", "Event type")


def nulls_per_column(columns: pd.DataFrame, rows: int) -> go.Figure:
    """Bars of the share of missing values per column; ``columns`` has ``column`` and ``nulls``."""
    if columns is None or columns.empty:
        return _empty("Missing values", "Column", "No columns")
    data = columns[["column", "nulls"]].copy()
    data["share"] = data["nulls"] / max(int(rows), 1)
    fig = px.bar(
        data.iloc[::-1],
        x="share",
        y="column",
        orientation="h",
        color_discrete_sequence=[ACCENT],
        custom_data=["nulls"],
    )
    fig.update_traces(hovertemplate="%{y}: %{customdata[0]:,} missing (%{x:.1%})<extra></extra>")
    fig.update_xaxes(tickformat=".0%", range=[0, 1])
    return style(fig, "Share of rows missing", "Column")


def interactions_histogram(counts: pd.Series | pd.DataFrame) -> go.Figure:
    """How many users have how many interactions.

    ``counts`` is either one number per user, or a frame with ``interactions`` and ``users``
    (already binned); the x axis is logarithmic when the counts span more than two decades.
    """
    if counts is None or len(counts) == 0:
        return _empty("Interactions per user", "Users", "No users")
    if isinstance(counts, pd.DataFrame):
        fig = px.bar(counts, x="interactions", y="users", color_discrete_sequence=[PRIMARY])
    else:
        fig = px.histogram(x=counts, nbins=40, color_discrete_sequence=[PRIMARY])
    fig.update_traces(hovertemplate="%{x} interactions: %{y:,} users<extra></extra>")
    return style(fig, "Interactions per user", "Users")


def quantile_bars(quantiles: dict[str, float], x_title: str, y_title: str) -> go.Figure:
    """Bars of summary quantiles (``{"p50": 3, "p90": 12, ...}``) when no full distribution is kept."""
    if not quantiles:
        return _empty(x_title, y_title, "Nothing to show")
    data = pd.DataFrame({"quantile": list(quantiles), "value": list(quantiles.values())})
    fig = px.bar(data, x="quantile", y="value", color_discrete_sequence=[PRIMARY], text="value")
    fig.update_traces(texttemplate="%{text:,.0f}", hovertemplate="%{x}: %{y:,.1f}<extra></extra>")
    return style(fig, x_title, y_title)


def recommendation_scores(frame: pd.DataFrame, label: str = "title", score: str = "score") -> go.Figure:
    """Horizontal bars of recommendation scores, rank 1 on top; ``label`` names each item."""
    if frame is None or frame.empty:
        return _empty("Score", "Item", "No recommendations")
    data = frame.iloc[::-1]
    fig = px.bar(data, x=score, y=label, orientation="h", color_discrete_sequence=[PRIMARY])
    fig.update_traces(hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    style(fig, "Score (higher = stronger suggestion)", "Item")
    fig.update_layout(height=max(HEIGHT, 28 * len(data) + 60))
    return fig
