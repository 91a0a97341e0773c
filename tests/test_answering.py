"""Answering on fast doubles: the setups, prompt assembly per setup, adapter routing, error isolation, endpoint, turns."""
from __future__ import annotations

import json

import pytest

from tests.servers import fake_endpoint
from workbench.answering import (
    SETUPS, answer_question, build_messages, drain, passage_from_json, passage_to_json, prepare_turn, setups,
    stream_answer,
)
from workbench.answering.answer import is_stopped
from workbench.answering.recipes import Recipe, Shot
from workbench.models.endpoint import EndpointGenerator
from workbench.models.generator import GenerationConfig, PreparedPrompt
from workbench.models.openai_client import EndpointError
from workbench.models.registry import ModelError
from workbench.types import Chunk, GenerationStats, ScoredChunk

Q = "How long is the warranty?"


def hit(text, doc="warranty.pdf", page=2, rank=1, score=0.8):
    c = Chunk(f"c{rank}", "d1", doc, text, 0, len(text), rank - 1, page=page)
    return ScoredChunk(c, score, "cosine similarity", rank)


PASSAGES = (hit("The warranty lasts 24 months.", rank=1), hit("Returns within 30 days.", "returns.md", None, 2, 0.5))
RECIPE = Recipe("json", instructions="You answer support questions.", format="Reply with one line of JSON.",
                shots=(Shot("How old is the firm?", '{"answer": "ten years"}'),), version=3)


class RecordingGenerator:
    """Records what each call asked for and answers with fixed pieces (the real model is tested elsewhere)."""

    def __init__(self, fail_with: Exception | None = None):
        self.calls: list[dict] = []
        self.fail_with = fail_with

    def render(self, messages):
        return "\n".join(f"<{m['role']}> {m['content']}" for m in messages)

    def stream(self, messages, cfg, stats_out=None, adapter=None, prepared_out=None):
        self.calls.append({"messages": messages, "adapter": adapter})
        if prepared_out is not None:
            prepared_out.append(PreparedPrompt(messages, self.render(messages), 42))
        if self.fail_with:
            raise self.fail_with
        for piece in ("Two ", "years."):
            yield piece
        if stats_out is not None:
            stats_out.append(GenerationStats(0.5, 0.1, 42, 2))


def test_context_only_in_rag_and_hybrid():
    for setup in setups.keys():
        msgs = build_messages(setup, Q, PASSAGES, "Be brief.")
        user = msgs[-1]["content"]
        assert msgs[0] == {"role": "system", "content": "Be brief."}
        if setup in ("rag", "hybrid"):
            assert "[1] (warranty.pdf, page 2) The warranty lasts 24 months." in user
            assert "[2] (returns.md) Returns within 30 days." in user and user.endswith(f"Question: {Q}")
        else:
            assert user == Q
    assert build_messages("rag", Q, PASSAGES) == build_messages("hybrid", Q, PASSAGES)
    # An empty collection: the model is told nothing was found instead of silently answering as base.
    assert "no passages were found" in build_messages("rag", Q, ())[-1]["content"]
    with pytest.raises(ValueError):
        build_messages("zero-shot", Q)


def test_adapter_only_in_finetuned_and_hybrid_and_answers_carry_everything():
    gen = RecordingGenerator()
    answers = {s: answer_question(s, Q, generator=gen, passages=PASSAGES, adapter_path="/adapters/demo",
                                  cfg=GenerationConfig(max_new_tokens=8), system_prompt=None, recipe=RECIPE)
               for s in setups.keys()}
    assert [c["adapter"] for c in gen.calls] == [None, None, None, "/adapters/demo", "/adapters/demo"]
    for s, a in answers.items():
        assert a.setup == s and a.text == "Two years." and a.error is None
        assert a.stats.prompt_tokens == 42 and a.stats.completion_tokens == 2
        assert a.passages == (PASSAGES if s in ("rag", "hybrid") else ())
        assert ("Context:" in a.prompt) == (s in ("rag", "hybrid"))
    # RAG answers with the recipe, hybrid (by default) without it: same passages, different prompts.
    assert answers["rag"].prompt != answers["hybrid"].prompt


def test_recipe_reaches_exactly_the_setups_that_use_it():
    def prompt_of(setup, **kw):
        return build_messages(setup, Q, PASSAGES, "Be brief.", recipe=RECIPE, **kw)

    shot_turns = [{"role": "user", "content": "How old is the firm?"},
                  {"role": "assistant", "content": '{"answer": "ten years"}'}]
    system = {"role": "system", "content": "You answer support questions.\n\nReply with one line of JSON."}
    for setup in setups.keys():
        msgs = prompt_of(setup)
        if setups.uses_recipe(setup):
            assert msgs[0] == system and msgs[1:3] == shot_turns, setup
        else:
            assert msgs[0] == {"role": "system", "content": "Be brief."} and len(msgs) == 2, setup
    assert [k for k in setups.keys() if setups.uses_recipe(k)] == ["prompted", "rag"]
    # The run's choice: fine-tuned and hybrid with the recipe too.
    for setup in ("finetuned", "hybrid"):
        msgs = prompt_of(setup, recipe_with_adapter=True)
        assert msgs[0] == system and msgs[1:3] == shot_turns
    # Earlier turns of a conversation come after the shots, before the question.
    msgs = build_messages("prompted", Q, (), None, [{"role": "user", "content": "hi"},
                                                    {"role": "assistant", "content": "hello"}], recipe=RECIPE)
    assert [m["content"] for m in msgs[1:5]] == ["How old is the firm?", '{"answer": "ten years"}', "hi", "hello"]
    assert msgs[-1] == {"role": "user", "content": Q}


def test_prompted_without_a_recipe_is_an_error_in_its_column_and_rag_falls_back_to_the_system_prompt():
    gen = RecordingGenerator()
    assert "Pick a prompt recipe" in answer_question("prompted", Q, generator=gen).error
    rag = answer_question("rag", Q, generator=gen, passages=PASSAGES, system_prompt="Be brief.")
    assert rag.error is None and gen.calls[-1]["messages"][0] == {"role": "system", "content": "Be brief."}


def test_stream_yields_pieces_then_answer():
    s = stream_answer("base", Q, generator=RecordingGenerator())
    assert s.answer is None
    assert list(s) == ["Two ", "years."]
    assert s.answer.text == "Two years." and s.answer.stats.ttft_s == 0.1


def test_errors_stay_in_their_column():
    ok = answer_question("base", Q, generator=RecordingGenerator())
    broken = answer_question("rag", Q, generator=RecordingGenerator(EndpointError("endpoint unreachable")),
                             passages=PASSAGES)
    assert ok.error is None and broken.error == "endpoint unreachable" and broken.passages == PASSAGES
    assert answer_question("base", "   ", generator=RecordingGenerator()).error == "The question is empty."
    assert "Pick an adapter" in answer_question("finetuned", Q, generator=RecordingGenerator()).error
    refused = answer_question("finetuned", Q, generator=RecordingGenerator(ModelError("trained on Llama")),
                              adapter_path="/x")
    assert refused.error == "trained on Llama" and refused.text == ""


@pytest.fixture
def sse_server():
    with fake_endpoint(("Twenty", "-four ", "months."), prompt_tokens=57, completion_tokens=3) as srv:
        yield srv


def test_endpoint_streams_over_sse(sse_server, settings):
    from dataclasses import replace

    url = f"http://127.0.0.1:{sse_server.server_port}/v1"
    ep = EndpointGenerator.from_settings(replace(settings, endpoint_url=url, endpoint_api_key="sk-test"), model="big")
    s = stream_answer("rag", Q, generator=ep, passages=PASSAGES, cfg=GenerationConfig(max_new_tokens=16))
    assert list(s) == ["Twenty", "-four ", "months."]
    a = s.answer
    assert a.error is None and a.text == "Twenty-four months."
    assert a.stats.prompt_tokens == 57 and a.stats.completion_tokens == 3
    _, body, auth = sse_server.seen[0]
    assert auth == "Bearer sk-test" and body["max_tokens"] == 16 and body["stream"] is True
    assert "The warranty lasts 24 months." in body["messages"][-1]["content"]
    missing = answer_question("base", Q, generator=EndpointGenerator(url, "missing"))
    assert "HTTP 404" in missing.error and "model not found" in missing.error
    assert "cannot apply a local LoRA adapter" in answer_question(
        "finetuned", Q, generator=EndpointGenerator(url, "big"), adapter_path="/a").error


def test_unreachable_endpoint_fails_only_its_column(settings):
    dead = EndpointGenerator("http://127.0.0.1:9/v1", "big", timeout_s=2)
    answers = {"base": answer_question("base", Q, generator=dead),
               "finetuned": answer_question("finetuned", Q, generator=RecordingGenerator(), adapter_path="/a")}
    assert "unreachable" in answers["base"].error
    assert answers["finetuned"].text == "Two years."
    with pytest.raises(EndpointError, match="No endpoint configured"):
        EndpointGenerator.from_settings(settings)


def test_stopping_a_stream_closes_the_generation_and_keeps_the_partial_answer():
    closed = []

    class Slow(RecordingGenerator):
        def stream(self, messages, cfg, stats_out=None, adapter=None, prepared_out=None):
            try:
                yield from ("One ", "two ", "three")
            finally:
                closed.append(True)

    s = stream_answer("base", Q, generator=Slow())
    it = iter(s)
    assert next(it) == "One "
    it.close()
    assert closed == [True]
    # A stop is not an error: the text so far stays, marked stopped (workbench.answering.answer.STOPPED_NOTE).
    assert s.answer.text == "One" and s.answer.error is None and is_stopped(s.answer)


def test_setups_are_one_ordered_definition():
    assert setups.keys() == ("base", "prompted", "rag", "finetuned", "hybrid") == tuple(s.key for s in SETUPS)
    assert setups.retrieving() == ("rag", "hybrid") and setups.adapted() == ("finetuned", "hybrid")
    assert setups.label("base") == "Base model" and setups.short_label("base") == "Base"
    assert setups.label("hybrid") == "Hybrid (fine-tuned + RAG)" and setups.short_label("hybrid") == "Hybrid"
    assert setups.short_label("retired") == "retired"  # an old record still shows
    assert [s.key for s in SETUPS if s.recipe] == ["prompted", "rag"] and setups.needing_recipe() == ("prompted",)
    assert setups.ordered(["hybrid", "base", "oracle"]) == ("base", "hybrid")
    assert setups.without_retrieval("rag") == "prompted" and setups.without_retrieval("hybrid") == "finetuned"
    with pytest.raises(ValueError, match="Unknown setup"):
        setups.setup("oracle")


class _Broken:
    """A collection whose index cannot be read."""

    name = "broken"

    def count(self):
        raise OSError("index unreadable")


def test_a_turn_retrieves_once_and_answers_each_setup_in_order():
    from tests.fakes import FakeEmbedder, MemoryCollection
    from workbench.retrieval import RetrievalSettings

    col = MemoryCollection("kb", FakeEmbedder(), {"warranty.md": "The warranty lasts 24 months.\n\nReturns: 30 days."})
    local, remote = RecordingGenerator(), RecordingGenerator()
    asked = []
    turn = prepare_turn(Q, ["hybrid", "base", "rag"], local=lambda: local, endpoint=lambda: remote, collection=col,
                        retrieval=RetrievalSettings(mode="dense", k=2), adapter_path="/a",
                        history_for=lambda key: asked.append(key) or ())
    assert len(turn.passages) == 2 and turn.retrieval_error is None
    answers = {}
    for key, item in turn:
        assert key == item.setup
        answers[key] = drain(item)[0]
    assert list(answers) == ["hybrid", "base", "rag"] and asked == ["hybrid", "base", "rag"]
    assert answers["rag"].passages == answers["hybrid"].passages == turn.passages and answers["base"].passages == ()
    # The endpoint serves the setups without an adapter; the adapter runs on the local model.
    assert [c["adapter"] for c in local.calls] == ["/a"] and [c["adapter"] for c in remote.calls] == [None, None]


def test_a_turn_keeps_retrieval_and_generator_failures_in_their_setups():
    no_col = prepare_turn(Q, ["base", "rag"], local=RecordingGenerator)
    assert no_col.start("rag").error == "No collection chosen: RAG and hybrid need one."
    assert no_col.start("base").setup == "base"  # a stream: base does not need the collection
    broken = prepare_turn(Q, ["rag", "hybrid", "finetuned"], local=RecordingGenerator, collection=_Broken())
    assert broken.start("hybrid").error == "Retrieval failed: index unreadable"

    def unavailable():
        raise ModelError("no such model")

    item = prepare_turn(Q, ["base"], local=unavailable).start("base")
    assert item.error == "no such model" and item.text == ""
    assert prepare_turn(Q, ["base"], local=unavailable).passages == ()  # nothing retrieved without a retrieving setup


def test_drain_stops_within_a_token_and_records_crashes():
    seen = []

    def cancelled():
        seen.append(1)
        return len(seen) >= 1

    assert drain(stream_answer("base", Q, generator=RecordingGenerator()), cancelled) is None and len(seen) == 1
    a, seconds = drain(stream_answer("base", Q, generator=RecordingGenerator(RuntimeError("out of memory"))))
    assert a.error == "RuntimeError: out of memory" and a.text == "" and a.stats is None and seconds >= 0
    a, _ = drain(stream_answer("rag", Q, generator=RecordingGenerator(), passages=PASSAGES))
    assert a.text == "Two years." and a.passages == PASSAGES


def test_passage_records_round_trip():
    for p in PASSAGES:
        assert passage_from_json(json.loads(json.dumps(passage_to_json(p)))) == p
