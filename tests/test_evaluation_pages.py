"""AppTest: the evaluation pages on an empty storage, with data, and the flow set -> run -> report."""
from __future__ import annotations

import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages import app_page, rendered_text
from tests.test_generator_adapters import lora_adapter  # noqa: F401  (fixture)
from workbench.evaluation import runs
from workbench.evaluation.sample import load as load_sample_set, sample_items


@pytest.fixture(autouse=True)
def fresh_settings(fresh_ui_caches):
    """st.cache_resource is process-wide: each test's own storage, not an earlier test's settings."""


def page(name: str) -> AppTest:
    return app_page(f"pages/{name}", timeout=60)


def the_finished_run(settings, timeout_s: float):
    """The one run of the storage, once its job has written its summary (or the timeout passed)."""
    ids = runs.list_runs(settings)
    assert len(ids) == 1
    deadline = time.time() + timeout_s
    while time.time() < deadline and not runs.load_run(settings, ids[0]).summary:
        time.sleep(1)
    return runs.load_run(settings, ids[0])


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [m.value for m in at.info] + [m.value for m in at.caption]
    return " ".join(str(p) for p in parts)


def test_pages_render_on_empty_storage():
    at = page("evaluate_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Run evaluation"
    assert any(b.label == "Load the sample evaluation set" for b in at.button)
    assert "No evaluation set yet" in texts(at)
    at = page("evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "No evaluation run yet" in texts(at)


def test_report_page_with_a_finished_run(settings):
    from tests.test_evaluation_runs import FakeGenerator

    items = sample_items()[:5]
    for _ in range(2):  # two runs, so the comparison has something to compare
        run_id = runs.create_run(settings, runs.RunSpec(set_name="sample", setups=("base",)), items)
        runs.execute(settings, run_id, runs.PlainContext(), generator=FakeGenerator())
    at = page("evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.get("plotly_chart")) >= 3
    frames = [df.value for df in at.dataframe]
    assert list(frames[0]["Setup"]) == ["Base"]
    answers = next(f for f in frames if "question" in f.columns)
    assert len(answers) == 5
    assert any("change (points)" in f.columns for f in frames)  # run A vs run B
    assert any(b.label.startswith("HTML report") for b in at.get("download_button"))
    from workbench.evaluation.decision import TITLES

    assert any(any(t in s.value for t in TITLES.values()) for s in [*at.success, *at.info])


@pytest.mark.slow
def test_flow_choose_set_run_report(settings):
    at = page("evaluate_run.py").run()
    at.button[0].click().run()  # load the sample set
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[0].value == "sample"
    inputs = {n.label: n for n in at.number_input}
    inputs["Questions"].set_value(2)
    inputs["Max new tokens"].set_value(6)
    # No collection, adapter or recipe yet: base and prompted are offered, only base is chosen.
    assert at.multiselect[0].options == ["Base", "Prompted"] and at.multiselect[0].value == ["base"]
    assert at.selectbox(key="eval_recipe").value == "none"
    at.multiselect[0].set_value(["base", "prompted"])
    at.button(key="FormSubmitter:eval_launch-Start the run").click().run()
    assert any("The Prompted setup answers with a prompt recipe" in e.value for e in at.error)
    assert runs.list_runs(settings) == []  # nothing was queued
    at.multiselect[0].set_value(["base"])
    at.button(key="FormSubmitter:eval_launch-Start the run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rec = the_finished_run(settings, 150)
    ids = [rec.run_id]
    assert rec.summary and len(rec.results) == 2, runs.run_status(settings, rec)
    assert all(r["completion_tokens"] > 0 and not r["error"] for r in rec.results)
    assert json.loads((settings.evals_dir / ids[0] / "spec.json").read_text())["max_new_tokens"] == 6
    rep = page("evaluate_report.py").run()
    assert not rep.exception, [e.value for e in rep.exception]
    assert rep.get("plotly_chart")
    assert any("question" in df.value.columns and len(df.value) == 2 for df in rep.dataframe)
    load_sample_set(settings)  # idempotent: the set is replaced, runs keep their own snapshot
    assert len(runs.load_run(settings, ids[0]).items) == 2


def test_live_run_shows_progress_and_cancels_from_the_page(settings):
    from workbench import jobs

    spec = runs.RunSpec(set_name="sample", setups=("base",))
    run_id = runs.submit_run(settings, spec, sample_items()[:20], handler="tests.test_evaluation_runs:slow_fake_job")
    deadline = time.time() + 60
    while time.time() < deadline and not runs.load_run(settings, run_id).results:
        time.sleep(0.2)
    at = page("evaluate_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.get("progress") and "answers" in at.get("progress")[0].proto.text
    at.button(key=f"cancel_{run_id}").click().run()
    rec = runs.load_run(settings, run_id)
    deadline = time.time() + 20
    while time.time() < deadline and not runs.run_status(settings, rec).is_final:
        time.sleep(0.2)
    assert runs.run_status(settings, rec).state == jobs.CANCELLED
    at = page("evaluate_report.py").run()  # a reload shows the partial run
    assert not at.exception and any("cancelled" in w.value for w in at.warning)


def test_upload_lists_bad_rows_and_saves_the_good_ones(settings):
    from workbench.questions import load_set

    at = page("evaluate_run.py").run()
    data = (b'{"question": "How long is the trial?", "reference": "21 days"}\n'
            b'{"question": "", "reference": "x"}\n'
            b'not json\n')
    at.file_uploader[0].set_value(("mine.jsonl", data, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert list(errors["line"]) == [2, 3]
    assert any("1 valid questions, 2 rejected rows" in m.value for m in at.markdown)
    next(b for b in at.button if b.label == "Save the valid questions").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.question for i in load_set(settings, "mine")] == ["How long is the trial?"]
    assert at.selectbox[0].value == "mine"
    assert not any("rejected rows" in m.value for m in at.markdown)  # the uploader was cleared


def test_report_opens_on_the_newest_full_run_not_a_freshness_rerun(settings):
    from tests.test_evaluation_runs import FakeGenerator

    items = sample_items()[:4]
    full = runs.create_run(settings, runs.RunSpec(set_name="sample", setups=("base",)), items)
    runs.execute(settings, full, runs.PlainContext(), generator=FakeGenerator())
    time.sleep(1.1)  # run ids are timestamped to the second
    from workbench.evaluation.freshness import FactChange

    change = FactChange("company_overview.html", "2016", "2012", (items[0].id,), "2016", "2012")
    fresh = runs.create_run(settings, runs.RunSpec(set_name="sample", setups=("base",), parent_run=full,
                                                   freshness=change.to_json()), items[:1])
    runs.execute(settings, fresh, runs.PlainContext(), generator=FakeGenerator())
    assert runs.list_runs(settings)[0] == fresh
    at = page("evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[0].value == full
    at.selectbox[0].set_value(fresh).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "No recommendation from a freshness re-run" in texts(at)


def test_pages_list_runs_from_the_index_and_load_only_the_run_shown(settings, monkeypatch):
    from tests.test_evaluation_runs import FakeGenerator

    items = sample_items()[:3]
    ids = []
    for _ in range(4):
        ids.append(runs.create_run(settings, runs.RunSpec(set_name="sample", setups=("base",)), items))
        runs.execute(settings, ids[-1], runs.PlainContext(), generator=FakeGenerator())
    loaded = []
    real = runs.load_run
    monkeypatch.setattr(runs, "load_run", lambda s, rid: loaded.append(rid) or real(s, rid))
    at = page("evaluate_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in at.dataframe if "answers" in df.value.columns)
    assert list(table["run"]) == ids[::-1] and set(table["answers"]) == {"3/3"}
    assert loaded == []  # the run table, the pace estimate and the live runs read the index only
    at = page("evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert loaded == [ids[-1], ids[-2]]  # the run shown and run B of the comparison


@pytest.mark.slow
def test_flow_sample_workspace_recipe_five_setup_run_report(settings, monkeypatch, lora_adapter):
    """Load the sample workspace, keep its recipe, run all five setups (a fake model in the job), open the report."""
    import functools
    import shutil

    from workbench.answering import setups

    shutil.copytree(lora_adapter, settings.adapters_dir / "demo-lora")
    monkeypatch.setattr(runs, "submit_run", functools.partial(runs.submit_run,
                                                              handler="tests.test_evaluation_runs:slow_fake_job"))
    system = app_page("pages/system_overview.py", timeout=300).run()
    next(b for b in system.button if b.label == "Load sample workspace").click().run()
    end = time.time() + 300  # the load is a background job: its messages show once it has ended
    while not system.exception and not any(c.value.startswith("Last loaded") for c in system.caption):
        assert time.time() < end, "the sample workspace did not load"
        time.sleep(0.5)
        system.run()
    assert not system.exception, [e.value for e in system.exception]
    assert any(rendered_text(s.value).startswith("prompt recipe: recipe 'sample-json' v1") for s in system.success)

    at = page("evaluate_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[0].value == "sample"
    assert at.selectbox(key="eval_recipe").value == "sample-json"
    assert at.multiselect[0].value == list(setups.keys())  # all five: collection, adapter and recipe are there
    {n.label: n for n in at.number_input}["Questions"].set_value(3)
    for box in at.checkbox:  # the forgetting probe is another test's subject
        box.uncheck()
    at.button(key="FormSubmitter:eval_launch-Start the run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    rec = the_finished_run(settings, 180)
    ids = [rec.run_id]
    assert rec.summary, runs.run_status(settings, rec)
    assert rec.spec.setups == setups.keys() and rec.spec.adapter == "demo-lora"
    assert (rec.spec.recipe["name"], rec.spec.recipe["version"]) == ("sample-json", 1)
    assert rec.spec.recipe_with_adapter is False
    assert len(rec.results) == 15 and not any(r["error"] for r in rec.results)

    rep = page("evaluate_report.py").run()
    assert not rep.exception, [e.value for e in rep.exception]
    assert rep.get("plotly_chart")
    shown = " ".join(str(df.value.to_dict()) for df in rep.dataframe)
    assert all(setups.short_label(k) in shown for k in setups.keys())


def test_report_page_shows_the_ladder_with_intervals_and_every_rate_as_k_of_n(settings):
    from workbench.evaluation.stats import RULE

    items = sample_items()[:8]
    spec = runs.RunSpec(set_name="sample", setups=("base", "prompted"), recipe={"name": "house", "version": 1})
    run_id = runs.create_run(settings, spec, items)
    lines = []
    for n, i in enumerate(items):
        lines.append({"id": i.id, "setup": "base", "text": "No idea.", "error": None, "latency_s": 1.0,
                      "prompt_tokens": 30, "completion_tokens": 5})
        house = {"source": "NONE", "answer": "unknown", "confidence": "low"} if i.unanswerable else \
            {"source": "X", "answer": i.reference, "confidence": "high"}
        prompted = {"text": json.dumps(house), "error": None} if n else \
            {"text": "", "error": "RuntimeError: out of memory"}
        lines.append({"id": i.id, "setup": "prompted", **prompted, "latency_s": 1.0, "prompt_tokens": 300,
                      "completion_tokens": 9})
    (settings.evals_dir / run_id / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    at = page("evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(str(x.value) for x in [*at.success, *at.info, *at.warning])
    assert RULE in shown and "Provisional" not in shown  # every answer is in: a firm verdict
    frames = [df.value for df in at.dataframe]
    ladder = next(f for f in frames if "95 % interval" in f.columns)
    prompt = ladder[ladder["Rung"] == "Prompted vs Base"].iloc[0]
    assert prompt["B"] == "7/8 (88%)" and prompt["A"] == "0/8 (0%)" and prompt["95 % interval"].startswith("[+")
    assert prompt["Verdict"] == "better" and float(prompt["McNemar p"]) < 0.05
    metrics = next(f for f in frames if "Usable" in f.columns)
    row = metrics[metrics["Setup"] == "Prompted"].iloc[0]
    assert row["Usable"] == "7/8 (88%)" and row["Errors"] == "1/8 (12%)" and row["Answers"] == "8/8"
    errored = next(f for f in frames if "error" in f.columns)
    assert list(errored["error"]) == ["RuntimeError: out of memory"]
    assert any("prompt tokens on every query" in m.value for m in at.markdown)  # the cost panel's trade
    charts = at.get("plotly_chart")
    assert any("ladder" in c.proto.spec for c in charts)


def test_an_old_four_setup_run_without_a_recipe_still_opens(settings):
    from tests.fakes import FakeEmbedder
    from tests.test_evaluation_runs import FakeGenerator, text_collection

    four = ("base", "rag", "finetuned", "hybrid")
    run_id = runs.create_run(settings, runs.RunSpec(set_name="sample", setups=four, collection="kb",
                                                    adapter_path="/adapters/demo"), sample_items()[:3])
    runs.execute(settings, run_id, runs.PlainContext(), generator=FakeGenerator(),
                 collection=text_collection(FakeEmbedder()))
    spec_file = settings.evals_dir / run_id / "spec.json"
    stored = json.loads(spec_file.read_text())
    for k in ("recipe", "recipe_with_adapter"):  # written before recipes existed
        stored.pop(k)
    spec_file.write_text(json.dumps(stored))
    assert runs.load_run(settings, run_id).spec.setups == four
    at = page("evaluate_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(df.value for df in at.dataframe if "answers" in df.value.columns)
    assert list(table["setups"]) == ["Base, RAG, Fine-tuned, Hybrid"]
    rep = page("evaluate_report.py").run()
    assert not rep.exception, [e.value for e in rep.exception]
    shown = " ".join(str(df.value.to_dict()) for df in rep.dataframe)
    assert all(label in shown for label in ("Base", "RAG", "Fine-tuned", "Hybrid"))
