"""An in-memory collection (exact cosine search) with the Collection surface retrieval needs: for tests."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from workbench.types import Chunk, Document, ScoredChunk


@dataclass(frozen=True)
class MemoryDocInfo:
    doc_id: str
    name: str
    n_chunks: int


class MemoryCollection:
    """Chunks and their vectors in numpy; `query_vector` is an exact scan, standing in for Chroma."""

    def __init__(self, name: str, embedder, docs: dict[str, str] | None = None, chunk_size: int = 0):
        self.name, self.embedder, self.config = name, embedder, None
        self._docs: dict[str, Document] = {}
        self._chunks: list[Chunk] = []
        self._vecs = np.zeros((0, embedder.dim), dtype=np.float32)
        for doc_name, text in (docs or {}).items():
            self.add_document(doc_name, text, chunk_size)

    def add_document(self, doc_name: str, text: str, chunk_size: int = 0, paragraphs: bool = True) -> Document:
        """Add a document split on blank lines (or fixed-size windows when chunk_size > 0)."""
        doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
        doc = Document(doc_id, doc_name, "txt", text)
        spans, pos = [], 0
        if chunk_size:
            spans = [(s, min(len(text), s + chunk_size)) for s in range(0, len(text), chunk_size)]
        else:
            for part in text.split("\n\n"):
                start = text.index(part, pos)
                pos = start + len(part)
                if part.strip():
                    spans.append((start, pos))
        chunks = [Chunk(f"{doc_id}-{i:05d}", doc_id, doc_name, text[s:e], s, e, i) for i, (s, e) in enumerate(spans)]
        self.add_chunks(chunks, self.embedder.embed_batch([c.text for c in chunks]))
        self._docs[doc_id] = doc
        return doc

    def add_chunks(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        self._chunks.extend(chunks)
        self._vecs = np.vstack([self._vecs, np.asarray(vectors, dtype=np.float32).reshape(len(chunks), -1)])

    def count(self) -> int:
        return len(self._chunks)

    def fingerprint(self) -> str:
        return f"{len(self._chunks)}:{len(self._docs)}"

    def documents(self) -> list[MemoryDocInfo]:
        return [MemoryDocInfo(d.doc_id, d.name, sum(c.doc_id == d.doc_id for c in self._chunks))
                for d in self._docs.values()]

    def get_document(self, doc_id: str) -> Document:
        return self._docs[doc_id]

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        return [c for c in self._chunks if doc_id is None or c.doc_id == doc_id]

    def embeddings(self, doc_ids=None) -> tuple[list[Chunk], np.ndarray]:
        rows = [i for i, c in enumerate(self._chunks) if not doc_ids or c.doc_id in doc_ids]
        return [self._chunks[i] for i in rows], self._vecs[rows]

    def query_vector(self, vec, k: int, doc_ids=None) -> list[ScoredChunk]:
        chunks, vecs = self.embeddings(doc_ids)
        if not chunks:
            return []
        sims = vecs @ np.asarray(vec, dtype=np.float32)
        order = np.argsort(-sims, kind="stable")[:k]
        return [ScoredChunk(chunks[i], float(sims[i]), "cosine similarity", r + 1) for r, i in enumerate(order)]

    def query(self, text: str, k: int, doc_ids=None) -> list[ScoredChunk]:
        return self.query_vector(self.embedder.embed_batch([text])[0], k, doc_ids)
