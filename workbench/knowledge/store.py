"""Where a knowledge base lives: the Chroma client, the store lock, the JSON catalog and the embedding cache.

The rule (docs/ARCHITECTURE.md, "Who writes the index"): one writer at a time across all processes
(`write_lock`), readers under `read_lock`, and a process reopens its embedded client once another
process has written (`.generation`), because an embedded client never reloads its vector index.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from workbench.files import write_json_atomic as _write_json_atomic
from workbench.knowledge.chroma_compat import forget_shared_system
from workbench.settings import Settings

_clients: dict[str, object] = {}
_clients_lock = threading.Lock()


def knowledge_dir(settings: Settings) -> Path:
    """Catalog, parsed document texts and the lock file (the Chroma data sits in settings.chroma_dir)."""
    return settings.storage / "knowledge"


_seen_generation: dict[str, str] = {}


def _generation_path(settings: Settings) -> Path:
    return knowledge_dir(settings) / ".generation"


def bump_generation(settings: Settings) -> None:
    """Record a write (by this process) so other processes know their in-memory index is stale."""
    path = _generation_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()} {time.time_ns()}"
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(stamp)
    os.replace(tmp, path)
    _seen_generation[str(settings.chroma_dir)] = stamp


def _written_elsewhere(settings: Settings, key: str) -> bool:
    """True when another process wrote since this process last looked (its HNSW copy here is stale)."""
    try:
        stamp = _generation_path(settings).read_text()
    except FileNotFoundError:
        return False
    last = _seen_generation.get(key)
    _seen_generation[key] = stamp
    return last is not None and stamp != last and not stamp.startswith(f"{os.getpid()} ")


def chroma_client(settings: Settings):
    """One Chroma client per process and target: PersistentClient under storage/, or HttpClient for a URL."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    key = settings.chroma_url or str(settings.chroma_dir)
    with _clients_lock:
        client = _clients.get(key)
        if client is not None and not settings.chroma_url and _written_elsewhere(settings, key):
            # An embedded client keeps the vector index in memory and never sees another process's
            # writes: drop this path's shared system so the next client reloads it from disk.
            forget_shared_system(key)
            client = None
        elif client is None and not settings.chroma_url:
            _written_elsewhere(settings, key)
        if client is None:
            cs = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
            if settings.chroma_url:
                u = urlparse(settings.chroma_url)
                client = chromadb.HttpClient(host=u.hostname or "localhost", port=u.port or 8000,
                                             ssl=u.scheme == "https", settings=cs)
            else:
                settings.chroma_dir.mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=str(settings.chroma_dir), settings=cs)
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Drop cached clients (tests that stop a server, or a storage folder deleted underneath)."""
    with _clients_lock:
        _clients.clear()


_held = threading.local()  # {lock path: "EX" or "SH"} this thread holds (re-entrant use)


@contextlib.contextmanager
def _store_lock(settings: Settings, exclusive: bool) -> Iterator[None]:
    """flock on knowledge/.write.lock, shared or exclusive, across threads and processes.

    A writer first takes .gate.lock exclusively and holds it while it waits, and every reader passes
    the gate (shared) before the main lock: a waiting writer is never starved by a stream of readers.
    """
    d = knowledge_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    path = str(d / ".write.lock")
    held = _held.__dict__.setdefault("modes", {})
    mode = held.get(path)
    if mode == "EX" or (mode == "SH" and not exclusive):
        yield
        return
    if mode == "SH":  # flock would wait for this very thread's shared lock
        raise RuntimeError("write_lock taken inside read_lock of the same store: take write_lock first")
    with open(d / ".gate.lock", "a+") as gate, open(path, "a+") as fh:
        fcntl.flock(gate, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            fcntl.flock(gate, fcntl.LOCK_UN)
        held[path] = "EX" if exclusive else "SH"
        try:
            yield
        finally:
            held.pop(path, None)
            try:
                if exclusive:
                    bump_generation(settings)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def write_lock(settings: Settings):
    """The one writer of the knowledge base (catalog, document texts, Chroma), across threads and processes.

    Every write to the catalog, the stored texts or the index happens inside it, and so does the read of
    the catalog entry that the write depends on (Chroma key, chunk settings, documents).
    """
    return _store_lock(settings, exclusive=True)


def read_lock(settings: Settings):
    """Readers of the index: none reads while a writer writes (an embedded index is rewritten on disk)."""
    return _store_lock(settings, exclusive=False)


def write_json_atomic(path: Path, data) -> None:
    """Catalog files: atomic, keys sorted so diffs of the catalog stay readable."""
    _write_json_atomic(path, data, sort_keys=True)


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


class EmbeddingCache:
    """Vectors keyed by (model, text) in SQLite: re-chunking only embeds texts never seen before."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS emb (key BLOB PRIMARY KEY, dim INTEGER, vec BLOB)")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    @staticmethod
    def key(model: str, text: str) -> bytes:
        return hashlib.sha256(f"{model}\x00{text}".encode()).digest()

    def get_many(self, model: str, texts: list[str]) -> dict[int, np.ndarray]:
        """{position in texts: vector} for the texts already cached."""
        keys = [self.key(model, t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        conn = self._conn()
        for i in range(0, len(keys), 500):
            part = keys[i:i + 500]
            rows = conn.execute(f"SELECT key, vec FROM emb WHERE key IN ({','.join('?' * len(part))})", part)
            for k, blob in rows:
                found[k] = np.frombuffer(blob, dtype=np.float32)
        return {i: found[k] for i, k in enumerate(keys) if k in found}

    def put_many(self, model: str, texts: list[str], vecs: np.ndarray) -> None:
        rows = [(self.key(model, t), int(v.shape[0]), np.asarray(v, dtype=np.float32).tobytes())
                for t, v in zip(texts, vecs)]
        conn = self._conn()
        with conn:
            conn.executemany("INSERT OR REPLACE INTO emb (key, dim, vec) VALUES (?, ?, ?)", rows)


def cached_embed(cache: EmbeddingCache, embedder, counter: Callable[[int], None] | None = None):
    """An embed function that answers from the cache and embeds (then stores) only the misses."""

    def embed(texts: list[str]) -> np.ndarray:
        hits = cache.get_many(embedder.name, texts)
        out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        for i, v in hits.items():
            out[i] = v
        miss = [i for i in range(len(texts)) if i not in hits]
        if miss:
            # Duplicate texts in one batch are embedded once.
            uniq = list(dict.fromkeys(texts[i] for i in miss))
            vecs = embedder.embed_batch(uniq)
            cache.put_many(embedder.name, uniq, vecs)
            by_text = dict(zip(uniq, vecs))
            for i in miss:
                out[i] = by_text[texts[i]]
            if counter:
                counter(len(uniq))
        return out

    return embed
