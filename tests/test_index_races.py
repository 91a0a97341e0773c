"""Writers racing on one knowledge base (threads and separate processes): every race of issue 13 ends consistent."""
from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from dataclasses import dataclass

import pytest

from tests.fakes import FakeEmbedder
from workbench.knowledge import CollectionConfig, KnowledgeBase, KnowledgeError
from workbench.knowledge.chunking import chunk_document
from workbench.knowledge.store import chroma_client, knowledge_dir
from workbench.settings import Settings

DOCS = {
    "buoy.md": b"# Buoy\n\nThe T3 buoy measures dissolved oxygen and water temperature.\n\n"
               b"## Battery\n\nThe battery lasts fourteen months between replacements.",
    "pricing.txt": b"The Basic plan costs 12 EUR per device per month. The Pro plan costs 20 EUR.",
}
WAIT_S = 60


def upload(tag: str, names=("a.txt", "b.txt", "c.txt")) -> list[tuple[str, bytes]]:
    """Files whose names repeat across uploads and whose text says which upload (`tag`) wrote them."""
    return [(n, f"Upload {tag} wrote {n}. The anchor chain of {tag} is {len(n) * 7} metres long. ".encode() * 4)
            for n in names]


def check_invariants(col, embedder) -> None:
    """The catalog and Chroma agree: each catalog document has exactly its chunks (as the index's chunk
    settings cut its stored text), no chunk without a document, one live document per name."""
    entry = col.entry()
    docs = entry["documents"]
    names = Counter(r["name"] for r in docs.values())
    assert all(n == 1 for n in names.values()), f"duplicate names: {names}"
    cfg = CollectionConfig.from_dict(entry["indexed_config"])
    stored = col.chunks()
    by_doc: dict[str, list] = {}
    for c in stored:
        by_doc.setdefault(c.doc_id, []).append(c)
    assert set(by_doc) <= set(docs), f"chunks of unknown documents: {set(by_doc) - set(docs)}"
    assert len({c.chunk_id for c in stored}) == len(stored) == col.count()
    for doc_id, rec in docs.items():
        doc = col.get_document(doc_id)  # the stored text loads
        assert doc.name == rec["name"]
        want = chunk_document(doc, cfg, embedder)  # one chunk-settings signature: the index's own
        got = by_doc.get(doc_id, [])
        assert [(c.chunk_id, c.text) for c in got] == [(c.chunk_id, c.text) for c in want], rec["name"]
        assert rec["n_chunks"] == len(got)


@dataclass
class Paused:
    """An ingest stopped after parsing (before anything is written) until `release()`."""

    thread: threading.Thread | None = None
    proc: multiprocessing.Process | None = None
    paused: object = None
    go: object = None
    out: object = None  # a queue (process) or list (thread) that gets ("ok", report) or ("error", message)

    def release(self):
        self.go.set()

    def result(self):
        if self.thread:
            self.thread.join(WAIT_S)
            return self.out[0]
        got = self.out.get(timeout=WAIT_S)
        self.proc.join(WAIT_S)
        return got


def _run_paused(settings: Settings, name: str, files, paused, go, out) -> None:
    """Ingest `files` into `name` (re-index it when `files` is None); stop at the first parsed (re-chunked)
    document until `go` is set."""
    def progress(_f, msg):
        if msg.startswith(("Parsed", "Re-chunking")) and not paused.is_set():
            paused.set()
            go.wait(WAIT_S)
    try:
        col = KnowledgeBase(settings, FakeEmbedder()).get(name)
        rep = col.reindex(progress) if files is None else col.ingest(files, progress=progress)
        res = ("ok", rep)
    except KnowledgeError as e:
        res = ("error", str(e))
    finally:
        paused.set()
    out.put(res) if hasattr(out, "put") else out.append(res)


def start_paused(settings: Settings, name: str, files, how: str) -> Paused:
    if how == "thread":
        p = Paused(paused=threading.Event(), go=threading.Event(), out=[])
        p.thread = threading.Thread(target=_run_paused, args=(settings, name, files, p.paused, p.go, p.out))
        p.thread.start()
    else:
        ctx = multiprocessing.get_context("spawn")
        p = Paused(paused=ctx.Event(), go=ctx.Event(), out=ctx.Queue())
        p.proc = ctx.Process(target=_run_paused, args=(settings, name, files, p.paused, p.go, p.out))
        p.proc.start()
    assert p.paused.wait(WAIT_S), "the ingest never reached its pause"
    return p


@pytest.fixture
def kb(settings):
    return KnowledgeBase(settings, embedder=FakeEmbedder())


@pytest.mark.parametrize("how", ["thread", "process"])
def test_upload_during_reindex_lands_in_the_new_index(kb, settings, how):
    col = kb.create("docs", CollectionConfig(chunk_size=60, chunk_overlap=0))
    col.ingest(list(DOCS.items()))
    p = start_paused(settings, "docs", upload("x"), how)
    col.set_config(CollectionConfig(chunk_size=2000, chunk_overlap=0))
    assert col.reindex().ok
    p.release()
    kind, rep = p.result()
    assert kind == "ok" and sorted(rep.added) == ["a.txt", "b.txt", "c.txt"], rep
    assert not col.stale
    check_invariants(col, kb.embedder)  # every text loads ("Show in context"), chunks cut at 2000
    col.set_config(CollectionConfig(chunk_size=80, chunk_overlap=0))
    assert col.reindex().ok  # later re-indexes still work
    check_invariants(col, kb.embedder)


@pytest.mark.parametrize("how", ["thread", "process"])
def test_reindex_catches_up_with_writes_made_while_it_built(kb, settings, how):
    col = kb.create("docs", CollectionConfig(chunk_size=60, chunk_overlap=0))
    col.ingest(list(DOCS.items()))
    col.set_config(CollectionConfig(chunk_size=2000, chunk_overlap=0))
    p = start_paused(settings, "docs", None, how)  # the re-index, stopped after reading its first document
    rep = col.ingest(upload("x") + [("buoy.md", b"The buoy was redesigned: its battery now lasts two years.")])
    assert sorted(rep.added) == ["a.txt", "b.txt", "c.txt"] and rep.replaced == ("buoy.md",)
    col.delete_document(next(d.doc_id for d in col.documents() if d.name == "pricing.txt"))
    p.release()
    kind, rep = p.result()
    assert kind == "ok" and rep.ok, rep
    assert sorted(d.name for d in col.documents()) == ["a.txt", "b.txt", "buoy.md", "c.txt"]
    assert col.entry()["indexed_config"]["chunk_size"] == 2000 and not col.stale
    check_invariants(col, kb.embedder)  # the upload is in the new index, cut at 2000; pricing.txt is gone
    assert "two years" in col.query("how long does the battery last", 1)[0].chunk.text


def test_reindex_of_a_deleted_collection_fails_and_leaves_nothing(kb, settings):
    col = kb.create("docs")
    col.ingest(list(DOCS.items()))
    col.set_config(CollectionConfig(chunk_size=60, chunk_overlap=0))
    before = {c.name for c in chroma_client(settings).list_collections()} - {col.key}
    p = start_paused(settings, "docs", None, "thread")
    kb.delete("docs")
    p.release()
    kind, msg = p.result()
    assert kind == "error" and "deleted" in msg, msg
    assert {c.name for c in chroma_client(settings).list_collections()} == before
    assert not any((knowledge_dir(settings) / "docs").iterdir())


@pytest.mark.parametrize("how", ["thread", "process"])
def test_same_names_uploaded_at_once_leave_one_document_per_name(kb, settings, how):
    col = kb.create("docs")
    first = start_paused(settings, "docs", upload("one"), how)
    second = start_paused(settings, "docs", upload("two"), how)
    first.release()
    assert first.result()[0] == "ok"
    second.release()
    kind, rep = second.result()
    assert kind == "ok" and sorted(rep.replaced) == ["a.txt", "b.txt", "c.txt"], rep
    assert sorted(d.name for d in col.documents()) == ["a.txt", "b.txt", "c.txt"]
    assert all("Upload two" in col.get_document(d.doc_id).text for d in col.documents())
    assert not col.query("Upload one wrote", k=20) or all("Upload two" in h.chunk.text
                                                           for h in col.query("Upload one wrote", k=20))
    check_invariants(col, kb.embedder)


@pytest.mark.parametrize("how", ["thread", "process"])
def test_upload_into_a_recreated_collection_aborts(kb, settings, how):
    kb.create("docs").ingest(list(DOCS.items()))
    p = start_paused(settings, "docs", upload("old"), how)
    kb.delete("docs")
    new = kb.create("docs")
    p.release()
    kind, msg = p.result()
    assert kind == "error" and "deleted" in msg and "nothing" in msg, msg
    assert new.documents() == [] and new.count() == 0
    assert not (kb.catalog.docs_dir(new.key)).exists() or not any(kb.catalog.docs_dir(new.key).iterdir())
    check_invariants(new, kb.embedder)


def test_upload_follows_a_rename(kb, settings):
    kb.create("docs")
    p = start_paused(settings, "docs", upload("r"), "thread")
    kb.rename("docs", "renamed")
    p.release()
    kind, rep = p.result()
    assert kind == "ok" and len(rep.added) == 3
    check_invariants(kb.get("renamed"), kb.embedder)


def test_delete_by_another_process_is_not_returned_by_queries(kb, settings):
    """A long-lived reader (the app) must not return chunks another process removed."""
    col = kb.create("docs")
    col.ingest(list(DOCS.items()))
    assert col.query("battery fourteen months", 1)[0].chunk.doc_name == "buoy.md"
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_delete_named, args=(settings, "docs", "buoy.md"))
    proc.start()
    proc.join(WAIT_S)
    assert proc.exitcode == 0
    assert {h.chunk.doc_name for h in col.query("battery fourteen months", 5)} == {"pricing.txt"}


def _delete_named(settings: Settings, name: str, doc_name: str) -> None:
    col = KnowledgeBase(settings, FakeEmbedder()).get(name)
    col.delete_document(next(d.doc_id for d in col.documents() if d.name == doc_name))


def test_store_lock_readers_share_writers_wait_and_go_first(settings):
    from workbench.knowledge.store import read_lock, write_lock

    events: list[str] = []
    reading, writer_waiting = threading.Event(), threading.Event()

    def reader(tag, hold_s):
        with read_lock(settings):
            events.append(f"{tag} in")
            reading.set()
            threading.Event().wait(hold_s)
            events.append(f"{tag} out")

    def writer():
        writer_waiting.set()
        with write_lock(settings):
            events.append("writer in")
            threading.Event().wait(0.2)
            events.append("writer out")

    first = threading.Thread(target=reader, args=("r1", 0.5))
    first.start()
    reading.wait(WAIT_S)
    w = threading.Thread(target=writer)
    w.start()
    writer_waiting.wait(WAIT_S)
    threading.Event().wait(0.1)  # the writer now waits for r1
    late = threading.Thread(target=reader, args=("r2", 0))
    late.start()
    for t in (first, w, late):
        t.join(WAIT_S)
    # r2 came while the writer waited: it reads after the writer, not alongside r1.
    assert events.index("r1 out") < events.index("writer in") < events.index("writer out") < events.index("r2 in")
    with read_lock(settings), pytest.raises(RuntimeError, match="inside read_lock"):
        with write_lock(settings):
            pass
    with write_lock(settings), read_lock(settings):  # a writer may read what it writes
        pass


def test_a_catalog_entry_without_identity_gets_one(kb):
    col = kb.create("old")

    def drop_id(e):
        e.pop("id")
    kb.catalog.update("old", drop_id)
    assert "id" not in col.entry()
    assert col.ingest(list(DOCS.items())).ok and col.entry()["id"] == col.uid
    check_invariants(col, kb.embedder)
