"""Heavy shared objects (embedders, generators, knowledge bases, tokenizers): the one process-wide cache.

Each getter builds its object on the first call for a key and returns that same object afterwards, in
every thread of the process (Streamlit sessions, job workers, tests). A key holds only what decides the
object, so settings that differ elsewhere (another storage root) share one model. Two threads asking for
the same missing key load it once: the second waits for the first. Each kind keeps its most recently
used few; an evicted object lives on in whoever still holds it.

    from workbench import resources
    gen = resources.generator(settings)      # the same generator (ChatModel) on every call
    kb = resources.knowledge_base(settings)  # one KnowledgeBase per Settings
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from workbench.models.embedder import Embedder, load_embedder
from workbench.models.generator import ChatModel, load_generator
from workbench.settings import Settings

if TYPE_CHECKING:
    from workbench.knowledge import KnowledgeBase

# Shown while an object is built, never when it is already cached: the UI passes a spinner.
Loading = Callable[[], AbstractContextManager]


class _Cache:
    """A bounded, thread-safe map from key to object; each missing key is built once, however many ask."""

    def __init__(self, maxsize: int):
        self.maxsize = maxsize  # most recently used objects kept
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()  # guards _items and _building, never held while building
        self._building: dict[Hashable, threading.Lock] = {}

    def _hit(self, key: Hashable) -> tuple[bool, Any]:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True, self._items[key]
            return False, None

    def get(self, key: Hashable, build: Callable[[], Any], loading: Loading | None = None) -> Any:
        found, obj = self._hit(key)
        if found:
            return obj
        with self._lock:
            key_lock = self._building.setdefault(key, threading.Lock())
        # One lock per key: a generator loading in one session does not hold up an embedder in another.
        with (loading or nullcontext)(), key_lock:
            found, obj = self._hit(key)
            if found:
                return obj
            try:
                obj = build()
            finally:
                with self._lock:
                    self._building.pop(key, None)
            with self._lock:
                self._items[key] = obj
                while len(self._items) > self.maxsize:
                    self._items.popitem(last=False)
            return obj

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_embedders = _Cache(4)
_generators = _Cache(2)  # a generator holds the full model weights
_knowledge_bases = _Cache(8)
_tokenizers = _Cache(4)
_caches = {"embedders": _embedders, "generators": _generators, "knowledge_bases": _knowledge_bases,
           "tokenizers": _tokenizers}


def embedder(settings: Settings, name: str | None = None, loading: Loading | None = None) -> Embedder:
    """The embedder named `name` (default: settings.embedding_model), loaded once per process."""
    name = name or settings.embedding_model
    # The model's folder comes from its name alone (bundled, or a folder path / hub id); only the device varies.
    return _embedders.get((name, settings.device), lambda: load_embedder(settings, name), loading)


def generator(settings: Settings, name: str | None = None, loading: Loading | None = None) -> ChatModel:
    """The generator named `name` (default: settings.generator_model), loaded once per process."""
    name = name or settings.generator_model
    # models_dir: where the bundled GGUF is converted to; the rest choose engine, device, dtype and weight format.
    key = (name, str(settings.models_dir), settings.device, settings.cpu_dtype, settings.cpu_weights, settings.engine,
           settings.gguf_serving, settings.prompt_cache)
    return _generators.get(key, lambda: load_generator(settings, name), loading)


def knowledge_base(settings: Settings) -> "KnowledgeBase":
    """The KnowledgeBase of these settings (one Chroma target, embedding cache and catalog), once per process."""
    from workbench.knowledge import KnowledgeBase

    # Keyed by the whole Settings: a KnowledgeBase reads its storage root, Chroma URL and default model.
    return _knowledge_bases.get(settings, lambda: KnowledgeBase(settings))


def tokenizer(path: str, loading: Loading | None = None):
    """The Hugging Face tokenizer of the model folder `path`, loaded once per process."""
    def build():
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(path)

    return _tokenizers.get(str(path), build, loading)


@dataclass(frozen=True)
class WarmUp:
    """Where the start-up load of the models stands: idle (never asked), loading, ready or failed."""

    state: str = "idle"
    started: float | None = None  # time.monotonic() when it began
    finished: float | None = None
    error: str | None = None

    @property
    def elapsed_s(self) -> float:
        if self.started is None:
            return 0.0
        return (self.finished if self.finished is not None else time.monotonic()) - self.started


_warm = WarmUp()
_warm_lock = threading.Lock()


def warm_up(settings: Settings) -> bool:
    """Load the embedder, knowledge base and generator in a background thread, once per process.

    So the first question of a demo does not pay the load (and the first generation's set-up, run here
    on two tokens). Returns True when this call started it. A failure is kept in warm_up_status(); the
    first real use then loads again and shows its own error.
    """
    global _warm
    with _warm_lock:
        if _warm.state != "idle":
            return False
        _warm = WarmUp("loading", time.monotonic())
    threading.Thread(target=_warm_up, args=(settings,), name="workbench-warm-up", daemon=True).start()
    return True


def _warm_up(settings: Settings) -> None:
    global _warm
    try:
        knowledge_base(settings)
        embedder(settings).embed_batch(["warm-up"])
        from workbench.models.generator import GenerationConfig

        generator(settings).generate([{"role": "user", "content": "Hello"}], GenerationConfig(max_new_tokens=2))
        done = replace(_warm, state="ready", finished=time.monotonic())
    except Exception as e:  # reported on the pages; the first real use tries again
        done = replace(_warm, state="failed", finished=time.monotonic(), error=f"{type(e).__name__}: {e}")
    with _warm_lock:
        _warm = done


def warm_up_status() -> WarmUp:
    """The start-up load's state (the Arena and System pages show it)."""
    return _warm


def loaded() -> dict[str, int]:
    """How many objects of each kind this process holds (System page)."""
    return {kind: len(cache) for kind, cache in _caches.items()}


def clear() -> None:
    """Forget every cached object (tests); holders keep theirs, the next call builds anew."""
    for cache in _caches.values():
        cache.clear()
