"""Plots of one arena turn: what each setup's answer cost."""
from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.answering import setups
from workbench.types import Answer


def cost_figure(answers: dict[str, Answer]) -> go.Figure:
    """Prompt/completion tokens (stacked) and latency/TTFT per setup, side by side."""
    done = [(s, a) for s, a in answers.items() if a.stats is not None]
    names = [setups.label(s) for s, _ in done]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Tokens", "Seconds"))
    prompt = [a.stats.prompt_tokens for _, a in done]
    # Completion stacked on prompt (same offsetgroup, base=prompt): the bar's height is the whole bill.
    fig.add_bar(x=names, y=prompt, name="prompt tokens", offsetgroup="tok", row=1, col=1)
    fig.add_bar(x=names, y=[a.stats.completion_tokens for _, a in done], base=prompt, offsetgroup="tok",
                name="completion tokens", row=1, col=1)
    fig.add_bar(x=names, y=[a.stats.ttft_s or 0.0 for _, a in done], name="time to first token", row=1, col=2)
    fig.add_bar(x=names, y=[a.stats.latency_s for _, a in done], name="total latency", row=1, col=2)
    fig.update_layout(barmode="group", height=340, margin=dict(l=10, r=10, t=70, b=10),
                      legend=dict(orientation="h", y=1.25, x=0))
    return fig


def votes_figure(wins: dict[str, int], rounds: dict[str, int]) -> go.Figure:
    """Blind-mode wins per setup, with the rounds each took part in on hover."""
    shown = [s for s in setups.keys() if rounds.get(s)]
    fig = go.Figure(go.Bar(x=[setups.label(s) for s in shown], y=[wins.get(s, 0) for s in shown],
                           customdata=[rounds[s] for s in shown],
                           hovertemplate="%{x}: %{y} wins in %{customdata} rounds<extra></extra>"))
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=30, b=10), title="Blind votes", yaxis_title="wins")
    return fig
