"""Embedders behind one tiny contract: `embed_batch(texts) -> unit vectors`, plus token counting."""
from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

import numpy as np

from workbench.models.registry import ModelError, bundled_embedder_dir, pick_device, resolve_local
from workbench.models.threads import configure_torch_threads
from workbench.settings import Settings


@runtime_checkable
class Embedder(Protocol):
    """What the index and the chunkers need from an embedding model."""

    name: str
    dim: int
    max_tokens: int  # the model's input window; longer texts are truncated by the model

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, each row L2-normalised."""

    def count_tokens(self, texts: list[str]) -> list[int]:
        """Tokens each text takes in the model's own tokenizer (special tokens included)."""


class SentenceTransformerEmbedder:
    """A sentence-transformers model (the bundled MiniLM or any local folder)."""

    def __init__(self, name: str, path: str, device: str = "cpu", batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        configure_torch_threads()
        try:
            self.model = SentenceTransformer(path, device=device)
        except Exception as e:  # a broken folder should read as a message, not a trace
            raise ModelError(f"Could not load the embedding model '{name}' from {path}: {e}") from e
        self.name = name
        self.dim = int(self.model.get_embedding_dimension())
        self.max_tokens = int(self.model.max_seq_length)
        self.tokenizer = self.model.tokenizer
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward pass at a time; it uses the process's threads anyway

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vecs = self.model.encode(
                list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                convert_to_numpy=True, show_progress_bar=False,
            )
        return vecs.astype(np.float32, copy=False)

    def count_tokens(self, texts: list[str]) -> list[int]:
        enc = self.tokenizer(list(texts), add_special_tokens=True, truncation=False)["input_ids"]
        return [len(ids) for ids in enc]


def texts_per_second(embedder: Embedder, sample: list[str]) -> float:
    """This machine's embedding speed on `sample` (after one small call: the first pays one-off set-up)."""
    embedder.embed_batch(sample[:2])
    t0 = time.perf_counter()
    embedder.embed_batch(sample)
    return len(sample) / max(1e-6, time.perf_counter() - t0)


def load_embedder(settings: Settings, name: str | None = None) -> Embedder:
    """A new embedder named `name` (default: settings.embedding_model); workbench.resources.embedder shares one."""
    name = name or settings.embedding_model
    if name.startswith("bundled:"):
        path = str(bundled_embedder_dir())
    else:
        path = resolve_local(name, settings, "embedding")
    device, _ = pick_device(settings)
    return SentenceTransformerEmbedder(name, path, device)
