"""Re-index: re-chunk every stored document with the current settings into a new Chroma collection, then swap.

The new index is built outside the store lock (each batch written under it); the swap, under the lock,
first brings it up to date with what other writers changed meanwhile (documents added, replaced or
deleted), so an upload during a re-index lands in the new index, cut with the new settings.
"""
from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING

from workbench.knowledge.catalog import IngestReport, KnowledgeError, new_chroma_key
from workbench.knowledge.chunking import chunk_document, index_text
from workbench.knowledge.config import CollectionConfig
from workbench.knowledge.ingest import COMMIT_BATCH, EMBED_BATCH
from workbench.knowledge.store import chroma_client, read_lock, write_lock

if TYPE_CHECKING:
    from workbench.knowledge.collections import Cancel, Collection, Progress


def _same(a: dict, b: dict) -> bool:
    """The same document version (the catalog records differ in their chunk count only)."""
    return {k: v for k, v in a.items() if k != "n_chunks"} == {k: v for k, v in b.items() if k != "n_chunks"}


def reindex_collection(col: "Collection", progress: "Progress | None" = None,
                       cancel: "Cancel | None" = None) -> IngestReport:
    """Re-chunk all stored documents with the current settings into a new Chroma collection, then swap."""
    t0 = time.perf_counter()
    settings, catalog = col.settings, col.kb.catalog
    uid, entry = col.snapshot()
    cfg = CollectionConfig.from_dict(entry["config"])
    embedder = col.embedder_for(cfg.embedding_model)
    n_embedded = [0]
    embed = col.embed_fn(embedder, counter=lambda n: n_embedded.__setitem__(0, n_embedded[0] + n))
    new_key = new_chroma_key()
    built: dict[str, tuple[dict, int]] = {}  # doc_id -> (its catalog record when read, chunks written)
    pending: list = []
    gone_msg = f"The collection '{col.name}' was deleted while it was re-indexed; the new index was dropped."

    def load(doc_id: str):
        """(document, its catalog record) as they are now; None once deleted."""
        with read_lock(settings):
            found = catalog.find(uid, fresh=False)
            if found is None:
                raise KnowledgeError(gone_msg)
            rec = found[1]["documents"].get(doc_id)
            return None if rec is None else (catalog.load_document(found[1]["key"], doc_id), rec)

    def flush():
        # Chunks of several documents, sorted by length (little padding per call); embedded outside the lock.
        pending.sort(key=lambda c: len(index_text(c)))
        for i in range(0, len(pending), EMBED_BATCH):
            if cancel and cancel():
                raise InterruptedError
            part = pending[i:i + EMBED_BATCH]
            vecs = embed([index_text(c) for c in part])
            with write_lock(settings):
                col.write_chunks(part, vecs, key=new_key)
        pending.clear()

    def swap() -> None:
        """Bring the new index up to date with the catalog as it is now and make it the collection's."""
        found = catalog.find(uid)
        if found is None:
            raise KnowledgeError(gone_msg)
        name_now, e = found
        cur_key, docs = e["key"], e["documents"]
        gone = [d for d in built if d not in docs or not _same(built[d][0], docs[d])]
        col.delete_chunks(gone, key=new_key)
        for d in gone:
            del built[d]
        for d in [d for d in docs if d not in built]:  # uploaded or replaced meanwhile: cut with `cfg` too
            chunks = chunk_document(catalog.load_document(cur_key, d), cfg, embedder, embed)
            col.write_chunks(chunks, embed([index_text(c) for c in chunks]), key=new_key)
            built[d] = (docs[d], len(chunks))
        col.write_chunks([], embed([]), key=new_key)  # an empty collection still gets its Chroma collection
        old_dir, new_dir = catalog.docs_dir(cur_key), catalog.docs_dir(new_key)
        if old_dir.exists():
            shutil.copytree(old_dir, new_dir)

        def upd(x):
            x["key"] = new_key
            x["indexed_config"] = cfg.to_dict()
            for doc_id, (_, n) in built.items():
                x["documents"][doc_id]["n_chunks"] = n
        catalog.update(name_now, upd)
        _drop_chroma(settings, cur_key)
        shutil.rmtree(old_dir, ignore_errors=True)

    docs = list(entry["documents"])
    try:
        for j, doc_id in enumerate(docs):
            if cancel and cancel():
                raise InterruptedError
            got = load(doc_id)
            if got is None:  # deleted meanwhile
                continue
            doc, rec = got
            if progress:
                progress(j / max(1, len(docs)), f"Re-chunking {doc.name}")
            chunks = chunk_document(doc, cfg, embedder, embed)
            pending.extend(chunks)
            built[doc_id] = (rec, len(chunks))
            if len(pending) >= COMMIT_BATCH:
                flush()
        flush()
        with write_lock(settings):
            swap()
    except InterruptedError:
        _drop_new(col, new_key)
        return IngestReport(unchanged=tuple(entry["documents"][d]["name"] for d in docs), cancelled=True,
                            n_embedded=n_embedded[0], seconds=time.perf_counter() - t0)
    except BaseException:  # includes a UI interrupt (Streamlit's rerun): never leave a half-built index
        _drop_new(col, new_key)
        raise
    if progress:
        progress(1.0, "done")
    return IngestReport(replaced=tuple(r["name"] for r, _ in built.values()),
                        n_chunks=sum(n for _, n in built.values()), n_embedded=n_embedded[0],
                        seconds=time.perf_counter() - t0)


def _drop_new(col: "Collection", key: str) -> None:
    """Remove a new index that was never swapped in (and the texts a failed swap may have copied)."""
    with write_lock(col.settings):
        _drop_chroma(col.settings, key)
        shutil.rmtree(col.kb.catalog.docs_dir(key), ignore_errors=True)


def _drop_chroma(settings, key: str) -> None:
    try:
        chroma_client(settings).delete_collection(key)
    except Exception:  # never created, or already gone
        pass
