"""Retrieval through the real knowledge base: Chroma collections, the bundled MiniLM and SmolLM2."""
from __future__ import annotations

import pytest

from tests.fakes import FakeEmbedder
from workbench.knowledge import CollectionConfig, KnowledgeBase
from workbench.questions import Question, sample_question_set, synthetic_question_set
from workbench.retrieval import RetrievalSettings, retrieve
from workbench.retrieval.corpus import corpus_for, forget
from workbench.retrieval.evaluate import evaluate
from workbench.retrieval.sweep import EmbeddingMemo, SweepGrid, run_sweep

FILES = [
    ("fruit.txt", b"Apples are red and sweet.\n\nBananas are yellow and long.\n\nCherries are small red fruit."),
    ("space.txt", b"The moon orbits the earth.\n\nMars is the red planet.\n\nJupiter is the largest planet."),
]


@pytest.fixture
def fake_col(settings):
    forget("t1")
    kb = KnowledgeBase(settings, FakeEmbedder(dim=128))
    col = kb.create("t1", CollectionConfig(embedding_model="fake", strategy="sentence", chunk_size=40,
                                           chunk_overlap=0))
    rep = col.ingest(FILES)
    assert rep.ok, rep
    return col


def test_every_mode_on_a_chroma_collection(fake_col):
    space = next(d.doc_id for d in fake_col.documents() if d.name == "space.txt")
    for mode in ("dense", "bm25", "hybrid", "mmr"):
        hits = retrieve(fake_col, "the red planet mars", RetrievalSettings(mode=mode, k=3))
        assert hits[0].chunk.text.startswith("Mars is the red planet"), mode
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
        only = retrieve(fake_col, "red", RetrievalSettings(mode=mode, k=5, doc_ids=(space,)))
        assert only and {h.chunk.doc_name for h in only} == {"space.txt"}, mode


def test_bm25_cache_follows_ingest_and_delete(fake_col):
    c1 = corpus_for(fake_col)
    assert corpus_for(fake_col) is c1
    fake_col.ingest([("bike.txt", b"A red bicycle leans on the wall.")])
    c2 = corpus_for(fake_col)
    assert c2 is not c1 and any("bicycle" in h.chunk.text
                                for h in retrieve(fake_col, "bicycle", RetrievalSettings(mode="bm25")))
    bike = next(d.doc_id for d in fake_col.documents() if d.name == "bike.txt")
    fake_col.delete_document(bike)
    assert retrieve(fake_col, "bicycle", RetrievalSettings(mode="bm25")) == []


def test_sweep_reuses_the_knowledge_embedding_cache(fake_col):
    docs = [fake_col.get_document(d.doc_id) for d in fake_col.documents()]
    qs = [Question("1", "red planet", "Mars is the red planet"),
          Question("2", "yellow bananas", source_document="fruit.txt")]
    grid = SweepGrid(strategies=("sentence",), sizes=(40, 80), overlaps=(0,), ks=(1, 2))
    memo = EmbeddingMemo(fake_col.embedder, backing=fake_col.embed_fn(counter=None))
    memo.backing = fake_col.embed_fn(counter=memo.count_model_calls)
    res = run_sweep(docs, qs, grid, fake_col.embedder, fake_col.config, RetrievalSettings(mode="hybrid"), memo=memo)
    # The collection's own k (4) is scored with the grid's, and its chunking (sentence 40) is marked current.
    assert res.ks == (1, 2, 4) and len(res.rows) == 6 and res.scratch_created == res.scratch_dropped == 2
    assert [c.current for c in res.chunkings] == [True, False]
    # size 40 gives exactly the sentences the collection already indexed: all from the persistent cache.
    assert res.texts_reused >= 6
    assert max(r.hit_at_k for r in res.rows) == 1.0


@pytest.mark.slow
def test_sample_workspace_real_models(settings, real_embedder):
    from workbench.knowledge.sample import SAMPLE_COLLECTION, load

    forget(SAMPLE_COLLECTION)
    load(settings, embedder=real_embedder)
    col = KnowledgeBase(settings, real_embedder).get(SAMPLE_COLLECTION)
    hits = retrieve(col, "How many days of paid vacation do employees get?", RetrievalSettings(mode="dense", k=3))
    assert hits[0].chunk.doc_name == "employee_handbook.md" and 0.3 < hits[0].score <= 1.0
    qs = sample_question_set().questions
    ev = evaluate(col, qs, ["dense", "bm25", "hybrid", "mmr"], RetrievalSettings(k=4))
    by = {s.mode: s for s in ev.summaries}
    # Real MiniLM + BM25 on the sample questions: most gold passages land in the top 4.
    assert by["hybrid"].hit_at_k >= 0.75 and by["dense"].hit_at_k >= 0.6 and by["bm25"].hit_at_k >= 0.6
    assert by["hybrid"].mrr >= 0.5 and len(ev.rows) == 4 * by["hybrid"].n_questions


@pytest.mark.slow
def test_synthetic_questions_real_generator(real_generator):
    from workbench.types import Chunk

    texts = ["The Harbor plan costs 49 dollars per month and includes five seats, email support and backups.",
             "Full-time employees receive 27 days of paid vacation per year, plus public holidays in their region."]
    chunks = [Chunk(f"c{i}", "d", "doc.txt", t, 200 * i, 200 * i + len(t), i) for i, t in enumerate(texts)]
    assert synthetic_question_set(chunks[:0], real_generator).notes
    qs = synthetic_question_set(chunks, real_generator, n=2, max_new_tokens=24)
    assert qs.synthetic and "synthetic" in qs.name
    assert qs.questions, qs.notes
    for q in qs.questions:
        assert q.question.endswith("?") and q.span is not None and q.synthetic and q.source_document == "doc.txt"
