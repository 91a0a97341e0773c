"""Chunking strategies: offsets map back exactly, overlap as configured, token chunks within the limit."""
from __future__ import annotations

import re

import pytest

from tests.fakes import FakeEmbedder
from workbench.knowledge.chunking import chunk_document, sentence_spans
from workbench.knowledge.config import STRATEGIES, CollectionConfig, ConfigError
from workbench.knowledge.parsing import parse

MD = "\n\n".join(
    f"# Part {p}\n\n" + "\n\n".join(
        f"## Section {p}.{s}\n\n" + " ".join(
            f"Sentence {p}.{s}.{i} talks about item{p}{s}{i} and what it costs today." for i in range(1, 9))
        for s in range(1, 4))
    for p in range(1, 4))


def doc(text=MD, name="guide.md"):
    return parse(name, text.encode())


def covered(d, chunks) -> bool:
    """Every non-space character of the document lies in some chunk: nothing is lost."""
    mask = [False] * len(d.text)
    for c in chunks:
        for i in range(c.start, c.end):
            mask[i] = True
    return all(m or ch.isspace() for m, ch in zip(mask, d.text))


CONFIGS = [CollectionConfig(strategy=s, unit=u, chunk_size=size, chunk_overlap=ov)
           for s in STRATEGIES for u, size, ov in (("chars", 300, 60), ("tokens", 60, 12))]


@pytest.mark.parametrize("cfg", CONFIGS, ids=[f"{c.strategy}-{c.unit}" for c in CONFIGS])
def test_offsets_map_back_and_nothing_is_lost(cfg):
    emb = FakeEmbedder()
    d = doc()
    chunks = chunk_document(d, cfg, emb)
    assert len(chunks) > 3
    for i, c in enumerate(chunks):
        assert d.text[c.start:c.end] == c.text and c.text.strip() == c.text and c.index == i
        assert c.n_tokens == emb.count_tokens([c.text])[0]
        assert c.doc_id == d.doc_id and c.page is None
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})
    assert covered(d, chunks)
    size = (lambda t: len(t)) if cfg.unit == "chars" else (lambda t: emb.count_tokens([t])[0])
    assert max(size(c.text) for c in chunks) <= cfg.chunk_size


@pytest.mark.parametrize("strategy", ["recursive", "sentence", "token"])
def test_overlap_as_configured(strategy):
    emb = FakeEmbedder()
    # Running prose: LangChain's recursive splitter only overlaps pieces it merges within one paragraph.
    d = doc(" ".join(f"Sentence {i} talks about item{i} and what it costs today." for i in range(80)), "prose.txt")
    unit = "tokens" if strategy == "token" else "chars"
    cfg = CollectionConfig(strategy=strategy, unit=unit, chunk_size=300 if unit == "chars" else 60,
                           chunk_overlap=80 if unit == "chars" else 10)
    chunks = chunk_document(d, cfg, emb)
    overlaps = [a.end - b.start for a, b in zip(chunks, chunks[1:])]
    assert sum(o > 0 for o in overlaps) >= len(overlaps) // 2  # most neighbours share text
    for a, b in zip(chunks, chunks[1:]):
        shared = d.text[b.start:a.end] if a.end > b.start else ""
        n = len(shared) if unit == "chars" else len(re.findall(r"\w+", shared))
        assert n <= cfg.chunk_overlap
    no_overlap = chunk_document(d, CollectionConfig(strategy=strategy, unit=unit, chunk_size=cfg.chunk_size,
                                                    chunk_overlap=0), emb)
    assert all(a.end <= b.start for a, b in zip(no_overlap, no_overlap[1:]))
    assert len(no_overlap) < len(chunks)


def test_markdown_chunks_never_cross_a_header():
    d = doc()
    chunks = chunk_document(d, CollectionConfig(strategy="markdown", chunk_size=2000, chunk_overlap=0),
                            FakeEmbedder())
    for c in chunks:
        lines = c.text.split("\n")
        body_started = False
        for ln in lines:
            if ln.startswith("#"):
                assert not body_started, f"header inside a chunk body: {c.text[:120]!r}"
            elif ln.strip():
                body_started = True
    assert len(chunks) == 9  # one chunk per "##" section (the "#" part titles join their first section)


def test_semantic_breaks_at_topic_shift():
    a = " ".join(f"The harbour buoy measures oxygen and water temperature number {i}." for i in range(6))
    b = " ".join(f"Payroll invoices and salary vacation policy apply monthly round {i}." for i in range(6))
    d = doc(a + " " + b, "mixed.txt")
    chunks = chunk_document(d, CollectionConfig(strategy="semantic", chunk_size=5000, chunk_overlap=0),
                            FakeEmbedder(dim=256))
    assert any(c.start == d.text.index("Payroll") for c in chunks)
    assert all("harbour" not in c.text or "Payroll" not in c.text for c in chunks)


def test_sentence_spans_are_sentences():
    text = "Dr. Who arrived. Then he left! Did he? Yes.\n\n- item one\n- item two"
    got = [text[s:e] for s, e in sentence_spans(text)]
    assert got[-2:] == ["- item one", "- item two"] and "Then he left!" in got


def test_config_validation_and_json_round_trip():
    cfg = CollectionConfig(strategy="sentence", chunk_size=500, chunk_overlap=50, unit="tokens")
    assert CollectionConfig.from_json(cfg.to_json()) == cfg
    assert CollectionConfig(strategy="token", unit="chars").unit == "tokens"
    for bad in (dict(strategy="magic"), dict(unit="words"), dict(chunk_size=5), dict(chunk_overlap=900),
                dict(chunk_size=100, chunk_overlap=-1)):
        with pytest.raises(ConfigError):
            CollectionConfig(**bad)


@pytest.mark.slow
def test_real_tokenizer_every_strategy_on_a_pdf(real_embedder):
    from workbench.sample import kb_files

    pdf = next(p for p in kb_files() if p.suffix == ".pdf")
    d = parse(pdf.name, pdf.read_bytes())
    for cfg in (CollectionConfig(strategy=s, unit="tokens", chunk_size=120, chunk_overlap=20) for s in STRATEGIES):
        chunks = chunk_document(d, cfg, real_embedder)
        assert chunks and covered(d, chunks), cfg.strategy
        for c in chunks:
            assert d.text[c.start:c.end] == c.text
            assert c.page == d.page_of(c.start) and c.page >= 1
            assert c.n_tokens <= 120, (cfg.strategy, c.n_tokens)
        assert {c.page for c in chunks} == set(range(1, len(d.page_starts) + 1))
    # Token windows never exceed the model's own window, whatever size is asked for.
    big = chunk_document(d, CollectionConfig(strategy="token", unit="tokens", chunk_size=1000, chunk_overlap=50),
                         real_embedder)
    assert max(real_embedder.count_tokens([c.text])[0] for c in big) <= real_embedder.max_tokens
