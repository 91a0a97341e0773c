"""Named knowledge bases: `KnowledgeBase` manages them, `Collection` ingests, lists and searches one."""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import numpy as np

from workbench.knowledge.catalog import (
    Catalog, CollectionInfo, DocumentInfo, IngestReport, KnowledgeError, doc_info,
    new_chroma_key, new_uid,
)
from workbench.knowledge.config import CollectionConfig
from workbench.knowledge.store import EmbeddingCache, cached_embed, chroma_client, read_lock, write_lock
from workbench import resources
from workbench.models.embedder import Embedder
from workbench.names import check_name
from workbench.settings import Settings
from workbench.types import Chunk, Document, ScoredChunk

Progress = Callable[[float, str], None]
Cancel = Callable[[], bool]
CHROMA_BATCH = 2000  # records per Chroma add(); under its max batch size on every backend


def chunk_metadata(c: Chunk) -> dict:
    # Chroma metadata cannot hold None: page-less documents store page and page_end -1.
    return {"doc_id": c.doc_id, "doc_name": c.doc_name, "page": -1 if c.page is None else int(c.page),
            "page_end": -1 if c.page_end is None else int(c.page_end),
            "start": c.start, "end": c.end, "index": c.index, "n_tokens": int(c.n_tokens or 0), "context": c.context}


def _page(value) -> int | None:
    return None if value is None or int(value) < 0 else int(value)


def chunk_from_record(chunk_id: str, text: str, meta: dict) -> Chunk:
    # An index built before page spans has no page_end: its chunks read as lying on their first page.
    return Chunk(chunk_id=chunk_id, doc_id=meta["doc_id"], doc_name=meta["doc_name"], text=text,
                 start=int(meta["start"]), end=int(meta["end"]), index=int(meta["index"]),
                 page=_page(meta.get("page")), page_end=_page(meta.get("page_end")),
                 n_tokens=int(meta.get("n_tokens", 0)), context=meta.get("context", ""))


class Collection:
    """One named knowledge base: its documents, chunks and Chroma index."""

    def __init__(self, kb: "KnowledgeBase", name: str):
        self.kb, self.name = kb, name
        self.settings = kb.settings
        kb.catalog.entry(name)  # raises for unknown names

    def __repr__(self) -> str:
        return f"Collection({self.name!r})"

    # --- settings ---------------------------------------------------------------------------
    def entry(self) -> dict:
        """The catalog record: Chroma key, config, indexed config and documents (read fresh)."""
        return self.kb.catalog.entry(self.name)

    @property
    def key(self) -> str:
        """The Chroma collection behind this knowledge base (a re-index replaces it)."""
        return self.entry()["key"]

    @property
    def uid(self) -> str:
        """This collection's identity: kept by a rename and a re-index, new once deleted and re-created."""
        return self.snapshot()[0]

    def snapshot(self) -> tuple[str, dict]:
        """(uid, catalog entry) as one consistent read; a catalog entry from before identities gets one."""
        with read_lock(self.settings):
            entry = self.kb.catalog.entry(self.name)
        if entry.get("id"):
            return entry["id"], entry
        with write_lock(self.settings):
            entry = self.kb.catalog.update(self.name, lambda e: e.setdefault("id", new_uid()))
        return entry["id"], entry

    @property
    def config(self) -> CollectionConfig:
        return CollectionConfig.from_dict(self.entry()["config"])

    @property
    def indexed_config(self) -> CollectionConfig | None:
        ic = self.entry().get("indexed_config")
        return CollectionConfig.from_dict(ic) if ic else None

    @property
    def stale(self) -> bool:
        """True when the index was built with other chunking/embedding settings than the current ones."""
        entry = self.entry()
        ic = entry.get("indexed_config")
        if not entry["documents"] or not ic:
            return False
        return CollectionConfig.from_dict(ic).chunking_key() != CollectionConfig.from_dict(entry["config"]).chunking_key()

    def embedder_for(self, model: str) -> Embedder:
        """The knowledge base's own embedder when it has one, else the process's shared `model`."""
        if self.kb.embedder is not None:
            return self.kb.embedder
        return resources.embedder(self.settings, model)

    @property
    def embedder(self) -> Embedder:
        """The embedder of the index as built (the configured one for an empty collection)."""
        cfg = self.indexed_config if self.entry()["documents"] and self.indexed_config else self.config
        return self.embedder_for(cfg.embedding_model)

    def set_config(self, config: CollectionConfig) -> None:
        """Change the settings; a non-empty index then reads as stale until `reindex()`."""
        def upd(e):
            e["config"] = config.to_dict()
            if not e["documents"]:
                e["indexed_config"] = config.to_dict()
        with write_lock(self.settings):
            self.kb.catalog.update(self.name, upd)

    def embed_fn(self, embedder: Embedder | None = None, counter=None):
        """Embedding through the shared (model, text) cache."""
        return cached_embed(self.kb.cache, embedder or self.embedder, counter)

    # --- Chroma -------------------------------------------------------------------------------
    def _chroma(self, key: str | None = None, create: bool = True):
        client = chroma_client(self.settings)
        key = key or self.key
        if create:
            return client.get_or_create_collection(key, configuration={"hnsw": {"space": "cosine"}},
                                                   embedding_function=None)
        return client.get_collection(key, embedding_function=None)

    # write_chunks and delete_chunks are what workbench.knowledge.ingest writes the index through;
    # the caller holds write_lock and passes the `key` it read from the catalog under that same lock.
    def write_chunks(self, chunks: list[Chunk], vecs: np.ndarray, key: str | None = None) -> None:
        """Upsert chunks with their vectors; creates the Chroma collection `key` when missing."""
        col = self._chroma(key)
        for i in range(0, len(chunks), CHROMA_BATCH):
            part = chunks[i:i + CHROMA_BATCH]
            col.upsert(ids=[c.chunk_id for c in part], embeddings=vecs[i:i + CHROMA_BATCH],
                       documents=[c.text for c in part], metadatas=[chunk_metadata(c) for c in part])

    def delete_chunks(self, doc_ids, key: str | None = None) -> None:
        """Remove exactly the chunks of these documents."""
        if where := self._where(doc_ids):
            self._chroma(key).delete(where=where)

    @staticmethod
    def _where(doc_ids) -> dict | None:
        doc_ids = list(doc_ids or ())
        if not doc_ids:
            return None
        return {"doc_id": doc_ids[0]} if len(doc_ids) == 1 else {"doc_id": {"$in": doc_ids}}

    # --- documents ----------------------------------------------------------------------------
    def ingest(self, files: list[tuple[str, bytes]], progress: Progress | None = None,
               cancel: Cancel | None = None, encoding: str | None = None, reread: bool = False) -> IngestReport:
        """Parse, chunk, embed and index uploaded files; bad files are reported, never raised.

        `encoding`: read text files with this codec instead of detecting one (overrides a guess; later
        versions of the same names keep it). `reread`: stored documents read again, keeping their ids.
        """
        from workbench.knowledge.ingest import ingest_files

        return ingest_files(self, files, progress, cancel, encoding, reread)

    def documents(self) -> list[DocumentInfo]:
        docs = self.entry()["documents"]
        return sorted((doc_info(i, r) for i, r in docs.items()), key=lambda d: d.name.lower())

    def get_document(self, doc_id: str) -> Document:
        with read_lock(self.settings):  # the key and its texts folder change together under write_lock
            return self.kb.catalog.load_document(self.key, doc_id)

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and exactly its chunks."""
        with write_lock(self.settings):
            entry = self.entry()
            if doc_id not in entry["documents"]:
                raise KnowledgeError(f"Document {doc_id} is not in collection '{self.name}'.")
            self.delete_chunks([doc_id], key=entry["key"])

            def upd(e):
                e["documents"].pop(doc_id, None)
            self.kb.catalog.update(self.name, upd)
            (self.kb.catalog.docs_dir(entry["key"]) / f"{doc_id}.json").unlink(missing_ok=True)

    def count(self) -> int:
        with read_lock(self.settings):
            return self._chroma().count()

    def index_size(self) -> tuple[int, int]:
        """(chunks, bytes): the index's chunk count and its vectors plus its documents' text, in bytes.

        From a count, one stored vector and the catalog, so a report never reads the whole index.
        """
        with read_lock(self.settings):
            col = self._chroma()
            n = col.count()
            if not n:
                return 0, 0
            one = col.get(limit=1, include=["embeddings"])["embeddings"]
        dim = len(one[0]) if one is not None and len(one) else 0
        return n, n * dim * 4 + sum(d.n_chars for d in self.documents())  # float32 vectors

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        """Chunks in document order (all documents, or one)."""
        with read_lock(self.settings):
            got = self._chroma().get(where=self._where([doc_id] if doc_id else None),
                                     include=["documents", "metadatas"])
        out = [chunk_from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        return sorted(out, key=lambda c: (c.doc_name.lower(), c.doc_id, c.index))

    def embeddings(self, doc_ids=None) -> tuple[list[Chunk], np.ndarray]:
        """All chunks (optionally of some documents) and their vectors, row-aligned."""
        with read_lock(self.settings):
            got = self._chroma().get(where=self._where(doc_ids), include=["documents", "metadatas", "embeddings"])
        chunks = [chunk_from_record(i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"])]
        emb = got["embeddings"]
        vecs = np.asarray(emb, dtype=np.float32) if emb is not None and len(emb) else \
            np.zeros((0, self.embedder.dim), dtype=np.float32)
        order = sorted(range(len(chunks)), key=lambda i: (chunks[i].doc_name.lower(), chunks[i].doc_id,
                                                          chunks[i].index))
        return [chunks[i] for i in order], vecs[order] if len(order) else vecs

    def query(self, text: str, k: int, doc_ids=None) -> list[ScoredChunk]:
        """Top-k chunks by cosine similarity to the embedded query."""
        vec = self.embedder.embed_batch([text])[0]
        return self.query_vector(vec, k, doc_ids)

    def query_vector(self, vec, k: int, doc_ids=None) -> list[ScoredChunk]:
        with read_lock(self.settings):
            col = self._chroma()
            n = col.count()
            if n == 0 or k <= 0:
                return []
            res = col.query(query_embeddings=[np.asarray(vec, dtype=np.float32)], n_results=min(int(k), n),
                            where=self._where(doc_ids), include=["documents", "metadatas", "distances"])
        out = []
        for rank, (i, t, m, d) in enumerate(zip(res["ids"][0], res["documents"][0], res["metadatas"][0],
                                                 res["distances"][0]), start=1):
            out.append(ScoredChunk(chunk=chunk_from_record(i, t, m), score=float(1.0 - d),
                                   metric="cosine similarity", rank=rank))
        return out

    def reindex(self, progress: Progress | None = None, cancel: Cancel | None = None) -> IngestReport:
        """Re-chunk every stored document with the current settings into a fresh index, then swap it in."""
        from workbench.knowledge.reindex import reindex_collection

        return reindex_collection(self, progress, cancel)

    def info(self) -> CollectionInfo:
        return self.kb._info(self.name, self.entry())


class KnowledgeBase:
    """All collections under one storage root (or Chroma server); `embedder`: one for every collection."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None):
        self.settings = settings
        self.embedder = embedder
        self.catalog = Catalog(settings)
        self.cache = EmbeddingCache(settings.cache_dir / "embeddings.sqlite")

    def _info(self, name: str, e: dict) -> CollectionInfo:
        cfg = CollectionConfig.from_dict(e["config"])
        ic = CollectionConfig.from_dict(e["indexed_config"]) if e.get("indexed_config") else None
        stale = bool(e["documents"]) and ic is not None and ic.chunking_key() != cfg.chunking_key()
        return CollectionInfo(name=name, config=cfg, n_documents=len(e["documents"]),
                              n_chunks=sum(d["n_chunks"] for d in e["documents"].values()), stale=stale,
                              indexed_config=ic, created_at=e.get("created_at", 0.0))

    def list_collections(self) -> list[CollectionInfo]:
        cols = self.catalog.load()["collections"]
        return [self._info(n, e) for n, e in sorted(cols.items(), key=lambda kv: kv[0].lower())]

    def names(self) -> list[str]:
        return sorted(self.catalog.load()["collections"], key=str.lower)

    def exists(self, name: str) -> bool:
        return name in self.catalog.load()["collections"]

    def create(self, name: str, config: CollectionConfig | None = None) -> Collection:
        name = check_name(name, "collection", KnowledgeError)
        config = config or CollectionConfig(embedding_model=self.settings.embedding_model)
        with write_lock(self.settings):
            data = self.catalog.load(fresh=True)
            if name in data["collections"]:
                raise KnowledgeError(f"A collection named '{name}' already exists.")
            key = new_chroma_key()
            data["collections"][name] = {"id": new_uid(), "key": key, "config": config.to_dict(),
                                         "indexed_config": config.to_dict(), "documents": {},
                                         "created_at": time.time()}
            self._collection_index(key)  # create the Chroma side first: a server that is down fails here
            self.catalog.save(data)
        return Collection(self, name)

    def _collection_index(self, key: str):
        return chroma_client(self.settings).get_or_create_collection(
            key, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)

    def get(self, name: str) -> Collection:
        return Collection(self, name)

    def get_or_create(self, name: str) -> Collection:
        """The collection `name`, created with the default settings when missing (sample loaders)."""
        if self.exists(name):
            return self.get(name)
        return self.create(name)

    def rename(self, old: str, new: str) -> None:
        new = check_name(new, "collection", KnowledgeError)
        with write_lock(self.settings):
            data = self.catalog.load(fresh=True)
            if old not in data["collections"]:
                raise KnowledgeError(f"There is no collection named '{old}'.")
            if new == old:
                return
            if new in data["collections"]:
                raise KnowledgeError(f"A collection named '{new}' already exists.")
            # The Chroma name stays: renaming is a catalog change only, nothing is re-indexed.
            data["collections"][new] = data["collections"].pop(old)
            self.catalog.save(data)
            # Retrieval keeps per-collection defaults by name in its own file; they follow the rename.
            from workbench.retrieval.config import move_defaults

            move_defaults(self.settings, old, new)

    def delete(self, name: str) -> None:
        with write_lock(self.settings):
            data = self.catalog.load(fresh=True)
            entry = data["collections"].pop(name, None)
            if entry is None:
                raise KnowledgeError(f"There is no collection named '{name}'.")
            self.catalog.save(data)
            from workbench.retrieval.config import move_defaults

            move_defaults(self.settings, name, None)  # a later collection of this name starts afresh
            try:
                chroma_client(self.settings).delete_collection(entry["key"])
            except Exception:  # already gone on the Chroma side: the catalog entry was the last trace
                pass
            shutil.rmtree(self.catalog.docs_dir(entry["key"]), ignore_errors=True)
