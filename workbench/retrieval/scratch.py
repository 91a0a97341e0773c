"""Throw-away Chroma collections built from chunks and vectors: the sweep's candidates and the bench's corpora."""
from __future__ import annotations

import threading
import uuid

import numpy as np

from workbench.types import Chunk, Document, ScoredChunk

_CLIENT = None
_CLIENT_LOCK = threading.Lock()
SCRATCH_PREFIX = "wb-scratch-"


def scratch_client():
    """One in-memory Chroma client per process: scratch data never touches the user's index on disk."""
    global _CLIENT
    with _CLIENT_LOCK:
        if _CLIENT is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            _CLIENT = chromadb.EphemeralClient(ChromaSettings(anonymized_telemetry=False, allow_reset=True))
        return _CLIENT


def live_scratch_names(client=None) -> list[str]:
    """Scratch collections that exist in this process's client now (a finished sweep leaves none)."""
    client = client or scratch_client()
    return sorted(n for n in (getattr(c, "name", c) for c in client.list_collections()) if n.startswith(SCRATCH_PREFIX))


def drop_leftovers(client=None) -> list[str]:
    """Delete every scratch collection of this process; returns their names (a sweep's last guard)."""
    client = client or scratch_client()
    left = live_scratch_names(client)
    for name in left:
        try:
            client.delete_collection(name)
        except Exception:  # gone meanwhile: the goal is that none remains
            pass
    return left


def _meta(c: Chunk) -> dict:
    m = {"doc_id": c.doc_id, "doc_name": c.doc_name, "start": c.start, "end": c.end, "index": c.index}
    if c.page is not None:  # Chroma metadata cannot hold None
        m["page"], m["page_end"] = c.page, c.page_end
    if c.n_tokens is not None:
        m["n_tokens"] = c.n_tokens
    if c.context:
        m["context"] = c.context
    return m


def _chunk(cid: str, text: str, m: dict) -> Chunk:
    return Chunk(cid, m["doc_id"], m["doc_name"], text, int(m["start"]), int(m["end"]), int(m["index"]),
                 page=m.get("page"), page_end=m.get("page_end"), n_tokens=m.get("n_tokens"),
                 context=m.get("context", ""))


class ScratchCollection:
    """A real Chroma (HNSW, cosine) collection with the Collection surface that retrieval reads."""

    def __init__(self, embedder, config=None, documents: list[Document] = (), label: str = "scratch", client=None):
        self.client = client or scratch_client()
        self.name = f"{SCRATCH_PREFIX}{label}-{uuid.uuid4().hex[:8]}"
        self.embedder, self.config = embedder, config
        self._docs = {d.doc_id: d for d in documents}
        self._chunks: list[Chunk] = []
        self._col = self.client.create_collection(self.name, configuration={"hnsw": {"space": "cosine"}})

    def add(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        """Index chunks with their precomputed unit vectors, in Chroma's maximum batch size."""
        step = self.client.get_max_batch_size()
        vectors = np.asarray(vectors, dtype=np.float32)
        for i in range(0, len(chunks), step):
            part = chunks[i:i + step]
            self._col.add(ids=[c.chunk_id for c in part], embeddings=vectors[i:i + step],
                          documents=[c.text for c in part], metadatas=[_meta(c) for c in part])
        self._chunks.extend(chunks)
        self._vectors = None

    def drop(self) -> None:
        """Delete the Chroma collection (idempotent)."""
        try:
            self.client.delete_collection(self.name)
        except Exception:  # already gone: cleanup must never mask the error that triggered it
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.drop()

    # The Collection surface used by workbench.retrieval.
    def count(self) -> int:
        return len(self._chunks)

    def fingerprint(self) -> str:
        return str(len(self._chunks))

    def documents(self) -> list[Document]:
        return list(self._docs.values())

    def get_document(self, doc_id: str) -> Document:
        return self._docs[doc_id]

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        return [c for c in self._chunks if doc_id is None or c.doc_id == doc_id]

    def embeddings(self, doc_ids=None) -> tuple[list[Chunk], np.ndarray]:
        got = self._col.get(include=["embeddings"], where={"doc_id": {"$in": list(doc_ids)}} if doc_ids else None)
        by_id = {c.chunk_id: c for c in self._chunks}
        return [by_id[i] for i in got["ids"]], np.asarray(got["embeddings"], dtype=np.float32)

    def query_vector(self, vec, k: int, doc_ids=None) -> list[ScoredChunk]:
        if not self._chunks:
            return []
        res = self._col.query(query_embeddings=[np.asarray(vec, dtype=np.float32)], n_results=min(k, len(self._chunks)),
                              where={"doc_id": {"$in": list(doc_ids)}} if doc_ids else None,
                              include=["documents", "metadatas", "distances"])
        out = []
        for r, (cid, text, m, d) in enumerate(zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                                  res["distances"][0])):
            out.append(ScoredChunk(_chunk(cid, text, m), 1.0 - float(d), "cosine similarity", r + 1))
        return out

    def query(self, text: str, k: int, doc_ids=None) -> list[ScoredChunk]:
        return self.query_vector(self.embedder.embed_batch([text])[0], k, doc_ids)

