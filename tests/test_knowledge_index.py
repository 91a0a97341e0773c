"""The index: idempotent re-upload, replace/delete, embedding cache, collections, queries; embedded and server."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request

import numpy as np
from pathlib import Path
import pytest

from tests.fakes import FakeEmbedder
from tests.servers import free_port, stop_process
from tests.test_knowledge_parsing import make_pdf, scanned_pdf
from workbench.knowledge import CollectionConfig, KnowledgeBase, KnowledgeError
from workbench.knowledge.chunking import index_text
from workbench.knowledge.store import forget_clients
from workbench.settings import Settings

DOCS = {
    "buoy.md": b"# Buoy\n\nThe T3 buoy measures dissolved oxygen and water temperature.\n\n"
               b"## Battery\n\nThe battery lasts fourteen months between replacements.",
    "pricing.txt": b"The Basic plan costs 12 EUR per device per month. The Pro plan costs 20 EUR.",
    "about.html": b"<html><body><h1>About</h1><p>Lumenkeel builds water sensors in Rotterdam.</p>"
                  b"<script>steal()</script></body></html>",
}


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory):
    """A real `chroma run` on a free loopback port with a temp --path; stopped after the module."""
    exe = shutil.which("chroma", path=os.path.dirname(os.path.realpath(__import__("sys").executable)))
    exe = exe or os.path.join(os.path.dirname(__import__("sys").executable), "chroma")
    port = free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError("chroma server did not start")
                time.sleep(0.3)
        yield url
    finally:
        stop_process(proc)
        forget_clients()


@pytest.fixture(params=["embedded", "server"])
def kb(request, isolated_storage, monkeypatch):
    if request.param == "server":
        monkeypatch.setenv("WORKBENCH_CHROMA_URL", request.getfixturevalue("chroma_server"))
    settings = Settings.from_env().ensure_dirs()
    assert (settings.chroma_url is not None) == (request.param == "server")
    return KnowledgeBase(settings, embedder=FakeEmbedder())


def files(*names, **override):
    return [(n, override.get(n, DOCS[n])) for n in names]


def test_ingest_query_and_metadata(kb):
    col = kb.create("Product docs")
    rep = col.ingest(files(*DOCS))
    assert sorted(rep.added) == sorted(DOCS) and rep.ok and rep.n_chunks == col.count() > 0
    info = kb.list_collections()[0]
    assert (info.name, info.n_documents, info.n_chunks, info.stale) == ("Product docs", 3, col.count(), False)
    hits = col.query("how long does the battery last", k=2)
    assert hits[0].chunk.doc_name == "buoy.md" and "battery" in hits[0].chunk.text
    assert hits[0].metric == "cosine similarity" and hits[0].rank == 1 and hits[0].score >= hits[1].score
    doc_ids = {d.name: d.doc_id for d in col.documents()}
    only = col.query("battery", k=5, doc_ids=[doc_ids["pricing.txt"]])
    assert only and {h.chunk.doc_name for h in only} == {"pricing.txt"}
    chunks, vecs = col.embeddings()
    assert vecs.shape == (len(chunks), kb.embedder.dim)
    # Stored vectors are the embedding of each chunk's index text (heading path, then text), row-aligned.
    assert np.allclose(vecs, kb.embedder.embed_batch([index_text(c) for c in chunks]), atol=1e-5)
    assert [c.context for c in chunks if c.doc_name == "buoy.md"] == ["Buoy"]
    for c in col.chunks():
        d = col.get_document(c.doc_id)
        assert d.text[c.start:c.end] == c.text and c.n_tokens > 0
    assert "steal" not in " ".join(c.text for c in col.chunks())


def test_reupload_is_idempotent_and_changes_replace_exactly_their_chunks(kb):
    col = kb.create("kb1")
    col.ingest(files(*DOCS))
    before = {c.chunk_id: c.text for c in col.chunks()}
    embedded = kb.embedder.texts_embedded
    rep = col.ingest(files(*DOCS))
    assert sorted(rep.unchanged) == sorted(DOCS) and not rep.added and rep.n_embedded == 0
    assert kb.embedder.texts_embedded == embedded
    assert {c.chunk_id: c.text for c in col.chunks()} == before
    new_price = b"The Basic plan now costs 15 EUR per device per month."
    rep = col.ingest([("pricing.txt", new_price)])
    assert rep.replaced == ("pricing.txt",)
    after = {c.chunk_id: c.text for c in col.chunks()}
    untouched = {k: v for k, v in before.items() if not v.startswith("The Basic plan costs 12")}
    assert all(after[k] == v for k, v in untouched.items())
    assert not any("12 EUR" in t for t in after.values()) and any("15 EUR" in t for t in after.values())
    assert len(col.documents()) == 3
    # The same content under two names in one upload: indexed once, the copy reported.
    rep = col.ingest([("copy-a.txt", b"Identical text about anchors."), ("copy-b.txt", b"Identical text about anchors.")])
    assert rep.added == ("copy-a.txt",) and rep.unchanged == ("copy-b.txt",) and "copy-a.txt" in rep.notes[0]
    col.delete_document(next(d.doc_id for d in col.documents() if d.name == "copy-a.txt"))
    pid = next(d.doc_id for d in col.documents() if d.name == "pricing.txt")
    col.delete_document(pid)
    assert {d.name for d in col.documents()} == {"buoy.md", "about.html"}
    assert all(c.doc_name != "pricing.txt" for c in col.chunks()) and col.count() == len(col.chunks())
    with pytest.raises(KnowledgeError):
        col.delete_document(pid)


def test_bad_files_are_reported_and_the_rest_ingested(kb, settings):
    col = kb.create("mixed", CollectionConfig(chunk_size=120, chunk_overlap=0))
    col.ingest(files("buoy.md"))
    count = col.count()
    upload = files("pricing.txt") + [
        ("scan.pdf", scanned_pdf()), ("empty.txt", b""), ("../evil.txt", b"x"), ("virus.exe", b"MZ"),
        ("buoy.md", b"\x00\x01\x02" * 100),  # binary under a text extension, same name as an indexed file
        ("huge.txt", b"a " * int(settings.max_upload_mb * 1e6)),
        ("manual.pdf", make_pdf(["Page one is about mooring lines. " * 3, "Page two is about anchors and chains. " * 3])),
    ]
    rep = col.ingest(upload)
    assert sorted(rep.added) == ["manual.pdf", "pricing.txt"]
    reasons = {f.name: f.reason for f in rep.failed}
    assert set(reasons) == {"scan.pdf", "empty.txt", "../evil.txt", "virus.exe", "buoy.md", "huge.txt"}
    assert "no text layer" in reasons["scan.pdf"] and "binary" in reasons["buoy.md"]
    assert "upload limit" in reasons["huge.txt"]
    assert rep.failed_note().startswith("; failed: ") and "virus.exe: unsupported file type" in rep.failed_note()
    assert col.ingest(files("pricing.txt")).failed_note() == ""
    # The failed re-upload of buoy.md left its indexed version alone.
    assert any("fourteen months" in c.text for c in col.chunks(next(d.doc_id for d in col.documents()
                                                                          if d.name == "buoy.md")))
    assert col.count() > count
    pages = {c.page for c in col.chunks() if c.doc_name == "manual.pdf"}
    assert pages == {1, 2}


def test_rechunking_reembeds_only_new_texts_and_clears_stale(kb):
    col = kb.create("stale-check", CollectionConfig(chunk_size=60, chunk_overlap=0))
    col.ingest(files(*DOCS))
    n_before = col.count()
    old_texts = {c.text for c in col.chunks()}
    col.set_config(CollectionConfig(chunk_size=2000, chunk_overlap=0))
    assert col.stale and kb.list_collections()[0].stale
    rep = col.reindex()
    assert not col.stale and col.count() == len(DOCS) < n_before
    new_texts = {c.text for c in col.chunks()} - old_texts
    assert rep.n_embedded == len(new_texts) >= 2  # only texts never embedded before
    col.set_config(CollectionConfig(chunk_size=60, chunk_overlap=0))
    rep = col.reindex()
    assert rep.n_embedded == 0 and col.count() == n_before  # every chunk text is in the cache


def test_collections_create_rename_delete(kb):
    kb.create("alpha")
    with pytest.raises(KnowledgeError, match="already exists"):
        kb.create("alpha")
    for bad in ("", "a/b", "..", "x" * 80):
        with pytest.raises(KnowledgeError):
            kb.create(bad)
    col = kb.get("alpha")
    col.ingest(files("pricing.txt"))
    kb.rename("alpha", "beta")
    assert [c.name for c in kb.list_collections()] == ["beta"]
    assert kb.get("beta").count() == 1 and kb.get("beta").query("plan price", 1)
    with pytest.raises(KnowledgeError):
        kb.get("alpha")
    kb.create("gamma")
    with pytest.raises(KnowledgeError, match="already exists"):
        kb.rename("gamma", "beta")
    kb.delete("beta")
    assert [c.name for c in kb.list_collections()] == ["gamma"]
    with pytest.raises(KnowledgeError):
        kb.delete("beta")


def test_cancel_leaves_index_consistent(kb):
    col = kb.create("cancel-me")
    calls = iter(range(1000))
    rep = col.ingest(files(*DOCS), cancel=lambda: next(calls) >= 1)
    assert rep.cancelled
    assert len(col.documents()) + len(rep.skipped) == len(DOCS)
    assert col.count() == sum(d.n_chunks for d in col.documents())


@pytest.mark.slow
def test_real_embedder_sample_workspace(settings, real_embedder):
    from workbench.knowledge.sample import SAMPLE_COLLECTION, load
    from workbench.sample import kb_files

    msg = load(settings, embedder=real_embedder)
    assert SAMPLE_COLLECTION in msg
    col = KnowledgeBase(settings, real_embedder).get(SAMPLE_COLLECTION)
    assert len(col.documents()) == len(kb_files()) and col.count() > len(kb_files())
    assert {d.kind for d in col.documents()} >= {"pdf", "md", "txt", "html"}
    t = time.perf_counter()
    again = load(settings, embedder=real_embedder)
    assert "0 new or changed" in again and time.perf_counter() - t < 2
    hits = col.query("How long does the TideLog T3 battery last?", k=3)
    assert hits and hits[0].chunk.doc_name.startswith("tidelog") and hits[0].chunk.page is not None


def test_writes_by_another_process_are_seen(settings):
    """The app's long-lived embedded client must see chunks a worker process indexed after it started."""
    import subprocess
    import sys
    import textwrap

    kb = KnowledgeBase(settings, embedder=FakeEmbedder())
    col = kb.create("shared")
    col.ingest(files("buoy.md"))
    assert [h.chunk.doc_name for h in col.query("basic plan price per month", 1)] == ["buoy.md"]
    script = textwrap.dedent(f"""
        from workbench.knowledge import KnowledgeBase
        from tests.fakes import FakeEmbedder
        from workbench.settings import Settings
        KnowledgeBase(Settings.from_env(), FakeEmbedder()).get("shared").ingest([("pricing.txt", {DOCS['pricing.txt']!r})])
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[1], timeout=120)
    hits = col.query("basic plan price per month", 1)
    assert hits[0].chunk.doc_name == "pricing.txt" and col.count() == len(col.chunks())
