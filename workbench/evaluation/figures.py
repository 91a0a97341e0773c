"""Plotly figures of an evaluation run: rates with intervals, the ladder of paired differences, cost, tags, two runs."""
from __future__ import annotations

import plotly.graph_objects as go

from workbench.answering import setups
from workbench.evaluation.metrics import COST_METRICS, RATE_METRICS, TAGS
from workbench.evaluation.stats import Rate
from workbench.evaluation.scoring import RunScores


# One colour per diagnosis tag, fixed, so a tag looks the same in the app and in every export.
TAG_COLOURS = ("#d62728", "#ff7f0e", "#bcbd22", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f")


def _color(key: str) -> str | None:
    """The setup's chart colour; plotly's default for a setup no longer defined (an old run)."""
    return setups.setup(key).color if key in setups.keys() else None


def _bar_of_rates(rates: list[Rate | None]) -> dict:
    """y in percent, Wilson 95 % error bars and k/n hover text for a bar trace of rates (None: no bar)."""
    ys = [None if r is None else 100 * r.value for r in rates]
    lo = [None if r is None else 100 * (r.value - r.interval[0]) for r in rates]
    hi = [None if r is None else 100 * (r.interval[1] - r.value) for r in rates]
    hover = ["" if r is None else f"{r.text}<br>95 % interval {100 * r.interval[0]:.0f}-{100 * r.interval[1]:.0f}%"
             for r in rates]
    return dict(y=ys, error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, thickness=1.2, width=3),
                customdata=hover, hovertemplate="%{x}: %{customdata}<extra>%{fullData.name}</extra>",
                text=[None if r is None else f"{r.k}/{r.n}" for r in rates], textposition="inside")


def rates_figure(rs: RunScores) -> go.Figure:
    """Grouped bars: every rate metric (x) for every setup (colour), in percent, with Wilson 95 % intervals."""
    fig = go.Figure()
    keys = [(k, lab) for k, lab in RATE_METRICS if any(getattr(s, k) is not None for s in rs.summaries.values())]
    for setup, s in rs.summaries.items():
        fig.add_bar(name=setups.short_label(setup), x=[lab for _, lab in keys], marker_color=_color(setup),
                    **_bar_of_rates([getattr(s, k) for k, _ in keys]))
    fig.update_layout(barmode="group", yaxis=dict(title="%", range=[0, 105]), height=440,
                      title="Quality per setup, k/n with 95 % intervals (higher is better)", legend_title="Setup",
                      margin=dict(t=60, b=40))
    return fig


def ladder_figure(recommendation) -> go.Figure:
    """Forest plot: each measured rung's paired difference (points) with its 95 % bootstrap interval."""
    rungs = [r for r in recommendation.rungs if r.comparison is not None]
    colours = {"better": "#2ca02c", "worse": "#d62728"}
    fig = go.Figure()
    for r in reversed(rungs):  # plotly draws the first category at the bottom: the ladder climbs upwards
        c = r.comparison
        fig.add_scatter(
            x=[c.diff], y=[f"{r.name}<br>({r.outcome})"], mode="markers", showlegend=False,
            marker=dict(size=11, color=colours.get(r.verdict, "#7f7f7f")),
            error_x=dict(type="data", symmetric=False, array=[c.high - c.diff], arrayminus=[c.diff - c.low]),
            customdata=[[c.b.text, c.a.text, c.low, c.high, c.p_value, r.verdict, c.n]],
            hovertemplate=("%{y}: %{x:+.1f} points [%{customdata[2]:+.1f}, %{customdata[3]:+.1f}]<br>"
                           "%{customdata[0]} vs %{customdata[1]} on %{customdata[6]} questions<br>"
                           "McNemar p = %{customdata[4]:.3g}: %{customdata[5]}<extra></extra>"))
    fig.add_vline(x=0, line_dash="dash", line_color="#444")
    fig.update_layout(title="The ladder: paired difference per rung, points with 95 % interval (right of 0 = better)",
                      xaxis=dict(title="difference in points (B - A)", zeroline=False),
                      height=120 + 70 * max(1, len(rungs)), margin=dict(t=60, b=40, l=10))
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
            fig.add_bar(name=tag, x=[setups.short_label(s) for s in rs.summaries], y=ys,
                        marker_color=TAG_COLOURS[TAGS.index(tag) % len(TAG_COLOURS)])
    fig.update_layout(barmode="stack", title="Diagnosis tags per setup (an answer can carry several)", height=360,
                      yaxis=dict(title="tags"), margin=dict(t=60, b=30))
    return fig


def compare_figure(a: RunScores, b: RunScores, metric: str = "correct") -> go.Figure:
    """One rate of two runs side by side per setup, with Wilson 95 % intervals and k/n on hover."""
    label = dict(RATE_METRICS).get(metric, metric)
    fig = go.Figure()
    for name, rs in (("A: " + a.record.run_id, a), ("B: " + b.record.run_id, b)):
        shown = list(rs.summaries)
        fig.add_bar(name=name, x=[setups.short_label(s) for s in shown],
                    **_bar_of_rates([getattr(rs.summaries[s], metric) for s in shown]))
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
