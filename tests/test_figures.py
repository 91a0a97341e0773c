"""Figure builders of each package (figures.py) and the cheap index size the evaluation report shows."""
from __future__ import annotations

from dataclasses import replace

from tests.fakes import FakeEmbedder
from workbench.evaluation.cost import SetupCost, measure
from workbench.evaluation.figures import judge_figure, yearly_cost_figure
from workbench.evaluation.runs import RunSpec
from workbench.knowledge import KnowledgeBase
from workbench.knowledge.figures import chunk_tokens_figure
from workbench.system_figures import storage_figure
from workbench.types import Chunk


def test_evaluation_figures():
    fig = judge_figure({"base": 0.25, "rag": 0.8})
    assert list(fig.data[0].y) == [25, 80] and "LLM-judge" in fig.layout.title.text
    cost = SetupCost("rag", 1.0, 800, 30, 750, 0.2, 0.3, 300.0, 1234.5)
    fig = yearly_cost_figure([cost, replace(cost, setup="base", year_usd=99.0)])
    assert list(fig.data[0].y) == [1234.5, 99.0] and list(fig.data[0].text) == ["$1,234", "$99"]


def test_chunk_tokens_and_storage_figures():
    chunks = [Chunk(f"c{i}", "d", "doc.pdf", "x", 0, 1, i, page=1 + i // 2, n_tokens=10 * i) for i in range(4)]
    fig = chunk_tokens_figure(chunks, 256, by_page=True)
    assert sum(len(t.y) for t in fig.data) == 4 and fig.layout.shapes[0].y0 == 256
    assert fig.layout.xaxis.dtick == 1
    fig = storage_figure({"models": 2 * 1024 ** 2, "chroma": 0})
    assert list(fig.data[0].y) == ["models", "chroma"] and list(fig.data[0].text) == ["2.0 MB", "0 B"]


def test_index_size_without_reading_the_index(settings):
    kb = KnowledgeBase(settings, embedder=FakeEmbedder())
    col = kb.create("docs")
    assert col.index_size() == (0, 0)
    text = "The battery lasts fourteen months. " * 40
    col.ingest([("a.txt", text.encode()), ("b.txt", b"The Basic plan costs 12 EUR per month.")])
    n = col.count()
    chars = sum(d.n_chars for d in col.documents())
    assert col.index_size() == (n, n * kb.embedder.dim * 4 + chars)
    m = measure(settings, RunSpec(set_name="t", setups=("rag",), collection="docs"))
    assert (m.index_chunks, m.index_bytes) == col.index_size()
