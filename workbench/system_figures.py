"""Plotly figures of the System page: storage use per folder."""
from __future__ import annotations

import plotly.graph_objects as go

from workbench.system import human_bytes


def storage_figure(usage: dict[str, int]) -> go.Figure:
    """Horizontal bars: bytes per storage folder, labelled in human units."""
    fig = go.Figure(go.Bar(x=list(usage.values()), y=list(usage.keys()), orientation="h",
                           text=[human_bytes(v) for v in usage.values()]))
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=10, b=0), xaxis_title="bytes")
    return fig
