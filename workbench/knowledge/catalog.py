"""The knowledge base catalog: collection names, configs, what each index was built with, documents."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workbench.knowledge.config import CollectionConfig
from workbench.knowledge.store import knowledge_dir, read_json, write_json_atomic
from workbench.settings import Settings
from workbench.types import Document


class KnowledgeError(Exception):
    """A knowledge-base operation that cannot be done; the message is meant for the user."""


@dataclass(frozen=True)
class FileError:
    """One uploaded file that was not ingested, and why."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass(frozen=True)
class DocumentInfo:
    """A document in a collection, as listed in the catalog."""

    doc_id: str
    name: str
    kind: str
    n_pages: int | None
    n_chars: int
    n_chunks: int
    content_hash: str
    added_at: float
    encoding: str | None = None  # the codec a text file was read with; None for PDF and DOCX
    encoding_guessed: bool = False  # the detector's guess: the user may re-upload it with the right one


@dataclass(frozen=True)
class CollectionInfo:
    """A collection as listed: its settings, sizes, and whether its index lags behind its settings."""

    name: str
    config: CollectionConfig
    n_documents: int
    n_chunks: int
    stale: bool
    indexed_config: CollectionConfig | None = None
    created_at: float = 0.0


@dataclass(frozen=True)
class IngestReport:
    """What one upload did, file by file."""

    added: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    failed: tuple[FileError, ...] = ()
    skipped: tuple[str, ...] = ()  # not reached because the upload was cancelled
    n_chunks: int = 0  # chunks written to the index
    n_embedded: int = 0  # texts actually embedded (embedding-cache misses)
    seconds: float = 0.0
    cancelled: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failed and not self.cancelled

    def failed_note(self) -> str:
        """'; failed: <file>: <reason>; ...' to end a one-line summary, or '' when every file went in."""
        return "; failed: " + "; ".join(str(f) for f in self.failed) if self.failed else ""


def new_uid() -> str:
    """A collection's identity: kept by a rename and a re-index, new when a collection is (re-)created."""
    return uuid.uuid4().hex


def new_chroma_key() -> str:
    """A Chroma-safe collection name (3+ chars, alphanumeric ends) unrelated to the user-facing name."""
    return f"wb{uuid.uuid4().hex[:20]}"


class Catalog:
    """catalog.json under storage/knowledge, rewritten atomically on every change (callers hold the lock)."""

    def __init__(self, settings: Settings):
        self.root = knowledge_dir(settings)
        self.path = self.root / "catalog.json"
        self._cached: tuple | None = None  # ((mtime_ns, inode, size), data): queries read it per call

    def load(self, fresh: bool = False) -> dict:
        """The catalog; cached while the file is unchanged (treat it as read-only unless fresh=True)."""
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_ino, st.st_size)
        except FileNotFoundError:
            stamp = None
        if not fresh and stamp is not None and self._cached and self._cached[0] == stamp:
            return self._cached[1]
        data = read_json(self.path, None) or {}
        data.setdefault("collections", {})
        if not fresh and stamp is not None:
            self._cached = (stamp, data)
        return data

    def save(self, data: dict) -> None:
        write_json_atomic(self.path, data)

    def entry(self, name: str) -> dict:
        entry = self.load()["collections"].get(name)
        if entry is None:
            raise KnowledgeError(f"There is no collection named '{name}'.")
        return entry

    def update(self, name: str, fn) -> dict:
        """Apply fn(entry) to one collection's entry and save; returns the new entry."""
        data = self.load(fresh=True)
        entry = data["collections"].get(name)
        if entry is None:
            raise KnowledgeError(f"There is no collection named '{name}'.")
        fn(entry)
        self.save(data)
        return entry

    def find(self, uid: str, fresh: bool = True) -> tuple[str, dict] | None:
        """(name, entry) of the collection with identity `uid`; None once it was deleted."""
        for name, entry in self.load(fresh=fresh)["collections"].items():
            if entry.get("id") == uid:
                return name, entry
        return None

    def docs_dir(self, key: str) -> Path:
        return self.root / "docs" / key

    def save_document(self, key: str, doc: Document) -> None:
        write_json_atomic(self.docs_dir(key) / f"{doc.doc_id}.json", {
            "doc_id": doc.doc_id, "name": doc.name, "kind": doc.kind, "text": doc.text,
            "page_starts": list(doc.page_starts), "content_hash": doc.content_hash,
            "encoding": doc.encoding, "encoding_guessed": doc.encoding_guessed})

    def load_document(self, key: str, doc_id: str) -> Document:
        d = read_json(self.docs_dir(key) / f"{doc_id}.json", None)
        if d is None:
            raise KnowledgeError(f"Document {doc_id} is not in this collection.")
        return Document(doc_id=d["doc_id"], name=d["name"], kind=d["kind"], text=d["text"],
                        page_starts=tuple(d["page_starts"]), content_hash=d.get("content_hash", ""),
                        encoding=d.get("encoding"), encoding_guessed=bool(d.get("encoding_guessed")))


def doc_record(doc: Document, n_chunks: int) -> dict:
    return {"name": doc.name, "kind": doc.kind, "content_hash": doc.content_hash, "n_chars": len(doc.text),
            "n_pages": len(doc.page_starts) if doc.kind == "pdf" else None, "n_chunks": n_chunks,
            "added_at": time.time(), "encoding": doc.encoding, "encoding_guessed": doc.encoding_guessed}


def doc_info(doc_id: str, rec: dict) -> DocumentInfo:
    return DocumentInfo(doc_id=doc_id, name=rec["name"], kind=rec["kind"], n_pages=rec.get("n_pages"),
                        n_chars=rec["n_chars"], n_chunks=rec["n_chunks"], content_hash=rec["content_hash"],
                        added_at=rec.get("added_at", 0.0), encoding=rec.get("encoding"),
                        encoding_guessed=bool(rec.get("encoding_guessed")))
