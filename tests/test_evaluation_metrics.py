"""Metric functions against hand-computed values (question-set parsing: test_questions.py)."""
from __future__ import annotations

import json

import pytest

from workbench.evaluation import metrics as m
from workbench.evaluation.sample import SAMPLE_SCHEMA
from workbench.questions import Question

SCHEMA = json.dumps(SAMPLE_SCHEMA)


def test_normalise_keeps_numbers_and_drops_articles():
    assert m.normalise("The price is $3.50, per device.") == "price is $3.50 per device"
    assert m.normalise("It costs $1,400 per year!") == "it costs $1,400 per year"


def test_exact_match_and_f1_hand_computed():
    assert m.exact_match("The 27 days.", "27 days")
    assert not m.exact_match("27 vacation days", "27 days")
    # pred {27, vacation, days}, ref {27, days}: P = 2/3, R = 1, F1 = 2*(2/3)/(5/3) = 0.8
    assert m.token_f1("27 vacation days", "27 days") == pytest.approx(0.8)
    # pred {18, months}, ref {36, months}: P = R = 1/2, F1 = 0.5
    assert m.token_f1("18 months", "36 months") == pytest.approx(0.5)
    assert m.token_f1("nothing", "27 days") == 0.0


def test_contains_reference_on_word_boundaries():
    assert m.contains_reference("Employees get 27 days of vacation.", "27 days")
    assert not m.contains_reference("Employees get 127 days.", "27 days")
    assert m.contains_reference('{"answer": "$49 per month"}', "$49 per month")


def test_abstention_is_one_definition():
    assert m.is_abstention("I don\u2019t know.")
    assert m.is_abstention('{"answer": "unknown", "confidence": "low", "source": "none"}')
    assert m.is_abstention("That is not in the context.")
    assert m.is_abstention("")
    assert not m.is_abstention("27 days")


def test_format_adherence_json_schema_and_regex():
    good = '{"answer": "27 days", "confidence": "high", "source": "employee_handbook.md"}'
    assert m.format_ok(good, SCHEMA) is True
    assert m.format_ok('{"answer": "27 days", "confidence": "sure", "source": "x"}', SCHEMA) is False
    assert m.format_ok('{"answer": "27 days", "confidence": "high", "source": "x", "extra": 1}', SCHEMA) is False
    assert m.format_ok("27 days", SCHEMA) is False
    assert m.format_ok("```json\n" + good + "\n```", SCHEMA) is True
    assert m.format_ok("[1, 2]", "json") is True
    assert m.format_ok("27 days", "regex:\\d+ days") is True
    assert m.format_ok("about 27 days", "regex:\\d+ days") is False
    assert m.format_ok("anything", "") is None


def test_hit_at_k_with_pages():
    ps = [{"doc_name": "a.pdf", "page": 2}, {"doc_name": "b.md", "page": None}]
    assert m.hit_at_k(ps, "a.pdf", 2) is True
    assert m.hit_at_k(ps, "a.pdf", 1) is False
    assert m.hit_at_k(ps, "b.md", None) is True
    assert m.hit_at_k(ps, "c.txt", None) is False
    assert m.hit_at_k(ps, None, None) is None


def test_score_answer_tags():
    item = Question("q1", "How many days?", "27 days", SCHEMA, "handbook.md")
    gold = [{"doc_name": "handbook.md", "page": None}]
    other = [{"doc_name": "pricing.md", "page": None}]
    right_json = '{"answer": "27 days", "confidence": "high", "source": "handbook.md"}'
    s = m.score_answer(item, "hybrid", right_json, gold)
    assert s.correct and s.exact and s.format_ok and s.hit and s.tags == ()
    s = m.score_answer(item, "rag", "It is 30 days.", gold)
    assert not s.correct and set(s.tags) == {m.TAG_NOT_USED, m.TAG_WRONG_FORMAT}
    s = m.score_answer(item, "rag", "30 days", other)
    assert set(s.tags) == {m.TAG_NOT_RETRIEVED, m.TAG_FROM_MEMORY, m.TAG_WRONG_FORMAT}
    s = m.score_answer(item, "base", "27 days", None)
    assert s.correct and s.hit is None and m.TAG_FROM_MEMORY in s.tags
    unans = Question("q2", "Revenue?", "unknown", "", None, None, True)
    assert m.score_answer(unans, "base", "I don't know", None).correct
    s = m.score_answer(unans, "base", "$5 million", None)
    assert not s.correct and s.tags == (m.TAG_SHOULD_ABSTAIN,)


def test_summarise_hand_computed():
    items = {"a": Question("a", "q", "27 days", "json"), "b": Question("b", "q", "2016", "json"),
             "u": Question("u", "q", "unknown", "json", unanswerable=True)}
    raws = {"a": '{"answer": "27 days"}', "b": "It was 2015.", "u": '{"answer": "unknown"}'}
    scores = [m.score_answer(items[k], "base", v, None) for k, v in raws.items()]
    results = [{"id": k, "setup": "base", "latency_s": lat, "prompt_tokens": 10, "completion_tokens": ct}
               for k, lat, ct in (("a", 1.0, 5), ("b", 2.0, 3), ("u", 6.0, 4))]
    s = m.summarise("base", items, scores, results)
    assert s.correct == pytest.approx(2 / 3) and s.fact_correct == pytest.approx(0.5)
    assert s.usable == pytest.approx(2 / 3)  # a: correct JSON, u: abstained in JSON; b: wrong
    assert s.format_ok == pytest.approx(2 / 3) and s.abstention == 1.0 and s.false_abstention == 0.0
    assert s.latency_s == pytest.approx(3.0) and s.latency_p50_s == 2.0 and s.completion_tokens == 4.0
    assert s.hit_at_k is None
