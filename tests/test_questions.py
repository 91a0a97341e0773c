"""Question sets: the one parser (rows checked with line numbers), named sets on disk, the synthetic cleaner."""
from __future__ import annotations

import json

import pytest

from workbench.evaluation.sample import SAMPLE_SCHEMA, load as load_sample
from workbench.questions import (
    FILE_TYPES, Question, QuestionSet, QuestionSetError, list_sets, load_set, parse_questions, save_set, synthesize,
    synthetic_question_set, to_jsonl,
)
from workbench.questions.synthetic import clean_answer, clean_question, parse_reply
from workbench.types import Chunk


def test_parse_jsonl_reports_bad_rows_and_keeps_good_ones():
    data = b"\n".join([
        b'{"id": "1", "question": "Q one?", "reference": "A"}',
        b'{"id": "2", "question": "", "reference": "A"}',
        b"not json",
        b'{"id": "1", "question": "dup?", "reference": "B"}',
        b'{"id": "4", "question": "Q four?", "reference": "", "unanswerable": true}',
        b'{"id": "5", "question": "Q5", "reference": "x", "expected_format": "regex:[("}',
        b'{"id": "6", "question": "Q6", "reference": "x", "source_page": "zero"}',
    ])
    rep = parse_questions(data, "set.jsonl")
    assert [i.id for i in rep.questions] == ["1", "4"]
    assert rep.questions[1].unanswerable and rep.questions[1].reference == "unknown"
    lines = {e.line: e.reason for e in rep.errors}
    assert set(lines) == {2, 3, 4, 6, 7}
    assert "question" in lines[2] and "JSON" in lines[3] and "duplicate" in lines[4]
    assert "regular expression" in lines[6] and "source_page" in lines[7]


def test_parse_csv_with_line_numbers():
    data = ("question,reference,unanswerable,source_document,source_page,expected_format\n"
            "How long?,27 days,no,handbook.md,,json\n"
            "Revenue?,,yes,,,\n"
            "Bad?,,maybe,,,\n").encode()
    rep = parse_questions(data, "set.csv")
    assert len(rep.questions) == 2 and rep.questions[0].source_document == "handbook.md"
    assert rep.questions[0].id == "row2" and rep.errors[0].line == 4


def test_parse_rejects_unusable_files():
    with pytest.raises(QuestionSetError, match=r"\.csv, \.tsv, \.jsonl, \.ndjson or \.json"):
        parse_questions(b"x", "set.txt")
    one_row = {".csv": b"question,answer\nq?,a\n", ".tsv": b"question\tanswer\nq?\ta\n",
               ".jsonl": b'{"question": "q?", "answer": "a"}\n', ".ndjson": b'{"question": "q?", "answer": "a"}\n',
               ".json": b'[{"question": "q?", "answer": "a"}]'}
    for ext in FILE_TYPES:  # every type the uploaders offer is read
        assert parse_questions(one_row[ext], "s" + ext).questions[0].reference == "a"
    with pytest.raises(QuestionSetError, match="header"):
        parse_questions(b"a,b\n1,2\n", "set.csv")
    with pytest.raises(QuestionSetError, match="MB"):
        parse_questions(b"x" * 2_000_000, "set.jsonl", max_mb=1)
    with pytest.raises(QuestionSetError, match="no rows"):
        parse_questions(b"\n\n", "set.jsonl")
    with pytest.raises(QuestionSetError, match="UTF-8"):
        parse_questions(b"\xff\xfe", "s.csv")


def test_question_set_parsing_accepts_the_retrieval_aliases():
    jsonl = b'{"question": "q1?", "answer": "a"}\nnot json\n{"answer": "x"}\n{"question": "q4", "source": "d.txt", ' \
            b'"page": "two"}\n{"question": "q5"}\n{"question": "u", "unanswerable": true}\n'
    qs = parse_questions(jsonl, "s.jsonl")
    # An unanswerable question is part of the set; retrieval evaluation skips it (it has no gold passage).
    assert [q.question for q in qs.questions] == ["q1?", "u"] and qs.questions[0].reference == "a"
    assert len(qs.errors) == 4 and "line 2" in str(qs.errors[0]) and "page" in qs.errors[2].reason
    csv = b"question,source_document,source_page\nWhat?,d.pdf,3\n,d.pdf,1\n"
    qs = parse_questions(csv, "s.csv")
    assert qs.questions[0] == Question("row2", "What?", source_document="d.pdf", source_page=3)
    assert qs.errors[0].line == 3
    tsv = b"Query\tDoc\tPage\tqid\nWhen?\tb.md\t2\tx1\n"
    assert parse_questions(tsv, "s.tsv").questions == (Question("x1", "When?", source_document="b.md", source_page=2),)


def test_json_list_and_spans():
    rows = [{"q": "Where?", "doc_name": "a.txt", "span": [10, 40]}, {"question": "Bad span?", "source": "a.txt",
                                                                     "span": [5]},
            {"question": "No doc?", "reference": "x", "span": "1,2"}]
    qs = parse_questions(json.dumps(rows).encode(), "s.json")
    assert qs.questions == (Question("row1", "Where?", source_document="a.txt", span=(10, 40)),)
    assert [e.line for e in qs.errors] == [2, 3] and "span" in qs.errors[0].reason


def test_one_file_parses_identically_for_retrieval_and_for_the_evaluation(settings, tmp_path):
    """The Retrieval evaluation page and the Run evaluation page read a file with the same parser."""
    from tests.fakes import FakeEmbedder, MemoryCollection
    from workbench.retrieval import RetrievalSettings
    from workbench.retrieval.corpus import forget
    from workbench.retrieval.evaluate import evaluate

    data = ("id,question,reference,source_document,unanswerable,expected_format\n"
            "a,largest planet jupiter,jupiter is the largest planet,space.txt,,json\n"
            "b,where is the moon,,space.txt,,\n"
            "c,what is the revenue,,,true,\n").encode()
    for_retrieval = parse_questions(data, "mixed.csv", settings.max_dataset_mb)
    for_evaluation = parse_questions(data, "mixed.csv", settings.max_dataset_mb)
    assert for_retrieval == for_evaluation and not for_retrieval.errors and len(for_retrieval.questions) == 3
    # Retrieval scores the questions with a gold passage, and says why the unanswerable one is left out.
    forget("t")
    coll = MemoryCollection("t", FakeEmbedder(dim=256), {"space.txt": "the moon orbits the earth\n\n"
                                                                       "jupiter is the largest planet"})
    ev = evaluate(coll, for_retrieval.questions, ["bm25"], RetrievalSettings(k=2))
    assert {r.qid for r in ev.rows} == {"a", "b"} and "unanswerable" in ev.skipped[0]
    # The evaluation scores answers against references: the rows with one (or "unknown") are stored and run.
    usable = [q for q in for_evaluation.questions if q.reference]
    save_set(settings, "mixed", usable)
    assert [q.id for q in load_set(settings, "mixed")] == ["a", "c"]
    # A set written back as JSONL (as the synthetic download is) parses to the same questions.
    again = parse_questions(to_jsonl(for_retrieval).encode(), "again.jsonl")
    assert again.questions == for_retrieval.questions


def test_sets_round_trip_and_sample_loader(settings):
    save_set(settings, "mine", [Question("a", "Q?", "A")])
    assert load_set(settings, "mine") == [Question("a", "Q?", "A")]
    with pytest.raises(QuestionSetError):
        save_set(settings, "../evil", [Question("a", "Q?", "A")])
    spanned = Question("s", "Where?", source_document="d.txt", span=(3, 9), synthetic=True)
    save_set(settings, "spans", [spanned])
    assert load_set(settings, "spans") == [spanned]
    msg = load_sample(settings, None)
    assert "53 questions" in msg and list_sets(settings) == ["mine", "sample", "spans"]
    items = load_set(settings, "sample")
    assert sum(i.unanswerable for i in items) == 8
    assert all(json.loads(i.expected_format) == SAMPLE_SCHEMA for i in items)


def test_synthetic_question_cleaning():
    assert clean_question("How long is the warranty? It is two years.") == "How long is the warranty?"
    assert clean_question("Question: When was 4.3.0 released") == "When was 4.3.0 released?"
    assert clean_question("The TideLog T3 Datasheet - page 1?") is None  # not a question
    assert clean_question("What is the answer to this question?") is None
    assert clean_question("Why?") is None
    wrapped = 'What if the answer to this question is: "How does the plan work?"'
    assert clean_question(wrapped) == "How does the plan work?"
    assert clean_question("1. What is the minimum response time? 2. What") == "What is the minimum response time?"


def test_answer_cleaning():
    assert clean_answer("At 7:00.\nIt also opens on Sundays.") == "At 7:00."
    assert clean_answer("\n\nAnswer: 14 km\nQuestion: another") == "14 km"
    assert clean_answer("A: ") is None and clean_answer("  ") is None


def test_parse_reply_accepts_the_asked_for_form_and_rejects_the_rest():
    assert parse_reply("Question: When does the bakery open?\nAnswer: At 7:00.") == \
        ("When does the bakery open?", "At 7:00.")
    assert parse_reply("Q: How long is the trail?\n\nA: 14 km\nQuestion: another") == ("How long is the trail?", "14 km")
    assert parse_reply("The passage is about a bakery.") is None
    assert parse_reply("Question: Why?\nAnswer: ") is None  # question too short
    # Small models often stop after "Answer:": the question alone, the answer is asked for separately.
    assert parse_reply("Question: What is the best seller?\n\nAnswer:") == ("What is the best seller?", None)
    assert parse_reply("When does it open?") == ("When does it open?", None)
    assert parse_reply("The bakery is nice.") is None


class ScriptedGenerator:
    """Replies from a list, in order; records the prompts it was given."""

    name = "scripted"

    def __init__(self, replies):
        self.replies, self.prompts = list(replies), []

    def generate(self, messages, cfg):
        from types import SimpleNamespace

        self.prompts.append(messages[-1]["content"])
        return SimpleNamespace(text=self.replies.pop(0))


def _chunks():
    text = "Hollow Oak Bakery opens at 7:00 from Tuesday to Sunday. Its best seller is the cardamom knot."
    return [Chunk("c0", "d", "bakery.md", text, 100, 100 + len(text), 0, page=2),
            Chunk("short", "d", "bakery.md", "# Bakery", 0, 8, 1)]


def test_synthesize_questions_and_qa_pairs_use_one_prompt():
    gen = ScriptedGenerator(["Question: When does the bakery open?\nAnswer: At 7:00."])
    qs = synthetic_question_set(_chunks(), gen, n=5)
    (q,) = qs.questions
    assert qs.synthetic and "synthetic" in qs.name and not qs.notes
    assert (q.question, q.reference, q.source_document, q.source_page, q.span, q.synthetic) == \
        ("When does the bakery open?", "", "bakery.md", 2, (100, 100 + len(_chunks()[0].text)), True)
    res = synthesize(_chunks(), ScriptedGenerator(["Question: When does the bakery open?\nAnswer: At 7:00."]),
                     n=5, answers=True)
    assert res.questions[0].reference == "At 7:00." and res.n_chunks == res.n_asked == 1
    gen2 = ScriptedGenerator(["Question: When does the bakery open?\nAnswer:", "Answer: At 7:00."])
    res = synthesize(_chunks(), gen2, n=5, answers=True)
    assert res.questions[0].reference == "At 7:00."
    assert gen2.prompts[0] == gen.prompts[0]  # the same question prompt for both uses
    assert "When does the bakery open?" in gen2.prompts[1] and "cardamom" in gen2.prompts[1]  # answered from the chunk
    bad = synthesize(_chunks(), ScriptedGenerator(["The bakery is nice."]), n=5, answers=True)
    assert not bad.questions and "no usable question" in bad.failures[0]
    assert synthetic_question_set(_chunks()[1:], ScriptedGenerator([])).notes
    assert isinstance(synthetic_question_set([], ScriptedGenerator([])), QuestionSet)
