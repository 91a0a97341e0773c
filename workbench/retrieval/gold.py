"""What counts as a gold chunk for a question: its span, its reference text, or its source document/page."""
from __future__ import annotations

import re
from collections.abc import Callable

from workbench.questions import Question
from workbench.types import Chunk


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: '$49 per-month' -> '49 per month'."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _overlaps(chunk: Chunk, span: tuple[int, int]) -> bool:
    shared = min(chunk.end, span[1]) - max(chunk.start, span[0])
    # Half of the shorter of the two: a chunk holding most of the span, or mostly inside it.
    return shared > 0 and shared >= 0.5 * min(chunk.end - chunk.start, span[1] - span[0])


def relevance_fn(q: Question, all_chunks: list[Chunk]) -> tuple[Callable[[Chunk], bool], int, str]:
    """A test for 'is this chunk gold for q', how many chunks of the collection pass it, and how it matched."""
    if q.unanswerable:
        return (lambda c: False), 0, "unanswerable: the documents hold no gold passage"

    def doc_ok(c: Chunk) -> bool:
        if q.source_document and c.doc_name != q.source_document:
            return False
        # A chunk running onto the next page holds text of both: it is gold for a question on either.
        return q.source_page is None or c.page is None or c.on_page(q.source_page)

    if q.span is not None:
        def by_span(c: Chunk) -> bool:
            return c.doc_name == q.source_document and _overlaps(c, q.span)
        return by_span, sum(by_span(c) for c in all_chunks), "span"
    if q.reference:
        ans = normalise(q.reference)

        def by_answer(c: Chunk) -> bool:
            return doc_ok(c) and ans in normalise(c.text)
        n = sum(by_answer(c) for c in all_chunks)
        if n:
            return by_answer, n, "answer text" + (" + source" if q.source_document else "")
    if q.source_document:
        # The answer is worded differently in the document (or absent): fall back to the source.
        return doc_ok, sum(doc_ok(c) for c in all_chunks), "source document" + (" + page" if q.source_page else "")
    return (lambda c: False), 0, "answer text not found in the collection"
