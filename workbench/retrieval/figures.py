"""Plotly figures for the retrieval pages: embedding map, metrics per mode, sweep heatmap."""
from __future__ import annotations

import textwrap
from collections.abc import Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from workbench.retrieval.evaluate import ModeSummary
from workbench.retrieval.metrics import label as metric_label
from workbench.retrieval.projection import Projection
from workbench.retrieval.sweep_choice import ConfigScore

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#B279A2", "#E45756", "#72B7B2", "#EECA3B", "#9D755D",
           "#FF9DA6", "#BAB0AC"]


def _hover(text: str, width: int = 70, limit: int = 400) -> str:
    short = text[:limit] + ("..." if len(text) > limit else "")
    return "<br>".join(textwrap.wrap(short.replace("\n", " "), width))


def embedding_map(p: Projection, retrieved_ids: Sequence[str] = ()) -> go.Figure:
    """Chunks coloured by document; retrieved chunks ringed and numbered; the query as a star."""
    fig = go.Figure()
    docs = sorted({c.doc_name for c in p.chunks})
    rank_of = {cid: i + 1 for i, cid in enumerate(retrieved_ids)}
    Scatter = go.Scattergl if len(p.chunks) > 1000 else go.Scatter  # WebGL keeps thousands of points fluid
    for i, doc in enumerate(docs):
        rows = [j for j, c in enumerate(p.chunks) if c.doc_name == doc]
        fig.add_trace(Scatter(
            x=p.xy[rows, 0], y=p.xy[rows, 1], mode="markers", name=doc,
            marker=dict(size=7, color=PALETTE[i % len(PALETTE)], opacity=0.75),
            text=[f"<b>{doc}</b> #{p.chunks[j].index}<br>{_hover(p.chunks[j].text)}" for j in rows],
            hovertemplate="%{text}<extra></extra>"))
    hit_rows = [j for j, c in enumerate(p.chunks) if c.chunk_id in rank_of]
    if hit_rows:
        fig.add_trace(go.Scatter(
            x=p.xy[hit_rows, 0], y=p.xy[hit_rows, 1], mode="markers+text", name="retrieved",
            text=[str(rank_of[p.chunks[j].chunk_id]) for j in hit_rows], textposition="top center",
            marker=dict(size=15, color="rgba(0,0,0,0)", line=dict(color="#d62728", width=2.5)),
            hovertext=[f"<b>rank {rank_of[p.chunks[j].chunk_id]}</b> {p.chunks[j].doc_name}<br>"
                       f"{_hover(p.chunks[j].text)}" for j in hit_rows],
            hovertemplate="%{hovertext}<extra></extra>"))
    if p.query_xy is not None:
        fig.add_trace(go.Scatter(x=[p.query_xy[0]], y=[p.query_xy[1]], mode="markers", name="query",
                                 marker=dict(symbol="star", size=20, color="#d62728",
                                             line=dict(color="black", width=1)),
                                 hovertemplate="query<extra></extra>"))
    fig.update_layout(height=520, margin=dict(l=10, r=10, t=40, b=10), legend=dict(itemsizing="constant"),
                      title=f"{p.method} projection of {len(p.chunks):,} chunks")
    fig.update_xaxes(title=f"{p.method} 1", showticklabels=False)
    fig.update_yaxes(title=f"{p.method} 2", showticklabels=False)
    return fig


def metrics_by_mode(summaries: Sequence[ModeSummary]) -> go.Figure:
    """Grouped bars: gold passage retrieved@k, MRR and nDCG@k for each retrieval mode."""
    fig = go.Figure()
    modes = [s.mode for s in summaries]
    k = summaries[0].k if summaries else 0
    for i, attr in enumerate(("hit_at_k", "mrr", "ndcg")):
        label = metric_label(attr, k)
        vals = [getattr(s, attr) for s in summaries]
        # The gold passage rate is a count of questions: shown as k/n, like every rate.
        text = ([f"{round(s.hit_at_k * s.n_questions)}/{s.n_questions}" for s in summaries] if attr == "hit_at_k"
                else [f"{v:.2f}" for v in vals])
        fig.add_trace(go.Bar(x=modes, y=vals, name=label, marker_color=PALETTE[i], text=text,
                             textposition="outside"))
    fig.update_layout(barmode="group", height=380, yaxis=dict(range=[0, 1.1], title="score"),
                      margin=dict(l=10, r=10, t=30, b=10), title="Retrieval quality per mode")
    return fig


def gold_rank_histogram(rows, depth: int) -> go.Figure:
    """Where the gold passage ranked, per mode (beyond the depth read counts as 'missed')."""
    fig = go.Figure()
    modes = list(dict.fromkeys(r.mode for r in rows))
    cats = [str(i) for i in range(1, depth + 1)] + ["missed"]
    for i, m in enumerate(modes):
        counts = {c: 0 for c in cats}
        for r in rows:
            if r.mode == m:
                counts[str(r.gold_rank) if r.gold_rank else "missed"] += 1
        fig.add_trace(go.Bar(x=cats, y=[counts[c] for c in cats], name=m, marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_layout(barmode="group", height=320, margin=dict(l=10, r=10, t=30, b=10),
                      xaxis_title="rank of the first gold passage", yaxis_title="questions",
                      title="Gold passage rank")
    return fig


SWEEP_METRICS = {"held_budget": "gold passage within the budget", "held_mrr": "MRR@k",
                 "held_hit": "gold passage retrieved@k"}


def sweep_heatmap(rows: Sequence[ConfigScore], metric: str, k: int, where: str = "held out") -> go.Figure:
    """chunk size x overlap heatmap of `metric` (a SWEEP_METRICS key) at `k` on the `where` questions, one panel
    per strategy."""
    rows = [r for r in rows if r.k == k]
    strategies = sorted({r.strategy for r in rows})
    fig = make_subplots(rows=1, cols=max(1, len(strategies)), subplot_titles=strategies, shared_yaxes=True)
    label = SWEEP_METRICS[metric]

    def share(r: ConfigScore) -> int:
        return round(100 * r.chunk_overlap / r.chunk_size)  # the grid asks for overlaps as a share of the size

    for i, s in enumerate(strategies):
        mine = [r for r in rows if r.strategy == s]
        sizes = sorted({r.chunk_size for r in mine})
        overlaps = sorted({share(r) for r in mine})
        z, txt = [], []
        for ov in overlaps:
            line, tl = [], []
            for size in sizes:
                hit = next((r for r in mine if r.chunk_size == size and share(r) == ov), None)
                line.append(getattr(hit, metric) if hit else None)
                # The tie mark says which cells the data cannot tell from the best.
                tl.append(f"{getattr(hit, metric):.2f}{' =' if hit.tie else ''}" if hit else "")
            z.append(line)
            txt.append(tl)
        fig.add_trace(go.Heatmap(z=z, x=[str(x) for x in sizes], y=[f"{y}%" for y in overlaps], text=txt,
                                 texttemplate="%{text}", zmin=0, zmax=1, colorscale="Viridis",
                                 showscale=i == 0, colorbar=dict(title="score"),
                                 hovertemplate=f"size %{{x}}<br>overlap %{{y}}<br>{label} %{{z:.3f}}<extra>{s}</extra>"),
                      row=1, col=i + 1)
        fig.update_xaxes(title_text=f"chunk size ({rows[0].unit})", type="category", row=1, col=i + 1)
    fig.update_yaxes(title_text="overlap (share of size)", type="category", row=1, col=1)
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=40, b=10),
                      title=f"{label} at k={k}, {where} ('=' tied with the best on the tune questions)")
    return fig
