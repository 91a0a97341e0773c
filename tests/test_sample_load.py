"""The System page's "Load sample workspace" action, through the real embedder and Chroma."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages import REPO

pytestmark = pytest.mark.slow


def test_load_sample_workspace_from_system_page(settings):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/system_overview.py")
    at.run()
    next(b for b in at.button if b.label == "Load sample workspace").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    msgs = [s.value for s in at.success]
    assert any(m.startswith("knowledge base: collection 'sample-kb'") for m in msgs), msgs
    assert any(m.startswith("behaviour dataset:") for m in msgs), msgs
    assert any(m.startswith("evaluation set:") for m in msgs), msgs
    assert not at.warning, [w.value for w in at.warning]

    from workbench.knowledge import KnowledgeBase

    info = {c.name: c for c in KnowledgeBase(settings).list_collections()}["sample-kb"]
    assert info.n_documents >= 6 and info.n_chunks > info.n_documents
