"""Arena core on fast doubles: per-setup history, Markdown and JSON export, blind shuffle and votes."""
from __future__ import annotations

import json

import pytest

from tests.test_answering import PASSAGES, Q, RecordingGenerator
from workbench.answering import answer_question, setups
from workbench.arena import Conversation, Turn
from workbench.arena.blind import VoteBook, blind_label, shuffled
from workbench.arena.conversation import to_json, to_markdown


def test_history_is_per_setup_and_export_contains_everything(settings):
    gen = RecordingGenerator()
    conv = Conversation(settings={"collection": "kb"})
    t1 = {s: answer_question(s, Q, generator=gen, passages=PASSAGES, adapter_path="/a") for s in ("base", "rag")}
    conv = conv.add(Turn(Q, t1))
    assert conv.history("rag") == [{"role": "user", "content": Q}, {"role": "assistant", "content": "Two years."}]
    assert conv.history("hybrid") == []
    answer_question("rag", "And returns?", generator=gen, passages=PASSAGES, history=conv.history("rag"))
    sent = gen.calls[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"] and sent[1]["content"] == Q
    data = json.loads(to_json(conv))
    rag = data["turns"][0]["answers"]["rag"]
    assert rag["passages"][0]["doc_name"] == "warranty.pdf" and rag["passages"][0]["page"] == 2
    assert rag["stats"]["tokens_per_s"] == pytest.approx(2 / 0.4)
    md = to_markdown(conv)
    assert f"## Turn 1: {Q}" in md and "### RAG" in md and "1. warranty.pdf, page 2" in md and "prompt 42 tok" in md


def test_blind_shuffle_and_votes_persist(settings):
    order = shuffled(list(setups.keys()), seed=3)
    assert sorted(order) == sorted(setups.keys()) and order != list(setups.keys())
    assert blind_label(0) == "Answer A" and blind_label(3) == "Answer D"
    book = VoteBook(settings)
    book.record("hybrid", order, Q)
    book.record("rag", ["rag", "base"], Q)
    with pytest.raises(ValueError):
        book.record("finetuned", ["rag", "base"])
    tally = VoteBook(settings).tally()  # a fresh instance reads the file: persisted
    assert tally.wins == {"hybrid": 1, "rag": 1}
    assert tally.rounds == {"base": 2, "prompted": 1, "rag": 2, "finetuned": 1, "hybrid": 1}
