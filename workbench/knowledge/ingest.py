"""The ingestion pipeline: parse and chunk on one thread while the main thread embeds and writes."""
from __future__ import annotations

import dataclasses
import hashlib
import queue
import shutil
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from workbench.knowledge.catalog import FileError, IngestReport, doc_record, new_chroma_key
from workbench.knowledge.chunking import chunk_document
from workbench.knowledge.decoding import UndecodableText, codec_name
from workbench.knowledge.parsing import TEXT_KINDS, ParseError, check_file_name, content_hash, kind_of, parse
from workbench.knowledge.store import chroma_client, write_lock
from workbench.names import normalise

if TYPE_CHECKING:
    from workbench.knowledge.collections import Cancel, Collection, Progress

# Texts per embedding call: large, so sentence-transformers sorts many texts by length (less padding)
# and a loaded CPU pays the per-forward-pass overhead rarely.
EMBED_BATCH = 512


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


def ingest_files(col: "Collection", files: list[tuple[str, bytes]], progress: "Progress | None" = None,
                 cancel: "Cancel | None" = None, encoding: str | None = None) -> IngestReport:
    """Ingest an upload; per file, its name (normalised) and content hash decide whether there is any work.

    `encoding` reads the upload's text files (TXT, Markdown, HTML) with that codec instead of detecting
    one: a document whose encoding was guessed is re-read even though its bytes are unchanged.
    """
    t0 = time.perf_counter()
    settings = col.settings
    max_bytes = int(settings.max_upload_mb * 1e6)
    entry = col.entry()
    cfg = col.indexed_config if entry["documents"] and col.indexed_config else col.config
    embedder = col.embedder_for(cfg.embedding_model)
    # Names compare in their normalised form (older catalogs may hold an un-normalised one).
    by_name = {normalise(r["name"]): (i, r) for i, r in entry["documents"].items()}
    try:
        forced = codec_name(encoding) if encoding else None
    except UndecodableText as e:
        return IngestReport(failed=tuple(FileError(_name_of(n), str(e)) for n, _ in files))
    notes: list[str] = []
    if col.stale:
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
    embed = col.embed_fn(embedder, counter=lambda n: n_embedded.__setitem__(0, n_embedded[0] + n))
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
        by_hash = {r["content_hash"]: r["name"] for r in entry["documents"].values()}
        batch_hashes: dict[str, str] = {}  # content hash -> first new name in this upload
        taken = set(entry["documents"])  # document ids in use, including those given in this upload
        for name, data in files:
            if stop.is_set():  # only the consumer thread calls `cancel` (it may touch UI state)
                break
            try:
                name = _screen(name, data, max_bytes)
                if name in seen:
                    raise ParseError(name, "appears twice in this upload; only the first copy was used")
                seen.add(name)
                h = content_hash(data)
                doc_id = h[:16]
                old_id, old = by_name.get(name, (None, None))
                if old and old["content_hash"] == h and not (
                        forced and kind_of(name) in TEXT_KINDS and old.get("encoding") != forced):
                    put(("unchanged", name, len(data)))
                    continue
                if old is None and (other := by_hash.get(h) or batch_hashes.get(h)):
                    put(("duplicate", (name, other), len(data)))
                    continue
                if old is None:
                    batch_hashes[h] = name
                if doc_id != old_id and doc_id in taken:
                    # A new version of this name with the bytes of another document: both stay, so this
                    # one is told apart by its name too.
                    doc_id = hashlib.sha256(f"{name}\0{h}".encode()).hexdigest()[:16]
                taken.add(doc_id)
                doc = parse(name, data, max_bytes, forced)
                if doc.doc_id != doc_id:
                    doc = dataclasses.replace(doc, doc_id=doc_id)
                chunks = chunk_document(doc, cfg, embedder, embed)
                put(("doc", (doc, chunks, old_id), len(data)))
            except ParseError as e:
                put(("fail", FileError(e.name, e.reason), len(data)))
            except Exception as e:  # a parser bug on one file must not lose the rest of the upload
                put(("fail", FileError(name, f"could not be processed ({type(e).__name__}: {e})"), len(data)))
        put(None)

    done_bytes = [0]

    def report(msg: str, extra: float = 0.0) -> None:
        if progress:
            progress(min(1.0, (done_bytes[0] + extra) / total_bytes), msg)

    pending: list[tuple] = []

    def flush() -> bool:
        """Embed and commit the pending documents; False if cancelled (nothing of them is written)."""
        if not pending:
            return True
        chunks = [c for _, (_, cs, _), _ in pending for c in cs]
        texts = [c.text for c in chunks]
        pend_bytes = sum(b for _, _, b in pending)
        vecs = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        for i in range(0, len(texts), EMBED_BATCH):
            if is_cancelled():
                return False
            report(f"Embedding chunks {i + 1}-{min(len(texts), i + EMBED_BATCH)} of {len(texts)}",
                   pend_bytes * i / max(1, len(texts)))
            vecs[i:i + EMBED_BATCH] = embed(texts[i:i + EMBED_BATCH])
        with write_lock(settings):
            records = {}
            # One delete (replaced versions, and leftovers of an interrupted run) and one upsert per batch.
            stale_ids = {d.doc_id for _, (d, _, _), _ in pending} | {o for _, (_, _, o), _ in pending if o}
            col.delete_chunks(sorted(stale_ids))
            col.write_chunks(chunks, vecs)
            for _, (doc, cs, old_id), _ in pending:
                col.kb.catalog.save_document(entry["key"], doc)
                records[doc.doc_id] = (doc_record(doc, len(cs)), old_id)

            def upd(e):
                for doc_id, (rec, old_id) in records.items():
                    if old_id and old_id != doc_id:
                        e["documents"].pop(old_id, None)
                    e["documents"][doc_id] = rec
                if not e.get("indexed_config") or len(e["documents"]) == len(records):
                    e["indexed_config"] = cfg.to_dict()
            col.kb.catalog.update(col.name, upd)
            for _, (doc, _, old_id), _ in pending:
                if old_id and old_id != doc.doc_id:
                    (col.kb.catalog.docs_dir(entry["key"]) / f"{old_id}.json").unlink(missing_ok=True)
                (replaced if old_id else added).append(doc.name)
        done_bytes[0] += pend_bytes
        pending.clear()
        return True

    producer = threading.Thread(target=produce, name="ingest-parse", daemon=True)
    producer.start()
    n_chunks, cancelled, finished = 0, False, False
    try:
        while not finished:
            item = q.get()
            if item is None:
                finished = True
            else:
                kind, payload, nbytes = item
                if kind == "doc":
                    pending.append(item)
                    report(f"Parsed {payload[0].name}: {len(payload[1])} chunks")
                    if payload[0].encoding_guessed:
                        notes.append(f"{payload[0].name}: not UTF-8; read as {payload[0].encoding}, a guess. If "
                                     "characters look wrong, upload it again with its encoding chosen.")
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
            if pending and (finished or sum(len(p[1][1]) for p in pending) >= EMBED_BATCH):
                count = sum(len(p[1][1]) for p in pending)
                if not flush():
                    cancelled = True
                    break
                n_chunks += count
            if not finished and cancel and cancel():
                cancelled = True
                break
    finally:
        # Also reached when the caller is interrupted (a Streamlit rerun): the producer must not linger.
        stop.set()
        producer.join(timeout=30)
    if cancelled:
        handled = set(added) | set(replaced) | set(unchanged) | {f.name for f in failed}
        skipped = [n for n in map(_name_of, (n for n, _ in files)) if n not in handled]
    if progress and not cancelled:
        progress(1.0, "done")
    return IngestReport(added=tuple(added), replaced=tuple(replaced), unchanged=tuple(unchanged),
                        failed=tuple(failed), skipped=tuple(skipped), n_chunks=n_chunks,
                        n_embedded=n_embedded[0], seconds=time.perf_counter() - t0, cancelled=cancelled,
                        notes=tuple(notes))


def reindex_collection(col: "Collection", progress: "Progress | None" = None,
                       cancel: "Cancel | None" = None) -> IngestReport:
    """Re-chunk all stored documents with the current settings into a new Chroma collection, then swap."""
    t0 = time.perf_counter()
    settings = col.settings
    with write_lock(settings):
        entry = col.entry()
        cfg = col.config
        embedder = col.embedder_for(cfg.embedding_model)
        n_embedded = [0]
        embed = col.embed_fn(embedder, counter=lambda n: n_embedded.__setitem__(0, n_embedded[0] + n))
        old_key, new_key = entry["key"], new_chroma_key()
        docs = list(entry["documents"].items())
        counts: dict[str, int] = {}
        n_chunks = 0
        pending: list = []

        def flush():
            # Chunks of several documents per embedding call: few large forward passes, as in ingest.
            for i in range(0, len(pending), EMBED_BATCH):
                if cancel and cancel():
                    raise InterruptedError
                part = pending[i:i + EMBED_BATCH]
                col.write_chunks(part, embed([c.text for c in part]), key=new_key)
            pending.clear()

        try:
            for j, (doc_id, rec) in enumerate(docs):
                if cancel and cancel():
                    raise InterruptedError
                if progress:
                    progress(j / max(1, len(docs)), f"Re-chunking {rec['name']}")
                doc = col.kb.catalog.load_document(old_key, doc_id)
                chunks = chunk_document(doc, cfg, embedder, embed)
                pending.extend(chunks)
                counts[doc_id] = len(chunks)
                n_chunks += len(chunks)
                if len(pending) >= EMBED_BATCH:
                    flush()
            flush()
        except InterruptedError:
            _drop_chroma(settings, new_key)
            return IngestReport(unchanged=tuple(r["name"] for _, r in docs), cancelled=True,
                                n_embedded=n_embedded[0], seconds=time.perf_counter() - t0)
        except BaseException:  # includes a UI interrupt (Streamlit's rerun): never leave a half-built index
            _drop_chroma(settings, new_key)
            raise
        if not docs:  # an empty collection still gets its (empty) Chroma collection
            col.write_chunks([], np.zeros((0, embedder.dim), dtype=np.float32), key=new_key)
        old_dir, new_dir = col.kb.catalog.docs_dir(old_key), col.kb.catalog.docs_dir(new_key)
        if old_dir.exists():
            shutil.copytree(old_dir, new_dir)

        def upd(e):
            e["key"] = new_key
            e["indexed_config"] = cfg.to_dict()
            for doc_id, n in counts.items():
                if doc_id in e["documents"]:
                    e["documents"][doc_id]["n_chunks"] = n
        col.kb.catalog.update(col.name, upd)
        _drop_chroma(settings, old_key)
        shutil.rmtree(old_dir, ignore_errors=True)
    if progress:
        progress(1.0, "done")
    return IngestReport(replaced=tuple(r["name"] for _, r in docs), n_chunks=n_chunks, n_embedded=n_embedded[0],
                        seconds=time.perf_counter() - t0)


def _drop_chroma(settings, key: str) -> None:
    try:
        chroma_client(settings).delete_collection(key)
    except Exception:  # never created, or already gone
        pass
