"""The library internals the app relies on (workbench/knowledge/chroma_compat.py, workbench/ui/streamlit_compat.py).

These fail loudly when an upgrade of the pinned chromadb or streamlit renames or changes what the
workarounds touch; the module docstrings say why each workaround exists.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from workbench.knowledge.chroma_compat import forget_shared_system
from workbench.ui.streamlit_compat import use_navigation_from_start


def test_chroma_keeps_one_shared_system_per_path_in_the_registries_we_clear(tmp_path):
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient
    from chromadb.config import Settings

    assert isinstance(SharedSystemClient._identifier_to_system, dict)
    assert isinstance(SharedSystemClient._identifier_to_refcount, dict)
    path = str(tmp_path / "chroma")
    chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    assert path in SharedSystemClient._identifier_to_system, "chromadb no longer keys shared systems by path"
    assert path in SharedSystemClient._identifier_to_refcount
    before = SharedSystemClient._identifier_to_system[path]
    forget_shared_system(path)
    assert path not in SharedSystemClient._identifier_to_system
    assert path not in SharedSystemClient._identifier_to_refcount
    chromadb.PersistentClient(path=path, settings=Settings(anonymized_telemetry=False))
    assert SharedSystemClient._identifier_to_system[path] is not before
    forget_shared_system(str(tmp_path / "never-opened"))  # an unknown path is not an error


def test_forgetting_the_shared_system_shows_another_process_s_writes(tmp_path):
    import chromadb
    from chromadb.config import Settings

    path = str(tmp_path / "chroma")
    cs = Settings(anonymized_telemetry=False)
    app_client = chromadb.PersistentClient(path=path, settings=cs)  # held, like the app's cached client
    col = app_client.get_or_create_collection("kb1", embedding_function=None)
    col.add(ids=["a"], embeddings=[[1.0, 0.0]], documents=["a"])
    assert col.query(query_embeddings=[[0.0, 1.0]], n_results=2)["ids"][0] == ["a"]  # the index is now in memory
    subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import chromadb
        from chromadb.config import Settings
        c = chromadb.PersistentClient(path={path!r}, settings=Settings(anonymized_telemetry=False))
        c.get_collection("kb1", embedding_function=None).add(ids=["b"], embeddings=[[0.0, 1.0]], documents=["b"])
    """)], check=True, timeout=120)

    def nearest(client) -> list[str]:
        c = client.get_collection("kb1", embedding_function=None)
        return c.query(query_embeddings=[[0.0, 1.0]], n_results=2)["ids"][0]

    # Why the workaround exists: without it even a new client for the path answers from the stale index.
    # If this fails, chromadb may have fixed it and chroma_compat may be unnecessary.
    assert nearest(app_client) == nearest(chromadb.PersistentClient(path=path, settings=cs)) == ["a"]
    forget_shared_system(path)
    assert nearest(chromadb.PersistentClient(path=path, settings=cs)) == ["b", "a"]


@pytest.fixture
def pages_mode_reset():
    from streamlit.runtime.pages_manager import PagesManager

    saved = PagesManager.uses_pages_directory
    PagesManager.uses_pages_directory = None
    yield PagesManager
    PagesManager.uses_pages_directory = saved


def test_streamlit_honours_the_navigation_mode_set_before_the_server_starts(pages_mode_reset):
    from streamlit.web import cli

    from workbench.ui.serve import APP

    PagesManager = pages_mode_reset
    assert callable(cli.main)
    assert (APP.parent / "pages").is_dir()
    PagesManager(str(APP))
    # Why the workaround exists: next to a pages/ folder, Streamlit starts in the old pages-directory mode.
    assert PagesManager.uses_pages_directory is True
    PagesManager.uses_pages_directory = None
    use_navigation_from_start()
    PagesManager(str(APP))
    assert PagesManager.uses_pages_directory is False
