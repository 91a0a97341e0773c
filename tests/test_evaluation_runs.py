"""Runs: retrieval once then generation, records on disk, cancel and resume, scoring, exports."""
from __future__ import annotations

import json
import re
import threading
import time

import pytest

from tests.fakes import FakeEmbedder, MemoryCollection
from workbench.answering import setups
from workbench.answering.recipes import Recipe
from workbench.evaluation import runs
from workbench.evaluation.cost import Measured, Prices, costs, trade
from workbench.evaluation.freshness import FactChange, before_after, says
from workbench.evaluation.report import build_report, compare_rows, to_html, to_json_text, to_markdown
from workbench.evaluation.sample import sample_items
from workbench.evaluation.scoring import score_run
from workbench.models.generator import GenerationResult
from workbench.questions import Question
from workbench.sample import kb_files
from workbench.types import GenerationStats


class FakeGenerator:
    """Answers with the first dollar amount / number of its context (or abstains without context)."""

    def __init__(self, before_first=None, delay_s=0.0):
        self.lock = threading.RLock()
        self.delay_s = delay_s
        self.calls: list[list[dict]] = []
        self.before_first = before_first

    def generate(self, messages, cfg):
        if not self.calls and self.before_first:
            self.before_first()
        self.calls.append(messages)
        user = messages[-1]["content"]
        m = re.search(r"Context:\n(.*)\n\nQuestion", user, re.S)
        if m:
            num = re.search(r"\$?\d[\d,.]*", m.group(1))
            text = json.dumps({"answer": num.group(0) if num else "unknown", "confidence": "high", "source": "x"})
        else:
            text = "I don't know."
        return GenerationResult(text, GenerationStats(0.01, 0.005, len(user) // 4, 7), user)

    def render(self, messages):
        return "\n".join(m["content"] for m in messages)

    def stream(self, messages, cfg, stats_out=None, adapter=None, prepared_out=None):
        self.adapters_used = getattr(self, "adapters_used", []) + [adapter]
        out = self.generate(messages, cfg)
        for piece in out.text.split(" ")[:1] + [" " + w for w in out.text.split(" ")[1:]]:
            time.sleep(self.delay_s)
            yield piece
        stats_out.append(out.stats)


def text_collection(embedder):
    """The sample's text documents in an in-memory collection (paragraph chunks)."""
    docs = {p.name: p.read_text() for p in kb_files() if p.suffix in (".md", ".txt")}
    return MemoryCollection("kb", embedder, docs)


def make_run(settings, items, **spec_kw):
    spec = runs.RunSpec(set_name="t", **{"setups": ("base", "rag"), "collection": "kb", **spec_kw})
    return runs.create_run(settings, spec, items)


def test_spec_validation_and_round_trip():
    with pytest.raises(runs.RunError, match="collection"):
        runs.RunSpec(set_name="s", setups=("rag",))
    with pytest.raises(runs.RunError, match="adapter"):
        runs.RunSpec(set_name="s", setups=("hybrid",), collection="c")
    with pytest.raises(runs.RunError, match="setup"):
        runs.RunSpec(set_name="s", setups=("oracle",))
    with pytest.raises(runs.RunError, match="tokens"):
        runs.RunSpec(set_name="s", setups=("base",), max_new_tokens=0)
    spec = runs.RunSpec(set_name="s", setups=("hybrid", "base"), collection="c", adapter="a", question_ids=["q1"])
    assert spec.setups == ("base", "hybrid")
    assert runs.RunSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_run_retrieves_once_before_generating_and_scores(settings):
    items = sample_items()[:6]
    run_id = make_run(settings, items)
    d = settings.evals_dir / run_id
    seen = {}
    gen = FakeGenerator(before_first=lambda: seen.setdefault("retrieved", len((d / "retrieved.jsonl").read_text().splitlines())))
    summary = runs.execute(settings, run_id, runs.PlainContext(), generator=gen,
                           collection=text_collection(FakeEmbedder()))
    assert seen["retrieved"] == 6  # every question's passages were stored before the first answer
    assert summary["answers"] == 12 and not summary["cancelled"]
    rec = runs.load_run(settings, run_id)
    assert len(rec.results) == 12 and set(rec.retrieved) == {i.id for i in items}
    # Base prompts carry no context; RAG prompts carry exactly the stored passages.
    for msgs, res in zip(gen.calls, rec.results):
        user = msgs[-1]["content"]
        if res["setup"] == "base":
            assert "Context:" not in user
        else:
            assert all(p["text"].strip() in user for p in rec.retrieved[res["id"]])
    rs = score_run(rec)
    assert set(rs.summaries) == {"base", "rag"}
    assert rs.summaries["base"].format_ok.value == 0.0 and rs.summaries["rag"].format_ok.value == 1.0
    assert rs.summaries["rag"].source_retrieved is not None and rs.summaries["base"].source_retrieved is None
    assert rs.summaries["base"].fact_correct.value == 0.0


def test_cancel_then_resume_after_reload(settings):
    items = sample_items()[:5]
    run_id = make_run(settings, items, setups=("base",), collection=None)
    summary = runs.execute(settings, run_id, runs.PlainContext(cancel_after=2), generator=FakeGenerator())
    assert summary["cancelled"] and summary["answers"] == 2
    rec = runs.load_run(settings, run_id)  # what a reloaded page sees
    assert len(rec.results) == 2 and rec.summary["cancelled"]
    gen = FakeGenerator()
    summary = runs.execute(settings, run_id, runs.PlainContext(), generator=gen)
    assert summary["answers"] == 5 and len(gen.calls) == 3  # only the missing answers were generated
    assert runs.list_runs(settings) == [run_id]


def test_a_failing_answer_is_recorded_and_the_run_goes_on(settings):
    class Flaky(FakeGenerator):
        def generate(self, messages, cfg):
            if len(self.calls) == 1:
                self.calls.append(messages)
                raise RuntimeError("out of memory")
            return super().generate(messages, cfg)

    run_id = make_run(settings, sample_items()[:3], setups=("base",), collection=None)
    runs.execute(settings, run_id, runs.PlainContext(), generator=Flaky())
    rs = score_run(runs.load_run(settings, run_id))
    # The errored answer counts as wrong and stays in every denominator (it used to be left out of them).
    base = rs.summaries["base"]
    assert base.errors == 1 and base.n == 3 and base.correct.n == 3 and base.usable.n == 3
    assert base.correct.k == sum(sc.correct for sc in rs.scores.values())
    assert "[error] RuntimeError: out of memory" in [r["base"] for r in rs.rows()]
    assert [(x["setup"], x["error"]) for x in rs.errors()] == [("base", "RuntimeError: out of memory")]
    md = to_markdown(build_report(rs))
    assert "## Errored answers (counted as wrong)" in md and "RuntimeError: out of memory" in md
    assert "| Base | 3/3 | 1/3 (33%) |" in md  # answers in, and errors per setup in the headline


def test_exports_and_compare(settings):
    items = sample_items()[:4]
    ids = []
    for _ in range(2):
        ids.append(make_run(settings, items))
        runs.execute(settings, ids[-1], runs.PlainContext(), generator=FakeGenerator(),
                     collection=text_collection(FakeEmbedder()))
    a, b = (score_run(runs.load_run(settings, i)) for i in ids)
    report = build_report(a, Prices(), Measured(training_s=300.0))
    page = to_html(report)
    assert page.count("<script") >= 2 and "Plotly.newPlot" in page and "<script src" not in page
    assert "Evaluation report" in page and items[0].question in page
    md = to_markdown(report)
    assert "| Base |" in md and "## Recommendation" in md
    data = json.loads(to_json_text(report))
    assert data["run_id"] == ids[0] and len(data["questions"]) == 4
    assert data["recommendation"]["verdict"] in ("rag", "finetune", "both", "hybrid", "prompt")
    assert data["setups"]["base"]["usable"]["n"] == 4
    rows = compare_rows(a, b)
    assert rows and all(r["change (points)"] == 0 for r in rows if r["change (points)"] is not None)
    assert all("/" in r["A"] for r in rows if r["metric"] != "Token F1 (mean)")  # k/n


def _summ(**kw):
    from workbench.evaluation.metrics import SetupSummary

    base = dict(n=10, expected=10, correct=None, usable=None, fact_correct=None, exact=None, f1=None, contains=None,
                format_ok=None, source_retrieved=None, gold_retrieved=None, abstention=None, false_abstention=None,
                latency_s=1.0, latency_p50_s=1.0, prompt_tokens=100.0, completion_tokens=20.0)
    return SetupSummary(**{**base, **kw})


def test_costs_hand_computed():
    s = {"base": _summ(setup="base", prompt_tokens=100.0, completion_tokens=20.0, latency_s=2.0),
         "rag": _summ(setup="rag", prompt_tokens=600.0, completion_tokens=20.0, latency_s=3.6)}
    p = Prices(gpu_per_hour=3.6, per_million_input_tokens=1.0, per_million_output_tokens=2.0,
               vector_db_per_month=10.0, queries_per_day=1000)
    base, rag = costs(s, p, Measured())
    assert rag.context_tokens_added == 500.0 and base.context_tokens_added is None
    assert base.per_1k_tokens_usd == pytest.approx(1000 * (100 * 1 + 20 * 2) / 1e6)  # 0.14
    assert rag.per_1k_compute_usd == pytest.approx(1000 * 3.6 / 3600 * 3.6)  # 3.6
    assert rag.year_usd == pytest.approx(365 * 1000 * (600 + 40) / 1e6 + 120)


def test_the_cost_panel_states_the_recipe_against_training_trade():
    s = {"base": _summ(setup="base", prompt_tokens=40.0), "prompted": _summ(setup="prompted", prompt_tokens=440.0)}
    p = Prices(gpu_per_hour=3.6, per_million_input_tokens=1.0, queries_per_day=1000)
    base, prompted = costs(s, p, Measured(training_s=1000.0))
    assert prompted.recipe_tokens_added == 400.0 and base.recipe_tokens_added is None
    recipe, training = trade(s, p, Measured(training_s=1000.0))
    # 400 tokens at $1/M = $0.0004 a query; training 1000 s at $3.6/h = $1.00 once: break-even at 2,500 queries.
    assert "+400" in recipe and "$0.4000 per 1,000 queries" in recipe and "$146.00 per year" in recipe
    assert "one-off" in training and "$1.00" in training and "2,500 queries" in training
    assert "not measured" in trade(s, p, Measured())[1]


def test_freshness_says_and_before_after(settings):
    change = FactChange("kb/keelhouse_pricing.md", "$49 per month", "$59 per month", ("q02",),
                        "$49 per month", "$59 per month")
    assert says('{"answer": "$59 per month"}', change) == "new"
    assert says("It costs 49 dollars.", change) == "old"
    assert says("No idea", change) == "neither"
    items = [Question("q02", "Harbor price?", "$49 per month")]
    before = make_run(settings, items, setups=("base", "rag"))
    after = make_run(settings, items, setups=("base", "rag"))
    d = settings.evals_dir
    for rid, rag_text in ((before, "$49 per month"), (after, "$59 per month")):
        (d / rid / "results.jsonl").write_text(
            json.dumps({"id": "q02", "setup": "base", "text": "$49 per month"}) + "\n"
            + json.dumps({"id": "q02", "setup": "rag", "text": rag_text}) + "\n")
    rows = before_after(runs.load_run(settings, before), runs.load_run(settings, after), change)
    report = build_report(score_run(runs.load_run(settings, after)), freshness_rows=rows)
    assert "Freshness" in to_html(report) and "| q02 | RAG | yes | old | new |" in to_markdown(report)
    assert json.loads(to_json_text(report))["freshness"][1]["after says"] == "new"
    assert [(r["setup"], r["before says"], r["after says"], r["follows the new fact"]) for r in rows] == [
        ("base", "old", "old", False), ("rag", "old", "new", True)]


def slow_fake_job(ctx):
    """A job handler like runs.run_job, with a slow fake generator instead of the real model."""
    return runs.execute(ctx.settings, ctx.spec["run_id"], ctx, generator=FakeGenerator(delay_s=0.2))


def test_background_run_cancel_and_reload(settings):
    from workbench import jobs

    spec = runs.RunSpec(set_name="t", setups=("base",))
    run_id = runs.submit_run(settings, spec, sample_items()[:20], handler="tests.test_evaluation_runs:slow_fake_job")
    rec = runs.load_run(settings, run_id)
    deadline = time.time() + 60
    while time.time() < deadline and len(runs.load_run(settings, run_id).results) < 2:
        time.sleep(0.2)
    assert runs.run_status(settings, rec).state == jobs.RUNNING
    runs.cancel_run(settings, run_id)
    deadline = time.time() + 20
    while time.time() < deadline and not runs.run_status(settings, rec).is_final:
        time.sleep(0.2)
    st = runs.run_status(settings, rec)
    assert st.state == jobs.CANCELLED, jobs.log_tail(jobs.job_dir(settings, rec.job_id), 20)
    again = runs.load_run(settings, run_id)  # what a reloaded page sees
    assert again.summary["cancelled"] and 2 <= len(again.results) < 20


def test_adapter_only_for_finetuned_and_hybrid(settings):
    run_id = make_run(settings, sample_items()[:2], setups=setups.keys(), adapter_path="/adapters/demo",
                      recipe=Recipe("house", format="One line of JSON.", version=1).to_json())
    gen = FakeGenerator()
    runs.execute(settings, run_id, runs.PlainContext(), generator=gen, collection=text_collection(FakeEmbedder()))
    rec = runs.load_run(settings, run_id)
    used = {(r["setup"], a) for r, a in zip(rec.results, gen.adapters_used)}
    assert used == {("base", None), ("prompted", None), ("rag", None), ("finetuned", "/adapters/demo"),
                    ("hybrid", "/adapters/demo")}


def test_the_recipe_is_recorded_with_the_run_and_reaches_the_setups_that_use_it(settings):
    recipe = Recipe("house", instructions="Be exact.", format="One line of JSON.", version=2)
    run_id = make_run(settings, sample_items()[:1], setups=setups.keys(), adapter_path="/a",
                      recipe=recipe.to_json(), recipe_with_adapter=True, probe=False)
    gen = FakeGenerator()
    runs.execute(settings, run_id, runs.PlainContext(), generator=gen, collection=text_collection(FakeEmbedder()))
    rec = runs.load_run(settings, run_id)
    assert Recipe.from_json(rec.spec.recipe) == recipe and rec.spec.recipe_with_adapter
    systems = [m[0]["content"] for m in gen.calls]
    assert systems == ["You are a helpful assistant."] + ["Be exact.\n\nOne line of JSON."] * 4
    with pytest.raises(runs.RunError, match="needs a prompt recipe"):
        runs.RunSpec("t", setups=("prompted",))
    assert "prompted" not in runs.RunSpec("t", collection="c", adapter="a").setups


def test_run_index_follows_create_progress_finish_delete_and_rebuilds(settings):
    from workbench.evaluation import run_index

    items = sample_items()[:3]
    run_id = make_run(settings, items, setups=("base",), collection=None, label="first")
    (e,) = run_index.entries(settings)
    assert (e.run_id, e.label, e.set_name, e.setups, e.n_questions, e.answers, e.expected, e.ended) == (
        run_id, "first", "t", ("base",), 3, 0, 3, False)
    assert run_index.state(settings, e) == ("incomplete", None)  # no job: executed in-process
    runs.execute(settings, run_id, runs.PlainContext(cancel_after=2), generator=FakeGenerator())
    e = run_index.get(settings, run_id)
    assert (e.answers, e.ended, e.cancelled) == (2, True, True) and e.mean_latency_s > 0
    assert run_index.state(settings, e) == ("cancelled", None)
    runs.execute(settings, run_id, runs.PlainContext(), generator=FakeGenerator())  # resumed to the end
    e = run_index.get(settings, run_id)
    assert (e.answers, e.ended, e.cancelled) == (3, True, False)
    assert run_index.state(settings, e)[0] == "finished"

    # Rebuilt from the folders: an index that is missing or corrupt is no crash, and says the same.
    index = settings.evals_dir / run_index.INDEX
    for damage in (lambda: index.unlink(), lambda: index.write_text('{"runs": [{"oops"')):
        damage()
        assert run_index.entries(settings) == [e]
    # A run folder written without the index (an older version) is added on the next read, once.
    other = make_run(settings, items[:1], setups=("base",), collection=None)
    saved = json.loads(index.read_text())
    saved["runs"] = [r for r in saved["runs"] if r["run_id"] != other]
    index.write_text(json.dumps(saved))
    assert [x.run_id for x in run_index.entries(settings)] == [other, run_id]
    assert other in index.read_text()

    runs.delete_run(settings, other)
    assert runs.list_runs(settings) == [run_id] and other not in index.read_text()
    import shutil

    shutil.rmtree(settings.evals_dir / run_id)  # a folder removed by hand leaves the index too
    assert run_index.entries(settings) == []


def test_background_run_index_entry_has_its_job_and_live_answers(settings):
    from workbench.evaluation import run_index

    spec = runs.RunSpec(set_name="t", setups=("base",))
    run_id = runs.submit_run(settings, spec, sample_items()[:20], handler="tests.test_evaluation_runs:slow_fake_job")
    e = run_index.get(settings, run_id)
    assert e.job_id == runs.load_run(settings, run_id).job_id
    deadline = time.time() + 60
    while time.time() < deadline and runs.answers_so_far(e, run_index.job_status(settings, e.job_id)) < 2:
        time.sleep(0.2)
    state, js = run_index.state(settings, e)
    assert state == "running" and 2 <= runs.answers_so_far(e, js) <= 20
    runs.cancel_run(settings, run_id)
    deadline = time.time() + 20
    while time.time() < deadline and not run_index.get(settings, run_id).ended:
        time.sleep(0.2)
    e = run_index.get(settings, run_id)
    assert e.cancelled and e.answers == len(runs.load_run(settings, run_id).results)
