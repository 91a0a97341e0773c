"""Shared fixtures: every test gets its own storage root; real models are loaded once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import workbench  # noqa: F401  (its OpenMP settings must be in place before any test imports torch)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
# Converted models are shared with the app's own storage (prepared once by `make prepare`), so
# real-model tests do not each pay the 30 s GGUF conversion.
SHARED_MODELS = Path(os.environ.get("WORKBENCH_TEST_MODELS_DIR", REPO / "storage" / "models"))


@pytest.fixture(autouse=True)
def isolated_storage(tmp_path, monkeypatch):
    """Point WORKBENCH_STORAGE at a temp dir so no test touches real data."""
    storage = tmp_path / "storage"
    monkeypatch.setenv("WORKBENCH_STORAGE", str(storage))
    monkeypatch.setenv("WORKBENCH_MODELS_DIR", str(SHARED_MODELS))
    monkeypatch.delenv("WORKBENCH_CHROMA_URL", raising=False)
    return storage


@pytest.fixture
def fresh_ui_caches(isolated_storage):
    """The UI's per-process caches (settings, knowledge base) cleared around a test that runs pages."""
    from workbench.ui.resources import get_kb, get_settings

    get_settings.clear()
    get_kb.clear()
    yield
    get_settings.clear()
    get_kb.clear()


@pytest.fixture
def fake_embedding_model(monkeypatch):
    """Embedding model "fake" is a FakeEmbedder wherever embedders are loaded: the library and the pages."""
    from tests.fakes import load_embedder_or_fake

    for module in ("workbench.knowledge.collections", "workbench.ui.resources"):
        monkeypatch.setattr(f"{module}.load_embedder", load_embedder_or_fake)


@pytest.fixture
def settings(isolated_storage):
    from workbench.settings import Settings

    return Settings.from_env().ensure_dirs()


@pytest.fixture(scope="session")
def real_embedder():
    from workbench.models.embedder import load_embedder
    from workbench.settings import Settings

    return load_embedder(Settings(models_root=SHARED_MODELS))


@pytest.fixture(scope="session")
def real_generator():
    from workbench.models.generator import load_generator
    from workbench.settings import Settings

    return load_generator(Settings(models_root=SHARED_MODELS))
