"""workbench.resources: one object per key, shared across threads, built once, bounded, clearable."""
from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from tests.fakes import FakeEmbedder
from workbench import resources
from workbench.knowledge import KnowledgeBase


@pytest.fixture(autouse=True)
def keep_shared_models():
    """These tests clear the process's cache: the real models other tests share are put back afterwards."""
    saved = {kind: cache._items.copy() for kind, cache in resources._caches.items()}
    yield
    for kind, cache in resources._caches.items():
        cache.clear()
        cache._items.update(saved[kind])


@pytest.fixture
def loads(monkeypatch):
    """Embedders and generators are FakeEmbedders whose loads are counted (slow enough to overlap)."""
    calls: list[str] = []

    def load(settings, name=None):
        calls.append(name)
        time.sleep(0.05)
        return FakeEmbedder(name=name)

    monkeypatch.setattr(resources, "load_embedder", load)
    monkeypatch.setattr(resources, "load_generator", load)
    resources.clear()
    return calls


def test_same_object_twice(settings, loads):
    a = resources.embedder(settings, "m1")
    assert resources.embedder(settings, "m1") is a and loads == ["m1"]
    assert resources.embedder(replace(settings, embedding_model="m1")) is a  # the default name resolves first
    assert resources.knowledge_base(settings) is resources.knowledge_base(settings)
    assert isinstance(resources.knowledge_base(settings), KnowledgeBase)


def test_what_decides_the_object(settings, loads, tmp_path):
    a = resources.embedder(settings, "m1")
    assert resources.embedder(settings, "m2") is not a
    assert resources.embedder(replace(settings, device="cpu"), "m1") is not a
    # Another storage root: the same model, another knowledge base.
    other = replace(settings, storage=tmp_path / "other")
    assert resources.embedder(other, "m1") is a
    assert resources.knowledge_base(other) is not resources.knowledge_base(settings)
    g = resources.generator(settings, "g")
    assert resources.generator(replace(settings, cpu_weights="dense"), "g") is not g
    assert resources.loaded() == {"embedders": 3, "generators": 2, "knowledge_bases": 2, "tokenizers": 0}


def test_concurrent_first_calls_load_once(settings, loads):
    got, entered = [], []
    start = threading.Barrier(8)

    def ask():
        start.wait()
        got.append(resources.embedder(settings, "m1", loading=lambda: _Counting(entered)))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == ["m1"] and len(got) == 8 and all(g is got[0] for g in got)
    assert entered  # the loading context (the UI's spinner) ran while the model was being built
    entered.clear()
    resources.embedder(settings, "m1", loading=lambda: _Counting(entered))
    assert not entered  # and never for a cached one


def test_bounded_and_clear(settings, loads):
    first = resources.embedder(settings, "m0")
    for i in range(1, 6):
        resources.embedder(settings, f"m{i}")
    assert resources.loaded()["embedders"] == 4  # the least recently used went first
    assert resources.embedder(settings, "m0") is not first
    resources.clear()
    assert resources.loaded() == {"embedders": 0, "generators": 0, "knowledge_bases": 0, "tokenizers": 0}
    loads.clear()
    resources.embedder(settings, "m1")
    assert loads == ["m1"]


def test_a_failed_load_is_not_cached(settings, monkeypatch):
    tries = []

    def load(settings, name=None):
        tries.append(name)
        if len(tries) == 1:
            raise RuntimeError("broken folder")
        return FakeEmbedder(name=name)

    monkeypatch.setattr(resources, "load_embedder", load)
    resources.clear()
    with pytest.raises(RuntimeError):
        resources.embedder(settings, "flaky")
    assert resources.embedder(settings, "flaky").name == "flaky" and tries == ["flaky", "flaky"]


class _Counting:
    def __init__(self, seen: list):
        self.seen = seen

    def __enter__(self):
        self.seen.append(1)

    def __exit__(self, *exc):
        return False
