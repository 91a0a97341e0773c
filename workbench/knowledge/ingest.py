"""The ingestion pipeline: parse and chunk on one thread while the main thread embeds and writes.

Parsing, chunking and embedding run outside the store lock against a snapshot of the collection; each
batch is then committed under `write_lock` against the catalog entry as it is *then*: the Chroma key, the
index's chunk settings and the documents by name are read again there, so an upload racing a re-index,
another upload or a delete never writes with stale ones (docs/ARCHITECTURE.md, "Who writes the index").
"""
from __future__ import annotations

import dataclasses
import hashlib
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from workbench.knowledge.catalog import FileError, IngestReport, KnowledgeError, doc_record
from workbench.knowledge.chunking import chunk_document, index_text
from workbench.knowledge.config import CollectionConfig
from workbench.knowledge.decoding import UndecodableText, codec_name
from workbench.knowledge.parsing import TEXT_KINDS, ParseError, check_file_name, content_hash, kind_of, parse
from workbench.knowledge.store import write_lock
from workbench.names import normalise
from workbench.types import Chunk, Document

if TYPE_CHECKING:
    from workbench.knowledge.collections import Cancel, Collection, Progress

# Chunks gathered before embedding and committing: many, so a loaded CPU pays the per-pass overhead rarely;
# they are sorted by length, so each call pads little.
COMMIT_BATCH = 512
# Texts per embedding call: small enough that progress moves and a cancel is honoured within a few seconds
# (128 length-sorted texts embed as fast per text as 512 unsorted ones: ~140 texts/s here, measured).
EMBED_BATCH = 128


def index_config(entry: dict) -> CollectionConfig:
    """The chunk settings new chunks must be cut with: the index's own while it holds documents."""
    ic = entry.get("indexed_config")
    return CollectionConfig.from_dict(ic if entry["documents"] and ic else entry["config"])


@dataclasses.dataclass(frozen=True)
class Target:
    """The chunk settings and embedder an upload cuts and embeds with."""

    cfg: CollectionConfig
    embedder: object
    embed: Callable


@dataclasses.dataclass
class Parsed:
    """One parsed and chunked file, waiting to be embedded and committed."""

    doc: Document
    chunks: list[Chunk]
    target: Target
    nbytes: int


def _screen(name: str, data: bytes, max_bytes: int) -> str:
    """Cheap checks before hashing: name, type, size; returns the normalised name."""
    name = check_file_name(name)
    kind_of(name)
    if len(data) > max_bytes:
        raise ParseError(name, f"is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB upload limit")
    return name


def _name_of(name: str) -> str:
    try:
        return check_file_name(name)
    except ParseError as e:
        return e.name


class Decider:
    """What an uploaded file does to a collection's documents, by normalised name and content hash."""

    def __init__(self, documents: dict, forced: str | None, reread: bool = False):
        self.forced, self.reread = forced, reread
        # Names compare in their normalised form (older catalogs may hold an un-normalised one).
        self.by_name = {normalise(r["name"]): (i, r) for i, r in documents.items()}
        self.by_hash = {r["content_hash"]: r["name"] for r in documents.values()}
        self.taken = set(documents)  # document ids in use, including those given out by this decider

    def decide(self, name: str, h: str) -> tuple[str, object]:
        """("unchanged", None), ("duplicate", the other name) or ("doc", (doc_id, id of the replaced one))."""
        old_id, old = self.by_name.get(name, (None, None))
        forced = self.encoding_for(name)
        if old and self.reread and kind_of(name) in TEXT_KINDS:
            # The stored document read again with another codec: the same document, id and file hash kept.
            return ("unchanged", None) if old.get("encoding") == forced else ("doc", (old_id, old_id))
        if old and old["content_hash"] == h and not (
                forced and kind_of(name) in TEXT_KINDS and old.get("encoding") != forced):
            return "unchanged", None
        if old is None and (other := self.by_hash.get(h)):
            return "duplicate", other
        if old is None:
            self.by_hash[h] = name
        doc_id = h[:16]
        if doc_id != old_id and doc_id in self.taken:
            # A new version of this name with the bytes of another document: both stay, so this one is
            # told apart by its name too.
            doc_id = hashlib.sha256(f"{name}\0{h}".encode()).hexdigest()[:16]
        self.taken.add(doc_id)
        return "doc", (doc_id, old_id)

    def encoding_for(self, name: str) -> str | None:
        """The codec to read `name` with: the upload's, else the one a user chose for an earlier version."""
        if self.forced:
            return self.forced
        _, old = self.by_name.get(name, (None, None))
        return old.get("encoding") if old and old.get("encoding_chosen") else None

    def hash_to_keep(self, name: str) -> str | None:
        """A re-read keeps the file hash of the upload it re-reads (so uploading that file again is 'unchanged')."""
        _, old = self.by_name.get(name, (None, None))
        return old["content_hash"] if old and self.reread else None


def ingest_files(col: "Collection", files: list[tuple[str, bytes]], progress: "Progress | None" = None,
                 cancel: "Cancel | None" = None, encoding: str | None = None, reread: bool = False) -> IngestReport:
    """Ingest an upload; per file, its name (normalised) and content hash decide whether there is any work.

    `encoding` reads the upload's text files (TXT, Markdown, HTML) with that codec instead of detecting
    one: a document whose encoding was guessed is re-read even though its bytes are unchanged, and later
    versions of that name are read with the chosen codec too. `reread`: the files are stored documents read
    again (decoding.stored_bytes), which keep their id and file hash.
    Raises KnowledgeError when the collection is deleted (or deleted and re-created) meanwhile.
    """
    t0 = time.perf_counter()
    settings = col.settings
    max_bytes = int(settings.max_upload_mb * 1e6)
    uid, entry = col.snapshot()
    try:
        forced = codec_name(encoding) if encoding else None
    except UndecodableText as e:
        return IngestReport(failed=tuple(FileError(_name_of(n), str(e)) for n, _ in files))
    notes: list[str] = []
    if entry["documents"] and index_config(entry).chunking_key() != CollectionConfig.from_dict(
            entry["config"]).chunking_key():
        notes.append("The collection's settings changed since its index was built: these files were chunked "
                     "with the index's settings. Re-index to apply the new ones.")
    failed: list[FileError] = []
    if len(files) > settings.max_files_per_upload:
        failed += [FileError(n, f"over the limit of {settings.max_files_per_upload} files per upload")
                   for n, _ in files[settings.max_files_per_upload:]]
        files = files[:settings.max_files_per_upload]
    total_bytes = sum(len(d) for _, d in files) or 1
    added, replaced, unchanged, skipped = [], [], [], []
    n_embedded = [0]

    def target_for(cfg: CollectionConfig) -> Target:
        embedder = col.embedder_for(cfg.embedding_model)
        return Target(cfg, embedder, col.embed_fn(embedder, counter=lambda n: n_embedded.__setitem__(
            0, n_embedded[0] + n)))

    state = {"target": target_for(index_config(entry))}  # a commit replaces it once the index was rebuilt
    stop = threading.Event()
    q: queue.Queue = queue.Queue(maxsize=8)
    is_cancelled = (lambda: bool(cancel and cancel()) or stop.is_set())

    def put(item) -> None:
        # Bounded queue: wait for the consumer, but give up once the upload is cancelled or abandoned.
        while not stop.is_set():
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                pass

    def produce():
        seen: set[str] = set()
        decider = Decider(entry["documents"], forced, reread)  # the snapshot's view; commit decides again
        for name, data in files:
            if stop.is_set():  # only the consumer thread calls `cancel` (it may touch UI state)
                break
            try:
                name = _screen(name, data, max_bytes)
                if name in seen:
                    raise ParseError(name, "appears twice in this upload; only the first copy was used")
                seen.add(name)
                what, info = decider.decide(name, content_hash(data))
                if what != "doc":
                    put((what, name if what == "unchanged" else (name, info), len(data)))
                    continue
                doc = parse(name, data, max_bytes, decider.encoding_for(name))
                if doc.doc_id != info[0]:
                    doc = dataclasses.replace(doc, doc_id=info[0])
                if kept := decider.hash_to_keep(name):
                    doc = dataclasses.replace(doc, content_hash=kept)
                t = state["target"]
                put(("doc", Parsed(doc, chunk_document(doc, t.cfg, t.embedder, t.embed), t, len(data)), len(data)))
            except ParseError as e:
                put(("fail", FileError(e.name, e.reason), len(data)))
            except Exception as e:  # a parser bug on one file must not lose the rest of the upload
                put(("fail", FileError(name, f"could not be processed ({type(e).__name__}: {e})"), len(data)))
        put(None)

    done_bytes = [0]

    def report(msg: str, extra: float = 0.0) -> None:
        if progress:
            progress(min(1.0, (done_bytes[0] + extra) / total_bytes), msg)

    def commit(batch: list[Parsed]) -> int:
        """Write `batch` against the catalog entry as it is now (caller holds write_lock); chunks written."""
        found = col.kb.catalog.find(uid)
        if found is None:
            now = " (the collection of that name now is a new one)" if col.kb.exists(col.name) else ""
            raise KnowledgeError(f"The collection '{col.name}' was deleted while this upload ran{now}; nothing "
                                 "more of this upload was written. Upload the files again.")
        name_now, fresh = found
        cfg = index_config(fresh)
        if cfg.chunking_key() != state["target"].cfg.chunking_key():
            state["target"] = target_for(cfg)
            notes.append("The collection was re-indexed while this upload ran: its files were chunked with "
                         "the new index's settings.")
        t = state["target"]
        decider = Decider(fresh["documents"], forced, reread)
        plan: list[tuple[Document, list[Chunk], str | None]] = []
        chosen: set[str] = set()  # documents read with a codec a user chose: later versions keep it
        for p in batch:
            name = normalise(p.doc.name)
            what, info = decider.decide(name, p.doc.content_hash)
            if what != "doc":  # another writer put these bytes in meanwhile
                unchanged.append(p.doc.name)
                if what == "duplicate":
                    notes.append(f"{p.doc.name}: same content as '{info}', already in the collection")
                continue
            doc_id, old_id = info
            doc, chunks = p.doc, p.chunks
            if decider.encoding_for(name) and doc.kind in TEXT_KINDS:
                chosen.add(doc_id)
            if doc_id != doc.doc_id or p.target is not t:
                doc = dataclasses.replace(doc, doc_id=doc_id)
                chunks = chunk_document(doc, t.cfg, t.embedder, t.embed)
            plan.append((doc, chunks, old_id))
        if not plan:
            return 0
        key = fresh["key"]
        chunks = [c for _, cs, _ in plan for c in cs]
        vecs = t.embed([index_text(c) for c in chunks])  # from the cache, but for chunks cut again just now
        # One delete (replaced versions, and leftovers of an interrupted run) and one upsert per batch.
        col.delete_chunks(sorted({d.doc_id for d, _, _ in plan} | {o for _, _, o in plan if o}), key=key)
        col.write_chunks(chunks, vecs, key=key)
        for doc, _, _ in plan:
            col.kb.catalog.save_document(key, doc)
        records = {doc.doc_id: ({**doc_record(doc, len(cs)), "encoding_chosen": doc.doc_id in chosen}, old_id)
                   for doc, cs, old_id in plan}

        def upd(e):
            for doc_id, (rec, old_id) in records.items():
                if old_id and old_id != doc_id:
                    e["documents"].pop(old_id, None)
                e["documents"][doc_id] = rec
            if not e.get("indexed_config") or len(e["documents"]) == len(records):
                e["indexed_config"] = t.cfg.to_dict()
        col.kb.catalog.update(name_now, upd)
        for doc, _, old_id in plan:
            if old_id and old_id != doc.doc_id:
                (col.kb.catalog.docs_dir(key) / f"{old_id}.json").unlink(missing_ok=True)
            (replaced if old_id else added).append(doc.name)
        return len(chunks)

    pending: list[Parsed] = []
    n_chunks = [0]
    over, seen_chunks = [0, 0], [0]  # chunks past the embedder's window (and the window), chunks parsed

    def flush() -> bool:
        """Embed (outside the lock) and commit the pending documents; False if cancelled (nothing written)."""
        if not pending:
            return True
        t = state["target"]
        texts = sorted((index_text(c) for p in pending if p.target is t for c in p.chunks), key=len)
        pend_bytes = sum(p.nbytes for p in pending)
        for i in range(0, len(texts), EMBED_BATCH):
            if is_cancelled():
                return False
            report(f"Embedding chunks {i + 1}-{min(len(texts), i + EMBED_BATCH)} of {len(texts)}",
                   pend_bytes * i / max(1, len(texts)))
            t.embed(texts[i:i + EMBED_BATCH])  # into the cache, so the commit under the lock is quick
        with write_lock(settings):
            n_chunks[0] += commit(pending)
        done_bytes[0] += pend_bytes
        pending.clear()
        return True

    producer = threading.Thread(target=produce, name="ingest-parse", daemon=True)
    producer.start()
    cancelled, finished = False, False
    try:
        while not finished:
            item = q.get()
            if item is None:
                finished = True
            else:
                kind, payload, nbytes = item
                if kind == "doc":
                    pending.append(payload)
                    window = getattr(payload.target.embedder, "max_tokens", None)
                    if window:
                        over[0] += sum(c.n_tokens > window for c in payload.chunks)
                        over[1] = window
                    seen_chunks[0] += len(payload.chunks)
                    report(f"Parsed {payload.doc.name}: {len(payload.chunks)} chunks")
                    if payload.doc.encoding_guessed:
                        notes.append(f"{payload.doc.name}: not UTF-8; read as {payload.doc.encoding}, a guess. If "
                                     "characters look wrong, choose its encoding on the Documents page.")
                else:
                    done_bytes[0] += nbytes
                    if kind == "unchanged":
                        unchanged.append(payload)
                        report(f"Unchanged: {payload}")
                    elif kind == "duplicate":
                        unchanged.append(payload[0])
                        notes.append(f"{payload[0]}: same content as '{payload[1]}', already in the collection")
                        report(f"Duplicate: {payload[0]}")
                    else:
                        failed.append(payload)
                        report(f"Failed: {payload.name}")
            # Wait for a full batch: on a busy CPU, many small forward passes cost twice one large one
            # (measured: 37 sample chunks, one call 22 s vs one call per document 45 s at load 12).
            if pending and (finished or sum(len(p.chunks) for p in pending) >= COMMIT_BATCH):
                if not flush():
                    cancelled = True
                    break
            if not finished and cancel and cancel():
                cancelled = True
                break
    finally:
        # Also reached when the caller is interrupted (a Streamlit rerun): the producer must not linger.
        stop.set()
        producer.join(timeout=30)
    if over[0]:
        notes.append(f"{over[0]} of {seen_chunks[0]} chunks are longer than the embedder's {over[1]}-token window: "
                     "their ends are not embedded (BM25 still reads them). Smaller chunks, or a size in tokens, "
                     "avoid it (Chunking).")
    if cancelled:
        handled = set(added) | set(replaced) | set(unchanged) | {f.name for f in failed}
        skipped = [n for n in map(_name_of, (n for n, _ in files)) if n not in handled]
    if progress and not cancelled:
        progress(1.0, "done")
    return IngestReport(added=tuple(added), replaced=tuple(replaced), unchanged=tuple(unchanged),
                        failed=tuple(failed), skipped=tuple(skipped), n_chunks=n_chunks[0],
                        n_embedded=n_embedded[0], seconds=time.perf_counter() - t0, cancelled=cancelled,
                        notes=tuple(notes))
