"""Plotly figures for fine-tuning: training curves from metrics.jsonl, token-length histograms."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots


def training_curves(runs: dict[str, list[dict]]) -> go.Figure:
    """Loss and validation loss (top) and learning rate (bottom) per optimiser step, one colour per run."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.08,
                        subplot_titles=("Loss (completion tokens)", "Learning rate"))
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    multi = len(runs) > 1
    for i, (label, rows) in enumerate(runs.items()):
        color = palette[i % len(palette)]
        prefix = f"{label}: " if multi else ""
        train = [r for r in rows if r.get("loss") is not None]
        val = [r for r in rows if r.get("val_loss") is not None]
        fig.add_trace(go.Scatter(x=[r["step"] for r in train], y=[r["loss"] for r in train], mode="lines+markers",
                                 name=f"{prefix}training loss", line=dict(color=color)), row=1, col=1)
        if val:
            fig.add_trace(go.Scatter(x=[r["step"] for r in val], y=[r["val_loss"] for r in val],
                                     mode="lines+markers", name=f"{prefix}validation loss",
                                     line=dict(color=color, dash="dash"), marker=dict(symbol="diamond", size=9)),
                          row=1, col=1)
        fig.add_trace(go.Scatter(x=[r["step"] for r in train], y=[r.get("lr") for r in train], mode="lines",
                                 name=f"{prefix}learning rate", line=dict(color=color, dash="dot"),
                                 showlegend=not multi), row=2, col=1)
    fig.update_xaxes(title_text="optimiser step", row=2, col=1)
    fig.update_yaxes(title_text="cross-entropy", row=1, col=1)
    fig.update_yaxes(title_text="LR", exponentformat="e", row=2, col=1)
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.15))
    return fig


def length_histogram(lengths: list[int], max_seq_len: int) -> go.Figure:
    """Token lengths of the rendered examples, with the max sequence length marked."""
    over = sum(n > max_seq_len for n in lengths)
    fig = go.Figure(go.Histogram(x=lengths, nbinsx=40, marker_color="#1f77b4", name="examples"))
    fig.add_vline(x=max_seq_len, line_dash="dash", line_color="#d62728",
                  annotation_text=f"max_seq_len {max_seq_len} ({over} over)", annotation_position="top right")
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="tokens (prompt + completion)",
                      yaxis_title="examples", bargap=0.05, showlegend=False)
    return fig
