"""The one question type: a question with its reference answer, source, span and expected format."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields

from workbench.types import RowError


class QuestionSetError(ValueError):
    """A question set (file, name or stored set) that cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class Question:
    """One question and what counts as its answer (reference text) and its gold passage (source, page, span)."""

    id: str
    question: str
    reference: str = ""  # expected answer text; "" when only the source is known, "unknown" when unanswerable
    # "" (none), "json" (must parse), "regex:<pattern>" (full match), or a JSON schema as text.
    expected_format: str = ""
    source_document: str | None = None  # file name of the document holding the answer
    source_page: int | None = None  # 1-based page, for paged documents
    unanswerable: bool = False  # the documents do not hold the answer: abstaining is correct
    span: tuple[int, int] | None = None  # character range of the gold passage in the source document
    synthetic: bool = False  # written by the local generator from the chunk at `span`

    def to_json(self) -> dict:
        d = asdict(self)
        d["span"] = list(self.span) if self.span is not None else None
        return d

    @classmethod
    def from_json(cls, d: dict) -> "Question":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        if kw.get("span") is not None:
            kw["span"] = (int(kw["span"][0]), int(kw["span"][1]))
        return cls(**kw)


@dataclass(frozen=True)
class QuestionSet:
    """Questions that passed validation, one error per rejected row, and notes (provenance, generator misses)."""

    name: str
    questions: tuple[Question, ...]
    errors: tuple[RowError, ...] = ()
    synthetic: bool = False
    notes: tuple[str, ...] = field(default=())


def to_jsonl(questions) -> str:
    """Questions (a QuestionSet or a sequence) as JSONL that parses back to the same questions."""
    qs = questions.questions if isinstance(questions, QuestionSet) else questions
    return "".join(json.dumps(q.to_json()) + "\n" for q in qs)
