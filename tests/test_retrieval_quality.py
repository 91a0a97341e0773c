"""Retrieval quality features of issue 16: contextual index text, stemmed BM25, the cross-encoder stage, the dev split."""
from __future__ import annotations

import numpy as np
import pytest

from tests.fakes import FakeEmbedder
from workbench.knowledge.chunking import chunk_document, heading_paths, index_text, title_of
from workbench.knowledge.config import CollectionConfig
from workbench.retrieval import RetrievalSettings, retrieve
from workbench.retrieval.corpus import forget, tokenize
from workbench.retrieval.devsets import held_out, split
from workbench.retrieval.metrics import bootstrap_ci, hit_within_budget
from workbench.retrieval.rerank import CROSS_ENCODER, RERANK_DEPTH, reranker_for
from workbench.types import Document

MD = ("# Household\n\nThings in the house.\n\n## Kettle\n\nIt boils water in two minutes and switches off.\n\n"
      "## Toaster\n\nBrowns bread evenly on both sides.\n\n### Warranty terms\n\nTwo years, parts and labour.\n")


def md_doc() -> Document:
    return Document("d1", "appliances.md", "md", MD)


def test_heading_paths_and_title():
    paths = heading_paths(MD + "```\n# not a heading\n```\n")
    assert [p for _, p in paths] == ["Household", "Household > Kettle", "Household > Toaster",
                                     "Household > Toaster > Warranty terms"]
    assert title_of("price-list_2024.md") == "price list 2024"


def test_context_reaches_the_index_not_the_displayed_passage(settings):
    from workbench.knowledge.collections import KnowledgeBase

    emb = FakeEmbedder()
    chunks = chunk_document(md_doc(), CollectionConfig(strategy="markdown", chunk_size=60, chunk_overlap=0), emb)
    last = chunks[-1]
    assert last.context == "Household > Toaster > Warranty terms" and "Toaster" not in last.text
    assert index_text(last) == f"{last.context}\n\n{last.text}"
    # Through a real ingest: Chroma holds the passage as shown, the vector and BM25 see the heading path.
    kb = KnowledgeBase(settings, embedder=emb)
    col = kb.create("ctx", CollectionConfig(embedding_model=emb.name, strategy="markdown", chunk_size=60,
                                            chunk_overlap=0))
    col.ingest([("appliances.md", MD.encode())])
    stored, vecs = col.embeddings()
    doc = col.get_document(stored[0].doc_id)
    for c, v in zip(stored, vecs):
        assert c.text == doc.text[c.start:c.end] and not c.text.startswith(c.context or "\x00")
        assert np.allclose(v, emb.embed_batch([index_text(c)])[0], atol=1e-5)
    forget(col.name)
    # The warranty passage holds "warranty" but not "toaster": only its heading path makes it the best match.
    hits = retrieve(col, "toaster warranty", RetrievalSettings(mode="bm25", k=1))
    assert hits[0].chunk.text.endswith("Two years, parts and labour.") and "Toaster" not in hits[0].chunk.text
    assert hits[0].chunk.context == "Household > Toaster > Warranty terms"


def test_stemming_on_and_off():
    assert tokenize("The kettles were boiling", stem=False) == ["kettles", "boiling"]
    assert tokenize("The kettles were boiling") == ["kettl", "boil"]
    assert tokenize("kettle boils") == tokenize("kettles boiling")


def test_bm25_matches_inflections(settings):
    from tests.fakes import MemoryCollection

    forget("stem")
    coll = MemoryCollection("stem", FakeEmbedder(), {"a.txt": "the kettle boiled quickly\n\nthe toaster browns bread"})
    hits = retrieve(coll, "boiling kettles", RetrievalSettings(mode="bm25", k=2))
    assert [h.chunk.text for h in hits] == ["the kettle boiled quickly"]


def tiny_cross_encoder(path):
    """A 1-layer BERT cross-encoder built here from the bundled MiniLM's vocabulary: no download."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    from workbench.models.embedder import bundled_embedder_dir

    tok = BertTokenizerFast(vocab_file=str(bundled_embedder_dir() / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=512, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def cross_encoder_dir(tmp_path_factory):
    return tiny_cross_encoder(tmp_path_factory.mktemp("ce") / "tiny-ce")


def test_reranker_path_on_a_local_cross_encoder(settings, monkeypatch, cross_encoder_dir):
    from sentence_transformers import CrossEncoder

    from tests.fakes import MemoryCollection
    from workbench.settings import Settings

    forget("rr")
    text = "\n\n".join(f"passage {i} about kettles and water number {i}" for i in range(30))
    coll = MemoryCollection("rr", FakeEmbedder(), {"k.txt": text})
    rs = RetrievalSettings(mode="hybrid", k=5)
    plain = retrieve(coll, "kettles water", rs)
    assert plain[0].metric != CROSS_ENCODER  # no WORKBENCH_RERANKER_MODEL: nothing ships, nothing reranks

    monkeypatch.setenv("WORKBENCH_RERANKER_MODEL", str(cross_encoder_dir))
    assert reranker_for(Settings.from_env()) is not None
    got = retrieve(coll, "kettles water", rs)
    first = retrieve(coll, "kettles water", rs.with_(k=RERANK_DEPTH, rerank=False))
    scores = CrossEncoder(str(cross_encoder_dir)).predict([("kettles water", index_text(h.chunk)) for h in first])
    want = [first[i].chunk.chunk_id for i in np.argsort(-scores, kind="stable")[:5]]
    assert [h.chunk.chunk_id for h in got] == want and [h.rank for h in got] == [1, 2, 3, 4, 5]
    assert all(h.metric == CROSS_ENCODER and "first_stage_rank" in h.details for h in got)
    assert got[0].score == pytest.approx(float(scores.max()), abs=1e-4)
    assert [h.chunk.chunk_id for h in retrieve(coll, "kettles water", rs.with_(rerank=False))] == \
        [h.chunk.chunk_id for h in plain]


def test_reranker_setting_that_is_not_a_model(settings, tmp_path):
    from workbench.models.registry import ModelError
    from workbench.settings import Settings

    with pytest.raises((ModelError, ValueError), match="no such folder|not a Hugging Face model"):
        reranker_for(Settings(reranker_model=str(tmp_path / "nowhere")))
    (tmp_path / "empty").mkdir()
    with pytest.raises((ModelError, ValueError), match="not a Hugging Face model"):
        reranker_for(Settings(reranker_model=str(tmp_path / "empty")))


def test_split_is_fixed_and_halves():
    from workbench.questions import Question

    qs = [Question(f"q{i}", "?") for i in range(400)]
    tune, test = split(qs)
    assert 150 < len(test) < 250 and {q.id for q in tune}.isdisjoint(q.id for q in test)
    assert split(qs[:100])[1] == [q for q in test if int(q.id[1:]) < 100]  # a smaller draw keeps membership
    assert held_out("q1") == held_out("q1")


def test_budget_hit_and_bootstrap():
    assert hit_within_budget([False, True], [3000, 900], 4000) == 1.0
    assert hit_within_budget([False, True], [3000, 1200], 4000) == 0.0
    assert hit_within_budget([False, False], [10, 10], 4000) == 0.0
    lo, hi = bootstrap_ci([0.0, 1.0] * 50)
    assert lo < 0.5 < hi and hi - lo < 0.3
