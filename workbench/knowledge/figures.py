"""Plotly figures of knowledge bases: chunk lengths of a chunking preview and of an indexed document."""
from __future__ import annotations

import plotly.express as px
import plotly.graph_objects as go

from workbench.knowledge.preview import Preview
from workbench.types import Chunk


def token_histogram(preview: Preview) -> go.Figure:
    """Plotly histogram of chunk lengths in tokens, the model's limit drawn as a line."""
    toks = preview.tokens
    fig = go.Figure(go.Histogram(x=toks, nbinsx=min(60, max(10, len(toks) // 3)), marker_color="#3b82f6",
                                 name="chunks", hovertemplate="%{x} tokens: %{y} chunks<extra></extra>"))
    fig.add_vline(x=preview.token_limit, line_dash="dash", line_color="#dc2626",
                  annotation_text=f"model limit {preview.token_limit}", annotation_position="top left")
    fig.update_layout(xaxis_title="chunk length (tokens, embedding model's tokenizer)", yaxis_title="chunks",
                      height=300, margin=dict(l=10, r=10, t=30, b=10), bargap=0.05, showlegend=False)
    upper = max([preview.token_limit, *toks]) * 1.08
    fig.update_xaxes(range=[0, upper])
    return fig


def chunk_tokens_figure(chunks: list[Chunk], token_limit: int, by_page: bool = False) -> go.Figure:
    """Tokens per chunk of one document (coloured by page when `by_page`), the model's limit as a line."""
    data = {"chunk": [c.index for c in chunks], "tokens": [c.n_tokens for c in chunks],
            "page": [c.page for c in chunks], "start": [c.start for c in chunks], "end": [c.end for c in chunks]}
    fig = px.bar(data, x="chunk", y="tokens", color="page" if by_page else None,
                 hover_data={"start": True, "end": True}, title="Tokens per chunk")
    fig.add_hline(y=token_limit, line_dash="dash", line_color="#dc2626", annotation_text=f"model limit {token_limit}")
    fig.update_layout(height=260, margin=dict(l=10, r=10, t=40, b=10))
    fig.update_xaxes(dtick=1 if len(chunks) <= 30 else None)
    return fig
