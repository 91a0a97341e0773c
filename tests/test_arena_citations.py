"""Arena citations and stops on fast doubles: which passages an answer cites, [n] links, a stopped answer's text."""
from __future__ import annotations

from tests.test_answering import PASSAGES, Q, RecordingGenerator, hit
from workbench.answering import stream_answer
from workbench.answering.answer import STOPPED_NOTE, is_stopped
from workbench.arena.citations import anchor, cited_ranks
from workbench.arena.suggestions import suggested_questions
from workbench.types import Answer

PRICING = (hit("Keelhouse Harbor costs $49 per month. The free trial lasts 21 days.", "keelhouse_pricing.md", None, 1),
           hit("Vacation: full-time employees get 27 days of paid vacation per year.", "employee_handbook.md", None, 2),
           hit("Returns are accepted within 21 days of delivery for a refund.", "warranty_and_returns.pdf", 2, 3))


def test_copied_fact_cites_its_passage_and_question_words_do_not():
    assert cited_ranks("The warranty lasts 24 months.", PASSAGES) == [1]
    assert cited_ranks("Full-time employees get 27 days.", PRICING) == [2]
    # "21 days" is in two passages; the longer copied run decides.
    assert cited_ranks("The free trial lasts 21 days.", PRICING) == [1]
    # The house JSON format's keys and values cite nothing; its answer value does.
    assert cited_ranks('{"source": "NONE", "answer": "unknown", "confidence": "low"}', PRICING) == []
    assert cited_ranks('{"source": "KEELHOUSE-PRICING", "answer": "21 days", "confidence": "high"}',
                       PRICING[:2]) == [1]
    # Two common words prove nothing; a guess with another number cites nothing.
    assert cited_ranks("I think the free plan is good.", PRICING) == []
    assert cited_ranks("The trial is 30 days long.", PRICING) == []
    assert cited_ranks("", PRICING) == []


def test_explicit_markers_win_and_unknown_ranks_are_ignored():
    assert cited_ranks("It is 21 days [3].", PRICING) == [3]
    assert cited_ranks("See [2] and [9].", PRICING) == [2]
    assert cited_ranks("See [9].", PRICING) == []  # no such passage: falls back to copying, which finds none
    assert anchor(4, 2) == "arena-t4-p2"


def test_cited_markdown_links_markers_and_keeps_the_answer_literal():
    from workbench.ui.arena import cited_markdown

    a = Answer("rag", "It is **21 days** [1] ![x](http://evil.example/b.png)", passages=PRICING)
    md = cited_markdown(a, 3)
    assert "[\\[1\\]](#arena-t3-p1)" in md and "\\*\\*21 days\\*\\*" in md and "\\!\\[x\\]" in md
    md = cited_markdown(Answer("rag", "Full-time employees get 27 days.", passages=PRICING), 0)
    assert md.endswith(" [\\[2\\]](#arena-t0-p2)")
    assert "](#" not in cited_markdown(Answer("rag", "No idea.", passages=PRICING), 0)


class ClosableGenerator(RecordingGenerator):
    """Streams three pieces and notes whether its reader closed it before the end."""

    closed = False

    def stream(self, messages, cfg, stats_out=None, adapter=None, prepared_out=None):
        try:
            yield from ("The trial ", "lasts ", "21 days.")
        except GeneratorExit:
            self.closed = True
            raise


def test_a_stopped_answer_keeps_its_text_and_frees_the_model():
    gen = ClosableGenerator()
    s = stream_answer("rag", Q, generator=gen, passages=PRICING)
    pieces = iter(s)
    assert next(pieces) + next(pieces) == "The trial lasts "
    pieces.close()
    assert gen.closed, "the model's stream was not closed: it would go on generating"
    assert s.answer.text == "The trial lasts" and s.answer.error is None and is_stopped(s.answer)
    assert s.answer.note == STOPPED_NOTE and s.answer.passages == PRICING


def test_suggested_questions_are_shipped_with_their_facts():
    qs = suggested_questions()
    assert len(qs) >= 2 and all(q.question.endswith("?") and q.reference and q.why for q in qs)


def test_suggested_questions_are_the_measured_ones():
    """Each suggestion is a sample evaluation question whose recorded measurement shows the difference."""
    import json

    from workbench.sample import DATA, arena_questions_path

    data = json.loads(arena_questions_path().read_text())
    evals = {r["id"]: r for r in map(json.loads, (DATA / "eval.jsonl").read_text().splitlines())}
    measured = {m["id"]: m["setups"] for m in data["measurement"]}
    for q in data["questions"]:
        assert evals[q["id"]]["question"] == q["question"] and evals[q["id"]]["reference"] == q["reference"]
        assert measured[q["id"]]["rag"]["fact"] and not measured[q["id"]]["base"]["fact"], q["id"]
    # Measured on the engine a user gets: when the default GGUF changes, the suggestions must be re-measured.
    from workbench.settings import Settings

    assert data["summary"]["engine"] == f"llama.cpp {Settings().gguf_serving}", data["summary"]
