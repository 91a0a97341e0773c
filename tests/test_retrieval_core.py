"""Retrieval modes, metrics, question sets and projection on small known corpora (fake embedder)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from tests.fakes import FakeEmbedder, MemoryCollection
from workbench.questions import Question
from workbench.retrieval import RetrievalSettings, load_defaults, retrieve, save_defaults
from workbench.retrieval.corpus import corpus_for, forget
from workbench.retrieval.gold import relevance_fn
from workbench.retrieval.metrics import hit_at_k, ndcg_at_k, reciprocal_rank
from workbench.retrieval.passages import MARK_STYLE, highlight_html, highlight_spans, in_context
from workbench.retrieval.projection import project
from workbench.retrieval.search import fuse, mmr_select

DOCS = {
    "fruit.txt": "apples are red and sweet\n\nbananas are yellow and long\n\ncherries are small red fruit",
    "space.txt": "the moon orbits the earth\n\nmars is the red planet\n\njupiter is the largest planet",
}


@pytest.fixture
def coll():
    forget("t")  # a corpus cached by another test under this name
    return MemoryCollection("t", FakeEmbedder(dim=256), DOCS)


def texts(hits):
    return [h.chunk.text for h in hits]


def test_dense_orders_by_cosine(coll):
    hits = retrieve(coll, "bananas yellow long", RetrievalSettings(mode="dense", k=3))
    assert hits[0].chunk.text == "bananas are yellow and long"
    assert hits[0].metric == "cosine similarity" and [h.rank for h in hits] == [1, 2, 3]
    assert hits[0].score == pytest.approx(float(coll.embedder.embed_batch(["bananas yellow long"])[0]
                                                @ coll.embedder.embed_batch([hits[0].chunk.text])[0]), abs=1e-5)
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))


def test_bm25_known_order_and_no_match(coll):
    hits = retrieve(coll, "red planet", RetrievalSettings(mode="bm25", k=5))
    # "mars is the red planet" has both terms; "jupiter ... planet" and the red fruits one each.
    assert hits[0].chunk.text == "mars is the red planet"
    assert set(texts(hits[1:])) == {"jupiter is the largest planet", "apples are red and sweet",
                                    "cherries are small red fruit"}
    assert hits[0].metric == "BM25" and hits[0].score > hits[1].score > 0
    assert retrieve(coll, "zebra xylophone", RetrievalSettings(mode="bm25")) == []


def test_bm25_index_built_once_per_content(coll):
    c1 = corpus_for(coll)
    idx = c1.bm25
    retrieve(coll, "red", RetrievalSettings(mode="bm25"))
    assert corpus_for(coll) is c1 and c1.bm25 is idx
    coll.add_document("new.txt", "a red bicycle")
    c2 = corpus_for(coll)
    assert c2 is not c1
    assert "a red bicycle" in texts(retrieve(coll, "bicycle", RetrievalSettings(mode="bm25")))


def test_hybrid_score_fusion_weight_and_missing_scores():
    from workbench.types import Chunk, ScoredChunk

    ch = {n: Chunk(n, "d", "d.txt", n, 0, 1, 0) for n in "abc"}
    dense = [ScoredChunk(ch["a"], .9, "cosine similarity", 1), ScoredChunk(ch["b"], .85, "cosine similarity", 2)]
    sparse = [ScoredChunk(ch["b"], 5.0, "BM25", 1), ScoredChunk(ch["c"], 1.0, "BM25", 2)]
    exact_cos = lambda cs: np.array([{"c": .5}[c.chunk_id] for c in cs])  # noqa: E731
    even = fuse(dense, sparse, 3, 0.5, cosine_of=exact_cos)
    # cosine .9/.85/.5 -> 1/.875/0; BM25 (a missing: the list's floor 1.0) 1/5/1 -> 0/1/0
    assert [h.chunk.chunk_id for h in even] == ["b", "a", "c"]
    assert even[0].score == pytest.approx(.5 * .875 + .5) and even[0].metric == "fused score (dense + BM25)"
    assert even[2].details["cosine"] == pytest.approx(.5) and even[1].details["bm25"] == pytest.approx(1.0)
    assert [h.chunk.chunk_id for h in fuse(dense, sparse, 3, 1.0, cosine_of=exact_cos)] == ["a", "b", "c"]
    assert [h.chunk.chunk_id for h in fuse(dense, sparse, 3, 0.0, cosine_of=exact_cos)][0] == "b"
    # Without an exact cosine, c takes the dense list's floor (.85) and ties b on cosine.
    assert fuse(dense, sparse, 3, 1.0)[1].score == pytest.approx(0.0)
    assert fuse([], [], 3, 0.5) == []


def test_hybrid_end_to_end_finds_both_kinds(coll):
    hits = retrieve(coll, "red planet", RetrievalSettings(mode="hybrid", k=2))
    assert hits[0].chunk.text == "mars is the red planet"
    assert {"dense_rank", "bm25_rank"} <= set(hits[0].details)


def test_mmr_diversifies_near_duplicates():
    emb = FakeEmbedder(dim=256)
    dup = "the warranty covers parts and labour for two years"
    c = MemoryCollection("mmr", emb, {
        "a.txt": f"{dup}\n\n{dup} in europe\n\n{dup} worldwide\n\nreturns are accepted within thirty days of warranty"
    })
    q = "warranty covers parts labour years returns"
    sim = retrieve(c, q, RetrievalSettings(mode="dense", k=2))
    assert all("covers parts and labour" in t for t in texts(sim))  # similarity alone: two near-duplicates
    div = retrieve(c, q, RetrievalSettings(mode="mmr", k=2, mmr_lambda=0.3))
    assert any("returns are accepted" in t for t in texts(div))
    assert div[0].metric.startswith("cosine similarity")
    full = retrieve(c, q, RetrievalSettings(mode="mmr", k=2, mmr_lambda=1.0))
    assert texts(full) == texts(sim)  # lambda 1 is plain relevance


def test_mmr_select_hand_example():
    q = np.array([1.0, 0.0])
    cand = np.array([[1.0, 0.0], [0.99, 0.141], [0.6, 0.8]], dtype=np.float32)
    assert mmr_select(q, cand, 2, 1.0) == [0, 1]
    # lambda 0.3: b scores .3*.99-.7*.99=-.396, c scores .3*.6-.7*.6=-.24, so c is picked
    assert mmr_select(q, cand, 2, 0.3) == [0, 2]


def test_threshold_and_doc_filter(coll):
    space = [d.doc_id for d in coll.documents() if d.name == "space.txt"]
    for mode in ("dense", "bm25", "hybrid", "mmr"):
        hits = retrieve(coll, "red", RetrievalSettings(mode=mode, k=5, doc_ids=tuple(space)))
        assert hits and all(h.chunk.doc_name == "space.txt" for h in hits), mode
    all_hits = retrieve(coll, "red planet", RetrievalSettings(mode="dense", k=6))
    cut = all_hits[2].score
    kept = retrieve(coll, "red planet", RetrievalSettings(mode="dense", k=6, threshold=cut))
    assert kept and all(h.score >= cut for h in kept) and len(kept) < len(all_hits)
    assert retrieve(coll, "red planet", RetrievalSettings(mode="dense", threshold=1.01)) == []


def test_settings_validation_and_defaults_roundtrip(settings):
    assert load_defaults(settings) == RetrievalSettings(mode="hybrid", k=4, hybrid_weight=0.4, mmr_lambda=0.5)
    with pytest.raises(ValueError):
        RetrievalSettings(mode="fuzzy")
    with pytest.raises(ValueError):
        RetrievalSettings(k=0)
    rs = RetrievalSettings(mode="mmr", k=6, threshold=0.2, mmr_lambda=0.7, doc_ids=("x",))
    save_defaults(settings, rs, "kb")
    assert load_defaults(settings, "kb") == rs.with_(doc_ids=())
    assert load_defaults(settings, "other") == RetrievalSettings()
    save_defaults(settings, RetrievalSettings(mode="bm25"))
    assert load_defaults(settings, "other").mode == "bm25"


def test_metrics_against_hand_values():
    rels = [False, True, False, True]
    assert hit_at_k(rels, 1) == 0.0 and hit_at_k(rels, 2) == 1.0
    assert reciprocal_rank(rels) == 0.5 and reciprocal_rank(rels, 1) == 0.0
    # DCG = 1/log2(3) + 1/log2(5); IDCG (2 relevant) = 1 + 1/log2(3)
    expect = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(rels, 4, 2) == pytest.approx(expect)
    assert ndcg_at_k([True], 4, 3) == pytest.approx(1 / (1 + 1 / math.log2(3) + 0.5))
    assert ndcg_at_k([False, False], 2, 0) == 0.0


def test_highlight_and_context(coll):
    text = "Mars is the Red planet; redness is not red-ish."
    spans = highlight_spans(text, "what is red mars?")
    # Whole words only: "red-ish" is marked as one word, never cut in two (issue 15); "redness" too: BM25 stems it to "red".
    assert [text[s:e] for s, e in spans] == ["Mars", "Red", "redness", "red-ish"]
    assert highlight_html("<b>red</b>", "red") == f'&lt;b&gt;<mark style="{MARK_STYLE}">red</mark>&lt;/b&gt;'
    # R's data.frame stays one marked word, and `<-` stays as written.
    assert highlight_html("df <- data.frame(x)", "data frame") == (
        f'df &lt;- <mark style="{MARK_STYLE}">data.frame</mark>(x)')
    chunk = coll.chunks()[1]
    ctx = in_context(coll.get_document(chunk.doc_id), chunk, window=10)
    assert ctx.passage == chunk.text and ctx.before.endswith("\n\n") and ctx.after.startswith("\n\n")


def test_relevance_by_answer_then_source_fallback(coll):
    chunks = coll.chunks()
    fn, n, how = relevance_fn(Question("1", "?", "Red Planet", source_document="space.txt"), chunks)
    assert n == 1 and how.startswith("answer") and fn(next(c for c in chunks if "mars" in c.text))
    fn, n, how = relevance_fn(Question("2", "?", "a crimson world", source_document="space.txt"), chunks)
    assert n == 3 and how.startswith("source document")
    _, n, _ = relevance_fn(Question("3", "?", "nowhere"), chunks)
    assert n == 0
    _, n, how = relevance_fn(Question("4", "?", "unknown", source_document="space.txt", unanswerable=True), chunks)
    assert n == 0 and how.startswith("unanswerable")


def test_projection_samples_and_keeps_retrieved():
    emb = FakeEmbedder(dim=32)
    from workbench.types import Chunk

    chunks = [Chunk(f"c{i}", "d", "d.txt", f"w{i}", 0, 1, i) for i in range(5000)]
    vecs = np.random.default_rng(0).normal(size=(5000, 32)).astype(np.float32)
    p = project(chunks, vecs, emb.embed_batch(["w1"])[0], keep_ids={"c4999", "c7"}, max_points=1000)
    assert p.xy.shape == (1000, 2) and p.sampled and "1,000 of 5,000" in p.notice
    assert {"c4999", "c7"} <= {c.chunk_id for c in p.chunks} and p.query_xy.shape == (2,)
    small = project(chunks[:50], vecs[:50])
    assert not small.sampled and small.notice is None and small.method == "PCA"
    # PCA's first axis carries at least as much variance as the second.
    assert small.xy[:, 0].var() >= small.xy[:, 1].var()


def test_embedding_map_at_20k_chunks_is_sampled_and_fast():
    import time

    from workbench.retrieval.figures import embedding_map
    from workbench.types import Chunk

    n = 20_000
    chunks = [Chunk(f"c{i}", f"d{i % 7}", f"doc{i % 7}.txt", f"text {i}", 0, 1, i) for i in range(n)]
    vecs = np.random.default_rng(1).normal(size=(n, 384)).astype(np.float32)
    t = time.perf_counter()
    p = project(chunks, vecs, vecs[5], keep_ids={"c5", "c19999"})
    fig = embedding_map(p, ["c5", "c19999"])
    assert time.perf_counter() - t < 5.0  # PCA on the 3,000-point sample, not on all 20,000
    assert len(p.chunks) == 3000 and "20,000" in p.notice
    names = [tr.name for tr in fig.data]
    assert names[-2:] == ["retrieved", "query"] and len(names) == 7 + 2
    assert sum(len(tr.x) for tr in fig.data[:7]) == 3000
    assert list(fig.data[-2].text) == ["1", "2"]  # retrieved chunks carry their rank


def test_fused_score_of_a_lone_candidate_is_full_not_zero():
    """One candidate (a one-chunk collection): min-max has no span; it must not read as 0 or fail a threshold."""
    from workbench.retrieval.search import fuse
    from workbench.types import Chunk, ScoredChunk

    c = Chunk("c1", "d", "notes.md", "x <- c(1, 2)", 0, 12, 0)
    got = fuse([ScoredChunk(c, 0.42, "dense", 1)], [ScoredChunk(c, 3.1, "bm25", 1)], k=5, weight=0.4)
    assert len(got) == 1 and got[0].score == 1.0
