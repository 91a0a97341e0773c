"""Page spans: a chunk running onto the next page of a PDF records both pages, is gold for a question on
either, is cited as "pages 1-2" everywhere, and an index written before spans still loads."""
from __future__ import annotations

import pytest

from tests.fakes import FAKE_MODEL, FakeEmbedder
from tests.test_knowledge_parsing import make_pdf
from workbench.answering.prompts import format_context
from workbench.answering.answer import to_passage
from workbench.answering.records import passage_from_json, passage_to_json
from workbench.evaluation.metrics import gold_passage_retrieved
from workbench.knowledge import CollectionConfig, KnowledgeBase
from workbench.knowledge.preview import render_html
from workbench.knowledge.store import chroma_client, write_lock
from workbench.questions import Question
from workbench.retrieval.gold import relevance_fn
from workbench.retrieval.passages import context_html, in_context
from workbench.types import Chunk, Document, ScoredChunk, page_label, source_label

PAGE_1 = "The tide gauge logs the water level every six minutes. Its battery is charged by a small solar panel"
PAGE_2 = "mounted on the mast, which keeps it running through the whole winter season without any service."
PAGE_3 = "Calibration. " + "The sensor is calibrated once a year against a reference gauge in the harbour. " * 14
NAME = "gauge.pdf"


@pytest.fixture
def col(settings):
    """The three-page PDF indexed in a real (embedded) Chroma with the fake embedder: its first chunk holds
    all of the short pages 1 and 2."""
    kb = KnowledgeBase(settings, embedder=FakeEmbedder())
    c = kb.create("gauges", CollectionConfig(embedding_model=FAKE_MODEL, chunk_size=400, chunk_overlap=0))
    assert c.ingest([(NAME, make_pdf([PAGE_1, PAGE_2, PAGE_3]))]).ok
    return c


def test_a_chunk_across_a_page_break_records_both_pages(col):
    chunks = sorted(col.chunks(), key=lambda c: c.index)
    first = chunks[0]
    assert "solar panel" in first.text and "mounted on the mast" in first.text
    assert (first.page, first.page_end) == (1, 2)
    assert all(c.page == c.page_end == 3 for c in chunks[1:])
    assert first.on_page(2) and not first.on_page(3)
    # The document keeps where each page starts: the browser and "Show in context" mark those offsets.
    doc = col.get_document(first.doc_id)
    assert len(doc.page_starts) == 3 and doc.text[doc.page_starts[1]:].startswith("mounted on the mast")
    html = context_html(in_context(doc, first), "solar")
    assert html.index("page 2") < html.index("mounted on the mast") and ">solar</mark>" in html
    # The Documents page and the Chunking preview: the chunk's pages on hover, page 2's start marked inside it.
    shown = render_html(doc, [first], first.start, first.end)
    assert f'chars {first.start}-{first.end}, pages 1-2">0</sup>' in shown
    assert shown.index('class="wb-page">page 2') < shown.index("mounted on the mast")


def test_page_span_ignores_blank_text_at_a_page_break():
    doc = Document("d", NAME, "pdf", "one.\n\ntwo.\n\nthree.", page_starts=(0, 6, 12))
    assert doc.page_span(0, 6) == (1, 1)  # ends with the separator, before page 2 begins
    assert doc.page_span(4, 10) == (2, 2)  # opens with the separator of page 1
    assert doc.page_span(0, 10) == (1, 2)
    assert doc.page_breaks(0, len(doc.text)) == [(0, 1), (6, 2), (12, 3)]
    txt = Document("t", "t.txt", "txt", "one.\n\ntwo.")
    assert txt.page_span(0, 9) == (None, None) and txt.page_breaks(0, 9) == []


def test_a_question_on_page_2_counts_the_spanning_chunk_as_gold(col):
    chunks = col.chunks()
    spanning = next(c for c in chunks if c.page == 1)
    on_page_2 = Question("q1", "What keeps the gauge running in winter?", source_document=NAME, source_page=2)
    fn, n, how = relevance_fn(on_page_2, chunks)
    assert fn(spanning) and n == 1 and how == "source document + page"
    by_text = Question("q2", "Where is the panel?", reference="mounted on the mast", source_document=NAME,
                       source_page=2)
    assert relevance_fn(by_text, chunks)[0](spanning)
    on_page_3 = Question("q3", "How often is it calibrated?", source_document=NAME, source_page=3)
    assert not relevance_fn(on_page_3, chunks)[0](spanning)
    # The evaluation's gold check reads the same span from the passages a run stored.
    stored = [passage_to_json(ScoredChunk(spanning, 0.9, "BM25", 1))]
    assert stored[0]["page_end"] == 2 and gold_passage_retrieved(stored, on_page_2) is True


def test_citations_name_the_span():
    c = Chunk("c", "d", NAME, "text", 0, 4, 0, page=3, page_end=4)
    assert page_label(c.page, c.page_end) == "pages 3-4" and page_label(3, 3) == "page 3" and page_label(None) == ""
    assert source_label(NAME, 3, 4) == "gauge.pdf, pages 3-4" and source_label("a.md", None) == "a.md"
    sc = ScoredChunk(c, 0.5, "BM25", 1)
    assert "[1] (gauge.pdf, pages 3-4) text" in format_context([to_passage(sc)])
    assert passage_from_json(passage_to_json(sc)).chunk.page_end == 4


def test_metadata_written_before_page_spans_loads(col):
    """An index (and stored run passages) from before page_end: each chunk reads as lying on its first page."""
    with write_lock(col.settings):
        chroma = chroma_client(col.settings).get_collection(col.key, embedding_function=None)
        got = chroma.get(include=["documents", "metadatas", "embeddings"])
        old = [{k: v for k, v in m.items() if k != "page_end"} for m in got["metadatas"]]
        chroma.delete(ids=got["ids"])
        chroma.add(ids=got["ids"], documents=got["documents"], metadatas=old, embeddings=got["embeddings"])
    chunks = col.chunks()
    assert chunks and all(c.page is not None and c.page_end == c.page for c in chunks)
    old_record = {"chunk_id": "c", "doc_name": NAME, "text": "t", "page": 2, "score": 1.0, "metric": "BM25", "rank": 1}
    assert passage_from_json(old_record).chunk.page_end == 2


def test_query_lab_header_says_pages_1_2(settings, fresh_ui_caches, fake_embedding_model, col):
    from tests.pages import app_page, rendered_text

    at = app_page("pages/retrieval_query.py")
    at.run()
    at.radio(key="query_gauges_mode").set_value("bm25")
    at.text_input(key="retr_query").input("solar panel mast")
    next(b for b in at.button if b.label == "Search").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    heads = [rendered_text(m.value) for m in at.markdown if m.value.startswith("**#")]
    assert heads and "gauge.pdf, pages 1-2" in heads[0]
    assert any('">page 2</span>' in h.value for h in at.html)  # "Show in context" marks where page 2 begins
