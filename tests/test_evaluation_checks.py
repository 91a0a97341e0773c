"""The report's checks: forgetting (probe answered under four conditions), leakage, revalidation, and the page."""
from __future__ import annotations

import json
import random

import pytest

from workbench.answering.recipes import Recipe
from workbench.evaluation import checks, forgetting, leakage, revalidation, run_index, runs, stats
from workbench.evaluation.probe import load_probe
from workbench.evaluation.report import build_report, to_html, to_json_text, to_markdown
from workbench.evaluation.scoring import score_run
from workbench.questions import Question

RECIPE = Recipe("house", instructions="Be exact.", format="One line of JSON.", version=1).to_json()


def fake_generator(answer):
    """A generator that answers `answer(messages, adapter)`; built on the runs tests' FakeGenerator."""
    from tests.test_evaluation_runs import FakeGenerator

    class Scripted(FakeGenerator):
        def stream(self, messages, cfg, stats_out=None, adapter=None, prepared_out=None):
            self.calls.append((messages, adapter))
            yield answer(messages, adapter)
            stats_out.append(FakeGenerator().generate(messages, cfg).stats)

    return Scripted()


def probe_answer(messages, adapter):
    """Right on every probe item for the base model; the adapter forgets k01-k09 (capitals and sums)."""
    q = messages[-1]["content"]
    item = max((i for i in load_probe() if i.question in q), key=lambda i: len(i.question))
    if adapter and item.id.startswith("k0"):
        return "I am not sure."
    return ANSWERS[item.id]


# Answers that pass the probe's checks (each item gets the first one that passes its own check).
CANDIDATES = ("YES", "HELLO", "OK", "tac", "42", "12", "2", "apple\nbanana\npear", "yes", "tuesday", "cow",
              "merci", "green white", "berlin", "1, 2, 3, 4, 5", "CO2", "Au", "H2O", "The cat sat on the mat",
              "I like green apples")
ANSWERS: dict[str, str] = {}


def passing_answer(item) -> str | None:
    from workbench.evaluation.probe import check

    head, _, arg = item.check.partition(":")
    own = [f"It is {arg}."] if head in ("number", "contains") else []
    return next((c for c in (*own, *CANDIDATES) if check(item, c)), None)


@pytest.fixture(scope="module", autouse=True)
def probe_answers():
    ANSWERS.update({i.id: passing_answer(i) for i in load_probe()})


def test_every_probe_item_has_a_passing_fake_answer():
    assert all(ANSWERS.values()), [k for k, v in ANSWERS.items() if not v]


# --- forgetting ----------------------------------------------------------------------------------

def synthetic(base: list[bool], adapter: list[bool], kinds: list[str]) -> list[dict]:
    recs = []
    for cond, outcomes in (("base", base), ("adapter", adapter)):
        for n, (ok, kind) in enumerate(zip(outcomes, kinds)):
            recs.append({"id": f"p{n}", "condition": cond, "text": "paris" if ok else "lyon", "error": None,
                         "check": "contains:paris", "kind": kind, "question": "capital of France?"})
    return recs


def test_forgetting_finds_a_known_loss_and_not_noise():
    kinds = ["knowledge"] * 30 + ["instruction"] * 30
    base = [True] * 50 + [False] * 10
    lost = [False] * 20 + [True] * 30 + [False] * 10  # 20 knowledge items forgotten
    f = forgetting.analyse(synthetic(base, lost, kinds), seed=0)
    overall = f.headline[0]
    assert (overall.base, overall.adapter) == ("base", "adapter")
    assert overall.verdict == stats.WORSE and overall.comparison.diff == pytest.approx(-100 * 20 / 60)
    assert "lost ground" in overall.sentence() and "20 items lost" in overall.sentence()
    by_kind = {s.kind: s for s in f.shifts}
    assert by_kind["knowledge"].verdict == stats.WORSE
    assert by_kind["instruction"].verdict == stats.NO_EVIDENCE  # nothing changed there
    assert f.rates["base"] == stats.Rate(50, 60) and f.rates["adapter"] == stats.Rate(30, 60)
    assert f.by_kind["adapter"]["knowledge"] == stats.Rate(10, 30)

    rng = random.Random(1)
    noisy = list(base)
    for i in rng.sample(range(50), 3):
        noisy[i] = False
    for i in range(50, 53):
        noisy[i] = True  # 3 lost, 3 gained: noise
    g = forgetting.analyse(synthetic(base, noisy, kinds), seed=0)
    assert g.headline[0].verdict == stats.NO_EVIDENCE and stats.NO_EVIDENCE in g.headline[0].sentence()


def test_forgetting_counts_errors_as_failures_and_pairs_only_common_items():
    recs = synthetic([True] * 4, [True] * 4, ["knowledge"] * 4)
    recs[4]["error"] = "RuntimeError: boom"  # adapter, p0
    recs = recs[:-1]  # adapter has not answered p3 yet
    f = forgetting.analyse(recs)
    assert f.rates["adapter"] == stats.Rate(2, 3)
    assert f.headline[0].comparison.n == 3 and f.headline[0].comparison.b10 == 1


def test_conditions_follow_the_spec():
    plain = runs.RunSpec("t", setups=("base",), adapter="a")
    assert plain.probe is True  # on by default with an adapter
    assert [c.key for c in forgetting.conditions(plain)] == ["base", "adapter"]
    with_recipe = runs.RunSpec("t", setups=("base",), adapter="a", recipe=RECIPE)
    assert [c.key for c in forgetting.conditions(with_recipe)] == ["base", "base_recipe", "adapter",
                                                                   "adapter_recipe"]
    assert runs.RunSpec("t", setups=("base",)).probe is False
    assert forgetting.conditions(runs.RunSpec("t", setups=("base",), adapter="a", probe=False)) == ()
    with pytest.raises(runs.RunError, match="probe"):
        runs.RunSpec("t", setups=("base",), probe=True)
    # Runs stored before the probe existed did not answer it.
    old = {k: v for k, v in plain.to_json().items() if k != "probe"}
    assert runs.RunSpec.from_json(old).probe is False


def items(n=3) -> list[Question]:
    return [Question(f"q{i}", f"What is item {i} made of?", f"wood {i}") for i in range(n)]


def adapter_folder(tmp_path, dataset: str = "") -> str:
    d = tmp_path / "adapter"
    d.mkdir(exist_ok=True)
    (d / "adapter_config.json").write_text("{}")
    (d / "workbench.json").write_text(json.dumps({"dataset": dataset}))
    return str(d)


def test_probe_answering_is_resumable_and_cancellable(settings, tmp_path):
    spec = runs.RunSpec("t", setups=("base",), adapter_path=adapter_folder(tmp_path), recipe=RECIPE)
    run_id = runs.create_run(settings, spec, items())
    n_probe = len(load_probe())
    gen = fake_generator(probe_answer)
    # Progress: 3 main answers, then the probe counts from 1; cancel 10 answers into the probe.
    first = runs.execute(settings, run_id, runs.PlainContext(cancel_after=10), generator=gen)
    assert first["cancelled"] and first["answers"] == 3
    rec = runs.load_run(settings, run_id)
    assert 0 < len(rec.probe_results) < 4 * n_probe
    assert first["probe_answers"] == len(rec.probe_results) == 10
    second_gen = fake_generator(probe_answer)
    summary = runs.execute(settings, run_id, runs.PlainContext(), generator=second_gen)
    assert not summary["cancelled"]
    assert summary["probe_answers"] == summary["expected_probe_answers"] == 4 * n_probe
    assert run_index.get(settings, run_id).answers == 3  # the index counts the main answers only
    rec = runs.load_run(settings, run_id)
    pairs = [(r["id"], r["condition"]) for r in rec.probe_results]
    assert len(pairs) == len(set(pairs)) == 4 * n_probe  # nothing answered twice
    assert len(second_gen.calls) == 4 * n_probe - 10
    # The adapter is used exactly for the adapter conditions; the recipe reaches exactly the recipe ones.
    by_cond = {}
    for msgs, adapter in gen.calls[3:] + second_gen.calls:
        q = msgs[-1]["content"]
        by_cond.setdefault((adapter is not None, any("Be exact." in m["content"] for m in msgs)), set()).add(q)
    assert set(by_cond) == {(False, False), (False, True), (True, False), (True, True)}
    f = forgetting.for_run(rec)
    assert f.headline[0].verdict == stats.WORSE  # the fake adapter forgets the capitals
    assert {s.adapter for s in f.headline} == {"adapter", "adapter_recipe"}
    sec = checks.sections(settings, rec)
    assert [s.key for s in sec][0] == "forgetting"


# --- leakage -------------------------------------------------------------------------------------

def test_leakage_marks_exact_and_near_duplicates_but_not_shared_words():
    questions = [
        Question("exact", "How much notice does the bakery need for a birthday cake?", "3 days"),
        Question("near", "how much NOTICE does the bakery need for birthday cake", "3 days"),
        Question("inside", "When does the Hollow Oak Bakery open on Sundays?", "7:00"),
        Question("other", "How much does the bakery charge for a birthday cake?", "40"),
        Question("short", "Opening hours?", "7"),
        Question("number", "Which colour is the door of house number 12 on Elm street?", "red"),
    ]
    training = [
        "Answer the question using only the context below.\n\nContext:\n[1] ...\n\n"
        "Question: How much notice does the bakery need for a birthday cake?",
        "How much notice does the bakery need for a birthday cake, please?",
        "Tell me: when does the hollow oak bakery open on sundays? Answer briefly.",
        "What are the opening hours of the museum?",
        "Which colour is the door of house number 1 on Elm street?",
    ]
    leaks = {x.id: x for x in leakage.find_leaks(questions, training)}
    assert leaks["exact"].kind == "exact" and leaks["exact"].score == 1.0
    assert leaks["near"].kind == "near" and leaks["near"].score >= leakage.NEAR_JACCARD
    assert leaks["inside"].kind == "near"  # contained word for word in a longer prompt
    assert "other" not in leaks  # shares most words, asks something else
    assert "short" not in leaks  # too short to count as contained
    assert "number" not in leaks  # the same template about another house
    assert leakage.normalise("  How much, NOTICE?\n") == "how much notice"


def write_dataset(settings, name: str, prompts: list[str]) -> None:
    from workbench.finetune.datasets import Example, save_dataset

    save_dataset(settings, name, [Example((("user", p), ("assistant", "{}")), n + 1) for n, p in enumerate(prompts)],
                 source="test")


def run_with_answers(settings, spec, qs, right: dict) -> runs.RunRecord:
    """A finished run whose answers are right where right[(qid, setup)] says so (else a wrong answer)."""
    run_id = runs.create_run(settings, spec, qs)
    d = settings.evals_dir / run_id
    with open(d / "results.jsonl", "a") as f:
        for q in qs:
            for s in spec.setups:
                ok = right.get((q.id, s), False)
                f.write(json.dumps({"id": q.id, "setup": s, "text": q.reference if ok else "no idea at all",
                                    "error": None, "latency_s": 0.1, "prompt_tokens": 10,
                                    "completion_tokens": 5}) + "\n")
    (d / "summary.json").write_text(json.dumps({"cancelled": False, "answers": len(qs) * len(spec.setups)}))
    return runs.load_run(settings, run_id)


def test_leakage_stored_at_creation_and_verdict_with_and_without(settings, tmp_path):
    qs = [Question(f"q{i:02d}", f"Which colour is the door of house number {i} on Elm street?", f"colour{i}")
          for i in range(30)]
    leaked = qs[:12]
    write_dataset(settings, "train", [f"Question: {q.question}" for q in leaked])
    spec = runs.RunSpec("t", setups=("base", "finetuned"), adapter_path=adapter_folder(tmp_path, "train"),
                        probe=False)
    # The adapter is right exactly on the questions it was trained on: a gain that is all leakage.
    right = {(q.id, "finetuned"): True for q in leaked}
    rec = run_with_answers(settings, spec, qs, right)
    stored = json.loads((settings.evals_dir / rec.run_id / leakage.FILE).read_text())
    assert [x["id"] for x in stored["leaks"]] == [q.id for q in leaked]
    lc = leakage.for_run(settings, rec)
    assert lc.dataset == "train" and lc.n_training == 12 and lc.ids == tuple(q.id for q in leaked)
    v = leakage.verdict(rec, lc)
    assert v.rates_with["finetuned"] == stats.Rate(12, 30)
    assert v.rates_without["finetuned"] == stats.Rate(0, 18)
    assert v.with_title != v.without_title and v.changes_verdict
    assert "12 evaluation questions" in v.sentence() and "verdict changes" in v.sentence()
    # A run without an adapter has no check; an adapter whose dataset is gone gets a note, not an error.
    assert leakage.check(settings, runs.RunSpec("t", setups=("base",)), qs) is None
    gone = leakage.check(settings, runs.RunSpec("t", setups=("base",), adapter="nope", probe=False), qs)
    assert gone.note and not gone.leaks and "not possible" in leakage.verdict(rec, gone).sentence()


# --- revalidation --------------------------------------------------------------------------------

def test_revalidation_finds_regressions_per_setup_and_per_question(settings):
    qs = [Question(f"q{i:02d}", f"Question {i}?", f"answer{i}") for i in range(30)]
    parent_spec = runs.RunSpec("t", setups=("base", "prompted"), recipe=RECIPE)
    parent = run_with_answers(settings, parent_spec, qs, {(q.id, s): True for q in qs for s in ("base", "prompted")})
    spec = revalidation.revalidation_spec(parent, base_model="other-model")
    assert spec.parent_run == parent.run_id and spec.base_model == "other-model"
    assert spec.revalidates == {"base_model": [None, "other-model"], "adapter": [None, None]}
    assert spec.question_ids == parent.spec.question_ids and spec.setups == parent.spec.setups
    # On the new model, prompted loses 15 questions; base loses q00 and gains nothing (noise).
    right = {(q.id, "base"): q.id != "q00" for q in qs}
    right.update({(q.id, "prompted"): i >= 15 for i, q in enumerate(qs)})
    child = run_with_answers(settings, spec, qs, right)
    rv = revalidation.for_run(settings, child)
    shifts = {s.setup: s for s in rv.shifts}
    assert shifts["prompted"].verdict == stats.WORSE and shifts["prompted"].comparison.b10 == 15
    assert shifts["base"].verdict == stats.NO_EVIDENCE
    assert {(c.id, c.setup) for c in rv.regressions} == {("q00", "base")} | {(q.id, "prompted") for q in qs[:15]}
    assert not rv.fixes
    assert "other-model" in rv.sentences()[0] and "regression" in " ".join(rv.sentences())
    assert revalidation.for_run(settings, parent) is None
    with pytest.raises(runs.RunError, match="another base model"):
        revalidation.revalidation_spec(parent)
    with pytest.raises(runs.RunError, match="no adapter"):
        revalidation.revalidation_spec(parent, adapter="x")


def test_revalidate_queues_a_run_that_loads_its_base_model(settings, monkeypatch):
    qs = items(2)
    parent = run_with_answers(settings, runs.RunSpec("t", setups=("base",)), qs, {})
    monkeypatch.setattr("workbench.jobs.submit", lambda *a, **k: type("S", (), {"job_id": "j1"})())
    run_id = revalidation.revalidate(settings, parent.run_id, base_model="other-model")
    rec = runs.load_run(settings, run_id)
    assert rec.spec.parent_run == parent.run_id and rec.spec.revalidates and [i.id for i in rec.items] == ["q0", "q1"]
    loaded = []
    gen = fake_generator(lambda m, a: "wood 0")
    monkeypatch.setattr("workbench.resources.generator", lambda s, name=None, loading=None: loaded.append(name) or gen)
    runs.execute(settings, run_id, runs.PlainContext())
    assert loaded == ["other-model"]


def test_exports_carry_the_sections_and_old_runs_export_without_them(settings, tmp_path):
    qs = items(3)
    write_dataset(settings, "train", [qs[0].question])
    spec = runs.RunSpec("t", setups=("base", "finetuned"), adapter_path=adapter_folder(tmp_path, "train"),
                        probe=False)
    rec = run_with_answers(settings, spec, qs, {("q0", "finetuned"): True})
    sec = checks.sections(settings, rec)
    assert [s.key for s in sec] == ["leakage"]
    report = build_report(score_run(rec), checks=sec)
    assert "Leakage check" in to_markdown(report) and "Leakage check" in to_html(report)
    assert json.loads(to_json_text(report))["checks"]["leakage"]["leaks"][0]["id"] == "q0"
    plain = run_with_answers(settings, runs.RunSpec("t", setups=("base",)), qs, {})
    assert checks.sections(settings, plain) == ()
    assert not json.loads(to_json_text(build_report(score_run(plain)))).get("checks")


# --- the Report page -----------------------------------------------------------------------------

def test_report_page_shows_the_checks_and_opens_an_old_run(settings, tmp_path, fresh_ui_caches):
    from tests.pages import app_page

    qs = [Question(f"q{i}", f"Which colour is the door of house number {i} on Elm street?", f"red{i}")
          for i in range(4)]
    write_dataset(settings, "train", [qs[0].question])
    spec = runs.RunSpec("t", setups=("base", "finetuned"), adapter_path=adapter_folder(tmp_path, "train"))
    parent = run_with_answers(settings, spec, qs, {(q.id, s): True for q in qs for s in spec.setups})
    child = run_with_answers(settings, revalidation.revalidation_spec(parent, base_model="other-model"), qs,
                             {(q.id, s): q.id != "q1" for q in qs for s in spec.setups})
    with open(settings.evals_dir / child.run_id / runs.PROBE_RESULTS, "w") as f:  # the newest run is shown
        for r in synthetic([True] * 10, [True] * 5 + [False] * 5, ["knowledge"] * 10):
            f.write(json.dumps(r) + "\n")
    at = app_page("pages/evaluate_report.py", timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = " ".join(h.value for h in at.subheader)
    assert "Forgetting check" in shown and "Leakage check" in shown and "Revalidation against" in shown
    text = " ".join(str(w.value) for w in [*at.warning, *at.markdown])
    assert "q0" in text and "regressed" in text
    assert any(b.label == "Revalidate" for b in at.button)
    assert child.run_id == run_index.entries(settings)[0].run_id
    # The Answers tab marks the question the adapter trained on.
    answers = next(d.value for d in at.dataframe if "in training data" in d.value.columns)
    assert dict(zip(answers["id"], answers["in training data"])) == {"q0": "exact", "q1": "", "q2": "", "q3": ""}

    # An old run: spec.json as written before these fields existed, no leakage.json, no probe answers.
    old = run_with_answers(settings, runs.RunSpec("t", setups=("base",)), qs, {})
    d = settings.evals_dir / old.run_id
    stored = json.loads((d / "spec.json").read_text())
    for k in ("probe", "base_model", "revalidates", "recipe", "recipe_with_adapter"):
        stored.pop(k, None)
    (d / "spec.json").write_text(json.dumps(stored))
    at.session_state["eval_run"] = old.run_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "No forgetting check" in captions and "No leakage check" in captions and "Not a revalidation" in captions
