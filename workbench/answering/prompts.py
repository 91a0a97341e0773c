"""Prompt assembly shared by the arena, the evaluation and the training data: one place, one format."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from workbench.types import source_label

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

# The RAG user message. The sample behaviour dataset is written in exactly this shape, so a
# LoRA adapter trained on it sees the same layout at inference time in the hybrid setup.
RAG_TEMPLATE = (
    "Answer the question using only the context below.\n\n"
    "Context:\n{context}\n\n"
    "Question: {question}"
)


@dataclass(frozen=True)
class Passage:
    """A piece of context handed to the model: its text and where it came from."""

    text: str
    source: str
    page: int | None = None
    page_end: int | None = None  # the last page it spans, when it runs onto the next


def format_context(passages: Sequence[Passage]) -> str:
    """Numbered passages, each with its source (and pages when known)."""
    lines = []
    for i, p in enumerate(passages, 1):
        where = source_label(p.source, p.page, p.page_end)
        lines.append(f"[{i}] ({where}) {p.text.strip()}")
    return "\n".join(lines)


def user_message(question: str, passages: Sequence[Passage] | None = None) -> str:
    """The user turn: the bare question, or the RAG template when passages are given."""
    if not passages:
        return question.strip()
    return RAG_TEMPLATE.format(context=format_context(passages), question=question.strip())


def chat_messages(
    question: str,
    passages: Sequence[Passage] | None = None,
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
    history: Sequence[dict] = (),
) -> list[dict]:
    """Chat messages (system, earlier turns, user) ready for a chat template."""
    msgs: list[dict] = []
    if system_prompt:
        msgs.append({"role": "system", "content": system_prompt})
    msgs.extend(history)
    msgs.append({"role": "user", "content": user_message(question, passages)})
    return msgs
