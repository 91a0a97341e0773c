"""The verdict climbs the ladder: synthetic scored runs with known effects, fallbacks, partial runs, exports."""
from __future__ import annotations

import json

import numpy as np

from workbench.evaluation import decision
from workbench.evaluation.decision import recommend
from workbench.evaluation.figures import ladder_figure, rates_figure
from workbench.evaluation.report import build_report, summary_table, to_html, to_json_text, to_markdown
from workbench.evaluation.runs import RunRecord, RunSpec
from workbench.evaluation.scoring import score_run
from workbench.evaluation.stats import RULE
from workbench.questions import Question

N = 60
# The four kinds of answer to "How many days?" (reference "27 days", JSON expected).
USABLE, RIGHT_PLAIN, WRONG_JSON, WRONG_PLAIN = '{"answer": "27 days"}', "27 days", '{"answer": "9"}', "9 weeks"


def answer(correct: bool, well_formed: bool) -> str:
    return {(True, True): USABLE, (True, False): RIGHT_PLAIN, (False, True): WRONG_JSON,
            (False, False): WRONG_PLAIN}[(correct, well_formed)]


def scored(answers: dict[str, list], n: int | None = None, finished: bool = True, **spec_kw):
    """A scored run built in memory: setup -> one entry per question, a (correct, well-formed) pair,
    an error message (str), or None (not answered yet)."""
    n = n or len(next(iter(answers.values())))
    items = tuple(Question(f"q{i:02d}", "How many days?", "27 days", "json") for i in range(n))
    results = []
    for setup, per_q in answers.items():
        for item, a in zip(items, per_q):
            if a is None:
                continue
            err = a if isinstance(a, str) else None
            results.append({"id": item.id, "setup": setup, "text": "" if err else answer(*a), "error": err,
                            "latency_s": 1.0, "prompt_tokens": 30 if setup == "base" else 300, "completion_tokens": 9})
    kw = {"collection": "kb", "adapter_path": "/a", **spec_kw}
    if "prompted" in answers:
        kw.setdefault("recipe", {"name": "house", "version": 1})
    spec = RunSpec("t", setups=tuple(answers), **kw)
    rec = RunRecord("r1", spec, items, {}, tuple(results), {"cancelled": False} if finished else None, None, 0.0)
    return score_run(rec)


def outcomes(k: int, rest: tuple[bool, bool] = (False, True), n: int = N) -> list:
    """k usable answers, then n - k answers that are `rest` (correct, well-formed)."""
    return [(True, True)] * k + [rest] * (n - k)


def test_a_real_gap_is_found_on_every_rung():
    rs = scored({
        "base": [(True, False)] * 10 + [(False, False)] * 50,  # no JSON at all
        "prompted": [(True, True)] * 10 + [(False, True)] * 50,  # the recipe fixes the format, not the facts
        "rag": [(True, True)] * 45 + [(False, True)] * 15,  # retrieval adds facts
        "finetuned": [(True, True)] * 10 + [(False, True)] * 50,  # nothing beyond the recipe
        "hybrid": [(True, True)] * 58 + [(False, True)] * 2,  # better than RAG alone
    })
    r = recommend(rs)
    rungs = {x.key: x for x in r.rungs}
    assert rungs["prompt"].outcome == "format" and rungs["prompt"].verdict == "better"
    assert (rungs["prompt"].comparison.diff, rungs["prompt"].comparison.b01) == (100.0, 60)
    assert rungs["prompt"].comparison.p_value < 1e-10
    assert rungs["rag"].outcome == "facts" and rungs["rag"].a == "prompted" and rungs["rag"].verdict == "better"
    assert rungs["rag"].comparison.diff == 100 * 35 / 60 and rungs["rag"].comparison.low > 0
    assert rungs["finetune"].verdict == "no evidence yet" and rungs["finetune"].comparison.diff == 0
    assert rungs["hybrid"].a == "rag" and rungs["hybrid"].outcome == "usable"
    assert rungs["hybrid"].comparison.diff == 100 * 13 / 60 and rungs["hybrid"].verdict == "better"
    assert r.verdict == "hybrid" and not r.provisional and r.title == decision.TITLES["hybrid"]
    assert r.rule == RULE and any(line.startswith("Rule: ") for line in r.evidence)


def test_noise_is_not_found():
    # Same accuracy, independent answers: over 40 seeded draws the rule calls a difference rarely (alpha 5 %).
    rng = np.random.default_rng(7)
    called = 0
    for _ in range(40):
        a, b = rng.random(N) < 0.5, rng.random(N) < 0.5
        rs = scored({"base": [(bool(x), True) for x in a], "prompted": [(bool(x), True) for x in b]})
        rung = recommend(rs).rung("prompt")
        assert rung.outcome == "format" and rung.comparison.diff == 0  # every answer is JSON: no format effect
        usable = rung.usable
        called += usable.excludes_zero
    assert called <= 4
    # A small observed gap on few questions: no evidence yet, and how many questions would detect it.
    rs = scored({"prompted": outcomes(30), "rag": outcomes(33)})
    rung = recommend(rs).rung("rag")
    assert rung.verdict == "no evidence yet" and rung.comparison.diff == 5.0
    assert rung.comparison.questions_to_detect() > N
    assert "questions would detect a difference of this size" in rung.text()
    assert recommend(rs).verdict == "prompt"


def test_an_old_four_setup_run_falls_back_to_base_and_says_so():
    old_spec = {"set_name": "sample", "setups": ["base", "rag", "finetuned", "hybrid"], "collection": "kb",
                "retrieval": None, "adapter": "demo", "adapter_path": "/a", "max_new_tokens": 64}
    spec = RunSpec.from_json(old_spec)  # a spec written before recipes and the prompted setup: still opens
    assert spec.recipe is None and spec.setups == ("base", "rag", "finetuned", "hybrid")
    rs = scored({"base": outcomes(5, (False, False)), "rag": [(True, False)] * 40 + [(False, False)] * 20,
                 "finetuned": outcomes(6), "hybrid": outcomes(42)})
    r = recommend(rs)
    rungs = {x.key: x for x in r.rungs}
    assert rungs["prompt"].comparison is None and "no Prompted answers" in rungs["prompt"].text()
    assert rungs["rag"].a == "base" and "measured against Base: no Prompted setup" in rungs["rag"].text()
    assert rungs["finetune"].a == "base" and rungs["finetune"].verdict == "better"  # format 6/60 -> 60/60
    assert rungs["rag"].verdict == "better"  # facts 5/60 -> 40/60
    assert rungs["hybrid"].a == "finetuned" and rungs["hybrid"].verdict == "better"  # the most usable single
    assert r.verdict == "hybrid"
    md = to_markdown(build_report(rs))
    assert "Not measured" in md and "measured against Base" in md


def test_a_run_with_one_setup_has_no_verdict_and_a_freshness_run_none_either():
    rs = scored({"base": outcomes(30)})
    r = recommend(rs)
    assert r.verdict == "none" and all(x.comparison is None for x in r.rungs)
    fresh = scored({"base": outcomes(1, n=1), "rag": outcomes(1, n=1)}, parent_run="r0",
                   freshness={"doc_name": "a.md"})
    r = recommend(fresh)
    assert r.verdict == "none" and r.rungs == () and "freshness" in r.title


def test_a_run_in_progress_is_provisional_with_its_partial_n():
    half = [(True, True)] * 30 + [None] * 30
    rs = scored({"base": outcomes(0, (False, False)), "prompted": half}, finished=False)
    r = recommend(rs)
    assert r.provisional and r.title.startswith("Provisional (90 of 120 answers in)")
    assert r.rung("prompt").comparison.n == 30  # paired over the questions both have answered
    assert json.loads(to_json_text(build_report(rs)))["recommendation"]["provisional"] is True


def test_errored_answers_count_in_every_denominator_and_in_the_pairs():
    errored = ["RuntimeError: out of memory"] * 20 + [(True, True)] * 40
    rs = scored({"base": outcomes(60), "prompted": errored})
    s = rs.summaries["prompted"]
    assert (s.n, s.errors, s.usable.k, s.usable.n) == (60, 20, 40, 60)
    rung = recommend(rs).rung("prompt")
    assert rung.comparison.n == 60 and rung.comparison.b10 == 20 and rung.verdict == "worse"
    head, rows = summary_table(rs)
    row = dict(zip(head, rows[1]))
    assert row["Errors"] == "20/60 (33%)" and row["Usable"] == "40/60 (67%)" and row["Answers"] == "60/60"
    assert any("Errored answers count as wrong: Prompted 20/60 (33%)" in x for x in recommend(rs).evidence)


def test_exports_carry_the_rule_and_the_intervals():
    rs = scored({"base": outcomes(5, (False, False)), "prompted": outcomes(50)})
    report = build_report(rs)
    c = report.recommendation.rung("prompt").comparison
    interval = f"[{c.low:+.1f}, {c.high:+.1f}]"
    md, page = to_markdown(report), to_html(report)
    for text in (md, page):
        assert RULE in text and interval in text and "McNemar p" in text and "95 % interval" in text
        assert "5/60 (8%)" in text  # rates as k/n
    assert "Plotly.newPlot" in page and "<script src" not in page
    data = json.loads(to_json_text(report))
    rec = data["recommendation"]
    assert rec["rule"] == RULE and rec["verdict"] == "prompt"
    prompt = next(x for x in rec["rungs"] if x["key"] == "prompt")
    assert prompt["comparison"]["interval_points"] == [c.low, c.high] and prompt["comparison"]["mcnemar_p"] == c.p_value
    assert prompt["comparison"]["bootstrap"] == {"seed": 0, "resamples": 10_000}
    assert data["setups"]["base"]["usable"] == {**data["setups"]["base"]["usable"], "k": 5, "n": 60}
    assert len(data["setups"]["base"]["usable"]["interval"]) == 2


def test_charts_show_the_intervals_and_k_of_n():
    rs = scored({"base": outcomes(5, (False, False)), "prompted": outcomes(50)})
    fig = rates_figure(rs)
    bar = fig.data[0]
    assert bar.error_y.array is not None and bar.text[0] == "5/60" and "5/60 (8%)" in bar.customdata[0]
    forest = ladder_figure(recommend(rs))
    point = forest.data[0]
    c = recommend(rs).rung("prompt").comparison
    assert list(point.x) == [c.diff] and point.error_x.array[0] == c.high - c.diff
