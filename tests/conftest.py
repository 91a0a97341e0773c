"""Shared fixtures: every test gets its own storage root; real models are loaded once per session."""
from __future__ import annotations

import contextlib
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
def keep_main_module():
    """Restore `__main__` after each test: AppTest leaves a page script there, and multiprocessing's spawn
    would then run that page in every child it starts (the index race and stress tests' writers)."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if sys.modules.get("__main__") is not main:
        sys.modules["__main__"] = main


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
    """The app's settings read afresh around a test that runs pages (so its knowledge base is this test's).

    Models stay shared across tests (workbench.resources keys them by model, not by storage root).
    """
    from workbench.ui.resources import get_settings

    get_settings.clear()
    yield
    get_settings.clear()


@pytest.fixture
def stop_jobs(settings):
    """Cancels, after the test, every job it left unfinished (their workers would outlive it).

    Modules whose tests start jobs use it with `pytestmark = pytest.mark.usefixtures("stop_jobs")`."""
    from workbench import jobs

    yield
    # Clean-up, not a check: a test that broke a job's files on purpose must not fail here.
    left = []
    with contextlib.suppress(Exception):
        left = [j.job_id for j in jobs.list_jobs(settings) if not j.is_final]
    for job_id in left:
        with contextlib.suppress(Exception):
            jobs.cancel(settings, job_id)


@pytest.fixture
def fake_embedding_model(monkeypatch):
    """Embedding model "fake" is a FakeEmbedder wherever embedders are loaded (workbench.resources).

    The process's cache keeps that FakeEmbedder under "fake" afterwards: no real model has that name, and
    a FakeEmbedder is deterministic, so a later test sees the same vectors either way.
    """
    from tests.fakes import load_embedder_or_fake

    monkeypatch.setattr("workbench.resources.load_embedder", load_embedder_or_fake)


@pytest.fixture
def settings(isolated_storage):
    from workbench.settings import Settings

    return Settings.from_env().ensure_dirs()


# The real models come from the process's cache, so pages under test get these same objects.
@pytest.fixture(scope="session")
def real_embedder():
    from workbench import resources
    from workbench.settings import Settings

    return resources.embedder(Settings(models_root=SHARED_MODELS))


@pytest.fixture(scope="session")
def real_generator():
    """The bundled generator on the default engine (llama.cpp on CPU)."""
    from workbench import resources
    from workbench.settings import Settings

    return resources.generator(Settings(models_root=SHARED_MODELS))


@pytest.fixture(scope="session")
def torch_generator():
    """The bundled generator on the transformers engine (training, GPUs, its int4 and PEFT internals)."""
    from workbench import resources
    from workbench.settings import Settings

    return resources.generator(Settings(models_root=SHARED_MODELS, engine="transformers"))
