"""Figures of a recommender's output: one customer's list with its scores."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from personalization.charts.theme import HEIGHT, PRIMARY, empty_figure, style


def recommendation_scores(
    frame: pd.DataFrame | None, label: str = "title", score: str = "score"
) -> go.Figure:
    """Horizontal bars of recommendation scores, rank 1 on top; ``label`` names each item."""
    if frame is None or frame.empty:
        return empty_figure("Score", "Item", "No recommendations")
    data = frame.iloc[::-1]
    fig = px.bar(data, x=score, y=label, orientation="h", color_discrete_sequence=[PRIMARY])
    fig.update_traces(hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    style(fig, "Score (higher = stronger suggestion)", "Item")
    fig.update_layout(height=max(HEIGHT, 28 * len(data) + 60))
    return fig
