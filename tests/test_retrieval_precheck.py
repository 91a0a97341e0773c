"""Long retrieval actions check their inputs first: questions with no gold passage in the collection are refused."""
from __future__ import annotations

import pytest

from tests.fakes import FAKE_MODEL, route_jobs_through_fakes
from tests.pages import app_page, rendered_text
from workbench import jobs
from workbench.knowledge import CollectionConfig, KnowledgeBase
from workbench.questions import Question, sample_question_set
from workbench.retrieval.precheck import coverage, sweep_estimate


@pytest.fixture(autouse=True)
def _fresh(fresh_ui_caches, fake_embedding_model, monkeypatch):
    route_jobs_through_fakes(monkeypatch)


def manuals(settings):
    """A collection of someone's own documents, unrelated to the sample questions."""
    col = KnowledgeBase(settings).create("manuals", CollectionConfig(embedding_model=FAKE_MODEL))
    text = "Mooring lines must be inspected monthly. Anchors are stowed before departure. " * 40
    assert col.ingest([("mooring.txt", text.encode()), ("anchors.md", ("# Anchors\n\n" + text).encode())]).ok
    return col


def test_coverage_names_what_is_missing(settings):
    col = manuals(settings)
    cov = coverage(col, list(sample_question_set().questions))
    assert cov.found == 0 and cov.answerable > 0
    assert "None of the" in cov.problem and "employee_handbook.md" in cov.problem
    # A reference answer found in the documents counts; a set of unanswerable questions is refused too.
    ok = coverage(col, [Question(id="1", question="How often?", reference="inspected monthly")])
    assert ok.found == 1 and ok.problem is None and ok.warning is None
    part = coverage(col, [Question(id="1", question="How often?", reference="inspected monthly"),
                          Question(id="2", question="Vacation?", reference="25 days")])
    assert part.problem is None and "Only 1 of 2" in part.warning
    assert "unanswerable" in coverage(col, [Question(id="3", question="?", unanswerable=True)]).problem


def test_estimate_counts_texts_from_document_length(settings):
    col = manuals(settings)
    cfgs = [CollectionConfig(embedding_model=FAKE_MODEL, chunk_size=s, chunk_overlap=0) for s in (400, 800)]
    total = sum(d.n_chars for d in col.documents())
    est = sweep_estimate(col, cfgs, speed=100.0)
    assert est.texts == total // 400 + total // 800 and est.seconds == pytest.approx(est.texts / 100)
    assert "texts to embed" in est.describe()


@pytest.mark.parametrize("page,run", [("retrieval_sweep.py", "Run sweep"), ("retrieval_eval.py", "Run evaluation")])
def test_pages_refuse_sample_questions_on_other_documents(settings, page, run):
    manuals(settings)
    at = app_page(f"pages/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    errors = " ".join(rendered_text(e.value) for e in at.error)
    assert "None of the" in errors and "gold passage" in errors
    assert next(b for b in at.button if b.label == run).disabled
    assert not jobs.list_jobs(settings)  # nothing started


def test_a_job_submitted_anyway_fails_before_any_work(settings):
    from workbench.retrieval.config import RetrievalSettings
    from workbench.retrieval.jobs import submit_evaluation

    col = manuals(settings)
    st = submit_evaluation(settings, col, sample_question_set(), ["bm25"], 4, RetrievalSettings())
    import time

    end = time.time() + 60
    while not jobs.get(settings, st.job_id).is_final and time.time() < end:
        time.sleep(0.2)
    done = jobs.get(settings, st.job_id)
    assert done.state == jobs.FAILED and "None of the" in done.error


def test_the_collection_in_use_survives_a_restart(settings):
    """The last collection chosen is the one every page opens with, in a new session after a restart."""
    import streamlit as st

    from workbench import preferences

    manuals(settings)
    KnowledgeBase(settings).create("newest", CollectionConfig(embedding_model=FAKE_MODEL))
    at = app_page("pages/retrieval_query.py").run()
    box = at.selectbox(key="query_collection")
    box.set_value("manuals").run()
    assert preferences.load(settings)["collection"] == "manuals"
    st.cache_resource.clear()  # as after an app restart: a new process, a new session
    again = app_page("pages/retrieval_eval.py").run()
    assert not again.exception, [e.value for e in again.exception]
    assert again.selectbox(key="eval_collection").value == "manuals"


def test_picking_the_sample_questions_picks_the_sample_collection(settings):
    from tests.test_retrieval_pages import fake_sample
    from workbench.knowledge.sample import SAMPLE_COLLECTION

    fake_sample(settings, SAMPLE_COLLECTION)
    manuals(settings)
    at = app_page("pages/retrieval_sweep.py").run()
    at.selectbox(key="sweep_collection").set_value("manuals").run()
    assert any("None of the" in rendered_text(e.value) for e in at.error)  # sample questions, wrong collection
    at.radio(key="sweep_qsrc").set_value("Upload CSV / JSONL").run()
    at.radio(key="sweep_qsrc").set_value("Sample workspace").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="sweep_collection").value == SAMPLE_COLLECTION
    assert not any("None of the" in rendered_text(e.value) for e in at.error)
