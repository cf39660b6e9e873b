"""Figures of the data profile: events per day and per type, missing values, activity quantiles.

Frames are tidy (as ``personalization.data.profile`` returns them) and may be empty or None; an
empty input gives an empty figure with a note, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from personalization.charts.theme import ACCENT, PRIMARY, empty_figure, style


def events_per_day(
    frame: pd.DataFrame | None, day: str = "day", count: str = "events"
) -> go.Figure:
    """Line of events per calendar day; ``frame`` has a date column ``day`` and a count ``count``."""
    if frame is None or frame.empty:
        return empty_figure("Day", "Events", "No timestamps to plot")
    fig = px.area(frame.sort_values(day), x=day, y=count, color_discrete_sequence=[PRIMARY])
    fig.update_traces(hovertemplate="%{x|%Y-%m-%d}: %{y:,} events<extra></extra>")
    return style(fig, "Day", "Events")


def events_per_type(counts: Mapping[str, int] | None) -> go.Figure:
    """Horizontal bars of events per event type (``counts``: type -> events), largest on top."""
    if not counts:
        return empty_figure("Events", "Event type", "No events")
    data = pd.DataFrame({"event_type": list(counts), "events": list(counts.values())})
    fig = px.bar(
        data.sort_values("events"),
        x="events",
        y="event_type",
        orientation="h",
        color_discrete_sequence=[PRIMARY],
        text="events",
    )
    fig.update_traces(texttemplate="%{text:,}", hovertemplate="%{y}: %{x:,}<extra></extra>")
    return style(fig, "Events", "Event type")


def nulls_per_column(columns: pd.DataFrame | None, rows: int) -> go.Figure:
    """Bars of the share of missing values per column; ``columns`` has ``column`` and ``nulls``."""
    if columns is None or columns.empty:
        return empty_figure("Missing values", "Column", "No columns")
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


def quantile_bars(quantiles: dict[str, float], x_title: str, y_title: str) -> go.Figure:
    """Bars of summary quantiles (``{"p50": 3, "p90": 12, ...}``) when no full distribution is kept."""
    if not quantiles:
        return empty_figure(x_title, y_title, "Nothing to show")
    data = pd.DataFrame({"quantile": list(quantiles), "value": list(quantiles.values())})
    fig = px.bar(data, x="quantile", y="value", color_discrete_sequence=[PRIMARY], text="value")
    fig.update_traces(texttemplate="%{text:,.0f}", hovertemplate="%{x}: %{y:,.1f}<extra></extra>")
    return style(fig, x_title, y_title)
