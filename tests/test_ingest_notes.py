"""An upload says when chunks overflow the embedder's window (their ends would silently not be embedded)."""
from __future__ import annotations

from tests.fakes import FAKE_MODEL
from workbench.knowledge import CollectionConfig, KnowledgeBase


def test_chunks_past_the_embedders_window_are_reported(settings, fake_embedding_model):
    kb = KnowledgeBase(settings)
    words = " ".join(f"word{i}" for i in range(3000))
    long = kb.create("long", CollectionConfig(embedding_model=FAKE_MODEL, chunk_size=2000, chunk_overlap=0))
    rep = long.ingest([("manual.txt", words.encode())])
    window = long.embedder.max_tokens
    over = sum(c.n_tokens > window for c in long.chunks())
    assert over > 0
    assert any(f"{over} of {len(long.chunks())} chunks are longer than the embedder's {window}-token window" in n
               for n in rep.notes), rep.notes
    short = kb.create("short", CollectionConfig(embedding_model=FAKE_MODEL, chunk_size=200, chunk_overlap=0))
    assert not any("token window" in n for n in short.ingest([("manual.txt", words.encode())]).notes)
