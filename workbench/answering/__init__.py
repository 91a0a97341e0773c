"""Answering: a question under one or several setups (base, RAG, fine-tuned, hybrid); the arena and the evaluation both use it.

`setups` is the one ordered definition of the setups (key, label, short_label, retrieves, adapter,
recipe); adding a setup is one entry there. `prompts` assembles the chat messages. One call answers
one question under one setup:

    from workbench.answering import answer_question, stream_answer
    ans = answer_question("hybrid", "How long is the warranty?", generator=gen,
                          passages=retrieve(collection, q, rs), adapter_path=info.path,
                          cfg=GenerationConfig(max_new_tokens=64), system_prompt=None, history=())
    # -> workbench.types.Answer(setup, text, stats, passages, prompt, error, note)

`stream_answer(...)` takes the same arguments and returns an `AnswerStream`: iterate it for text
pieces (e.g. `st.write_stream(stream)`), then read `stream.answer`; `drain(stream, cancelled)` reads
one to its end, stopping within a token on cancel. Failures (an unreachable endpoint, a refused
adapter) never raise: they come back as `Answer.error`, so other setups still answer. `passages` are
ignored by setups that do not retrieve and `adapter_path` by those without an adapter; `generator` is
a `LocalGenerator` or an `EndpointGenerator` (setups without an adapter only). `history` is this
setup's earlier turns as chat messages (see `workbench.arena.Conversation.history`).

A turn across several setups retrieves once, so every retrieving setup sees the same passages:

    turn = prepare_turn(q, ["base", "rag"], local=get_generator, collection=col, retrieval=rs)
    for key, item in turn:  # item: an AnswerStream to read, or the Answer that failed before generating
        ...
"""
from workbench.answering import setups
from workbench.answering.answer import AnswerStream, answer_question, build_messages, drain, stream_answer
from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT
from workbench.answering.records import answer_record, passage_from_json, passage_to_json
from workbench.answering.setups import SETUPS, Setup
from workbench.answering.turn import PreparedTurn, prepare_turn

__all__ = [
    "DEFAULT_SYSTEM_PROMPT", "SETUPS", "AnswerStream", "PreparedTurn", "Setup", "answer_question", "answer_record",
    "build_messages", "drain", "passage_from_json", "passage_to_json", "prepare_turn", "setups", "stream_answer",
]
