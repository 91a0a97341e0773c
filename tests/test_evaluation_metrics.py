"""Metric functions against hand-computed values (question-set parsing: test_questions.py)."""
from __future__ import annotations

import json

import pytest

from workbench.evaluation import metrics as m
from workbench.evaluation.sample import SAMPLE_SCHEMA
from workbench.evaluation.stats import Rate
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
    # The sample's house format: a declined answer cites nothing and is "low".
    assert m.format_ok('{"source": "NONE", "answer": "unknown", "confidence": "low"}', SCHEMA) is True
    assert m.format_ok('{"source": "EMPLOYEE-HANDBOOK", "answer": "unknown", "confidence": "low"}', SCHEMA) is False
    assert m.format_ok('{"source": "NONE", "answer": "unknown", "confidence": "medium"}', SCHEMA) is False
    assert m.format_ok('{"source": "NONE", "answer": "", "confidence": "medium"}', SCHEMA) is False
    assert m.format_ok("27 days", SCHEMA) is False
    assert m.format_ok("```json\n" + good + "\n```", SCHEMA) is True
    assert m.format_ok("[1, 2]", "json") is True
    assert m.format_ok("27 days", "regex:\\d+ days") is True
    assert m.format_ok("about 27 days", "regex:\\d+ days") is False
    assert m.format_ok("anything", "") is None


def _p(doc, page, text, start=0):
    return {"chunk_id": f"{doc}{page}{start}", "doc_name": doc, "page": page, "text": text, "start": start,
            "end": start + len(text), "score": 1.0, "metric": "cosine", "rank": 1}


def test_source_document_and_gold_passage_retrieved_are_two_metrics():
    ps = [_p("a.pdf", 2, "Shipping takes 4 days."), _p("b.md", None, "Prices start at $9.")]
    # Source document retrieved: some passage of the source document, whatever its page.
    assert m.source_document_retrieved(ps, "a.pdf") is True
    assert m.source_document_retrieved(ps, "c.txt") is False
    assert m.source_document_retrieved(ps, None) is None
    # Gold passage retrieved: only where the question gives a page or a span (retrieval.gold's notion).
    on_page = Question("q", "How long?", "4 days", source_document="a.pdf", source_page=2)
    assert m.gold_passage_retrieved(ps, on_page) is True
    assert m.gold_passage_retrieved(ps, Question("q", "How long?", "4 days", source_document="a.pdf",
                                                 source_page=1)) is False  # right document, wrong page
    assert m.gold_passage_retrieved(ps, Question("q", "How long?", "4 days", source_document="a.pdf")) is None
    by_span = Question("q", "Price?", "$9", source_document="b.md", span=(0, 19))
    assert m.gold_passage_retrieved(ps, by_span) is True
    assert m.gold_passage_retrieved([_p("b.md", None, "Other text entirely here.", start=500)], by_span) is False


def test_score_answer_tags():
    item = Question("q1", "How many days?", "27 days", SCHEMA, "handbook.md")
    gold = [{"doc_name": "handbook.md", "page": None}]
    other = [{"doc_name": "pricing.md", "page": None}]
    right_json = '{"answer": "27 days", "confidence": "high", "source": "handbook.md"}'
    s = m.score_answer(item, "hybrid", right_json, gold)
    assert s.correct and s.exact and s.format_ok and s.source_retrieved and s.gold_retrieved is None and s.tags == ()
    s = m.score_answer(item, "rag", "It is 30 days.", gold)
    assert not s.correct and set(s.tags) == {m.TAG_NOT_USED, m.TAG_WRONG_FORMAT}
    s = m.score_answer(item, "rag", "30 days", other)
    assert set(s.tags) == {m.TAG_SOURCE_NOT_RETRIEVED, m.TAG_FROM_MEMORY, m.TAG_WRONG_FORMAT}
    paged = Question("q3", "How many days?", "27 days", SCHEMA, "handbook.md", 3)
    s = m.score_answer(paged, "rag", right_json, [_p("handbook.md", 1, "Holidays: 27 days a year.")])
    assert s.source_retrieved and s.gold_retrieved is False and m.TAG_GOLD_NOT_RETRIEVED in s.tags
    s = m.score_answer(item, "base", "27 days", None)
    assert s.correct and s.source_retrieved is None and m.TAG_FROM_MEMORY in s.tags
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
    assert s.correct == Rate(2, 3) and s.fact_correct == Rate(1, 2)
    assert s.usable == Rate(2, 3)  # a: correct JSON, u: abstained in JSON; b: wrong
    assert s.format_ok == Rate(2, 3) and s.abstention == Rate(1, 1) and s.false_abstention == Rate(0, 2)
    assert s.latency_s == pytest.approx(3.0) and s.latency_p50_s == 2.0 and s.completion_tokens == 4.0
    assert s.source_retrieved is None and s.gold_retrieved is None and s.errors == 0 and (s.n, s.expected) == (3, 3)
    assert s.to_json()["usable"]["text"] == "2/3 (67%)" and s.to_json()["usable"]["k"] == 2


def test_an_errored_answer_is_wrong_and_stays_in_every_denominator():
    items = {"a": Question("a", "q", "27 days", "json"), "b": Question("b", "q", "2016", "json"),
             "u": Question("u", "q", "unknown", "json", unanswerable=True)}
    scores = [m.score_answer(items["a"], "base", '{"answer": "27 days"}', None),
              m.score_error(items["b"], "base", "RuntimeError: out of memory", None),
              m.score_error(items["u"], "base", "timeout", None)]
    assert not scores[1].correct and scores[1].format_ok is False and scores[1].tags == (m.TAG_ERROR,)
    results = [{"id": "a", "setup": "base", "latency_s": 1.0}, {"id": "b", "setup": "base", "error": "x"},
               {"id": "u", "setup": "base", "error": "timeout"}]
    s = m.summarise("base", items, scores, results)
    assert s.n == 3 and s.errors == 2 and s.error_rate.text == "2/3 (67%)"
    assert s.correct == Rate(1, 3) and s.usable == Rate(1, 3) and s.fact_correct == Rate(1, 2)
    assert s.format_ok == Rate(1, 3) and s.abstention == Rate(0, 1) and s.latency_s == 1.0
