"""Plotly figures of an evaluation run: quality, cost and diagnosis tags per setup, two runs side by side."""
from __future__ import annotations

import plotly.graph_objects as go

from workbench.answering import setups
from workbench.evaluation.metrics import COST_METRICS, RATE_METRICS, TAGS
from workbench.evaluation.scoring import RunScores


def _color(key: str) -> str | None:
    """The setup's chart colour; plotly's default for a setup no longer defined (an old run)."""
    return setups.setup(key).color if key in setups.keys() else None


def rates_figure(rs: RunScores) -> go.Figure:
    """Grouped bars: every rate metric (x) for every setup (colour), in percent."""
    fig = go.Figure()
    keys = [(k, lab) for k, lab in RATE_METRICS if any(getattr(s, k) is not None for s in rs.summaries.values())]
    for setup, s in rs.summaries.items():
        ys = [None if getattr(s, k) is None else 100 * getattr(s, k) for k, _ in keys]
        fig.add_bar(name=setups.short_label(setup), x=[lab for _, lab in keys], y=ys, marker_color=_color(setup),
                    text=[None if y is None else f"{y:.0f}" for y in ys], textposition="outside")
    fig.update_layout(barmode="group", yaxis=dict(title="%", range=[0, 110]), height=420,
                      title="Quality per setup (higher is better)", legend_title="Setup",
                      margin=dict(t=60, b=40))
    return fig


def cost_figures(rs: RunScores) -> list[go.Figure]:
    """One small bar chart per cost metric (latency, prompt and completion tokens)."""
    figs = []
    for key, label in COST_METRICS:
        shown = [s for s, v in rs.summaries.items() if getattr(v, key) is not None]
        if not shown:
            continue
        ys = [getattr(rs.summaries[s], key) for s in shown]
        fig = go.Figure(go.Bar(x=[setups.short_label(s) for s in shown], y=ys,
                               marker_color=[_color(s) for s in shown],
                               text=[f"{y:.2f}" if key == "latency_s" else f"{y:.0f}" for y in ys],
                               textposition="outside"))
        fig.update_layout(title=label, height=300, margin=dict(t=50, b=30), yaxis=dict(rangemode="tozero"))
        figs.append(fig)
    return figs


def tags_figure(rs: RunScores) -> go.Figure:
    """Stacked bars: how many answers of each setup carry each diagnosis tag."""
    fig = go.Figure()
    for tag in TAGS:
        ys = [sum(tag in sc.tags for (q, s), sc in rs.scores.items() if s == setup) for setup in rs.summaries]
        if any(ys):
            fig.add_bar(name=tag, x=[setups.short_label(s) for s in rs.summaries], y=ys)
    fig.update_layout(barmode="stack", title="Diagnosis tags per setup (answers)", height=360,
                      yaxis=dict(title="answers"), margin=dict(t=60, b=30))
    return fig


def compare_figure(a: RunScores, b: RunScores, metric: str = "correct") -> go.Figure:
    """One metric of two runs side by side per setup."""
    label = dict(RATE_METRICS).get(metric, metric)
    fig = go.Figure()
    for name, rs in (("A: " + a.record.run_id, a), ("B: " + b.record.run_id, b)):
        shown = list(rs.summaries)
        ys = [None if getattr(rs.summaries[s], metric) is None else 100 * getattr(rs.summaries[s], metric)
              for s in shown]
        fig.add_bar(name=name, x=[setups.short_label(s) for s in shown], y=ys,
                    text=[None if y is None else f"{y:.0f}" for y in ys], textposition="outside")
    fig.update_layout(barmode="group", title=f"{label}: run A vs run B", yaxis=dict(title="%", range=[0, 105]),
                      height=380)
    return fig


def judge_figure(means: dict[str, float]) -> go.Figure:
    """The LLM judge's mean score per setup (fractions shown as 0-100)."""
    fig = go.Figure(go.Bar(x=[setups.short_label(s) for s in means], y=[100 * v for v in means.values()]))
    fig.update_layout(title="LLM-judge score (0-100, judged by another model)", height=300,
                      yaxis=dict(range=[0, 105]))
    return fig


def yearly_cost_figure(costs: list) -> go.Figure:
    """Projected dollars per year per setup (decision.SetupCost rows)."""
    fig = go.Figure(go.Bar(x=[setups.short_label(c.setup) for c in costs], y=[c.year_usd for c in costs],
                           text=[f"${c.year_usd:,.0f}" for c in costs], textposition="outside"))
    fig.update_layout(title="Projected cost per year", yaxis=dict(title="$", rangemode="tozero"), height=320)
    return fig
