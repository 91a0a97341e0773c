"""The arena: one question, up to four setups, answers side by side.

Setups (`SETUPS`): "base" (the base model alone), "rag" (base + retrieved passages), "finetuned"
(base + a LoRA adapter), "hybrid" (the adapter + the same retrieved passages). Retrieval happens
once per question, outside these functions, so every setup that uses context sees the same passages.

One call answers one question for one setup (the evaluation uses exactly this):

    from workbench.arena import answer_question, stream_answer
    ans = answer_question("hybrid", "How long is the warranty?", generator=gen,
                          passages=retrieve(collection, q, rs), adapter_path=info.path,
                          cfg=GenerationConfig(max_new_tokens=64), system_prompt=None, history=())
    # -> workbench.types.Answer(setup, text, stats, passages, prompt, error, note)

`stream_answer(...)` takes the same arguments and returns an `AnswerStream`: iterate it for text
pieces (e.g. `st.write_stream(stream)`), then read `stream.answer`. Failures (an unreachable endpoint,
a refused adapter) never raise: they come back as `Answer.error`, so other columns still answer.
`passages` are ignored by base/finetuned and `adapter_path` by base/rag; `generator` is a
`LocalGenerator` or an `EndpointGenerator` (base and RAG only). `history` is this setup's earlier
turns as chat messages (bare questions and answers; see `Conversation.history`).
"""
from workbench.arena.answer import (
    SETUPS, USES_ADAPTER, USES_RETRIEVAL, AnswerStream, answer_question, build_messages, setup_label,
    stream_answer,
)
from workbench.arena.conversation import Conversation, Turn

__all__ = [
    "SETUPS", "USES_ADAPTER", "USES_RETRIEVAL", "AnswerStream", "Conversation", "Turn", "answer_question",
    "build_messages", "setup_label", "stream_answer",
]
