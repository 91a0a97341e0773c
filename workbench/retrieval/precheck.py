"""Checks before a long retrieval action starts: do the questions belong to this collection, and what will it cost."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.models.embedder import texts_per_second
from workbench.questions import Question
from workbench.retrieval.gold import normalise

SAMPLE_TEXTS = 16  # texts embedded to measure this machine's embedding speed


@dataclass(frozen=True)
class Coverage:
    """How many answerable questions point at something in the collection, and what the others name."""

    answerable: int
    found: int
    missing_sources: tuple[str, ...]  # source documents named by questions that the collection lacks

    @property
    def problem(self) -> str | None:
        """A refusal for the user when no question can be scored here; None when some can."""
        if self.answerable == 0:
            return "Every question in this set is marked unanswerable: there is nothing to score."
        if self.found:
            return None
        names = ", ".join(f"'{n}'" for n in self.missing_sources[:5])
        more = f" and {len(self.missing_sources) - 5} more" if len(self.missing_sources) > 5 else ""
        where = (f" They name source documents ({names}{more}) that this collection does not hold."
                 if self.missing_sources else " No reference answer appears in its documents.")
        return (f"None of the {self.answerable} questions has a gold passage in this collection.{where} "
                "Pick the collection the questions were written for (the sample questions go with the sample "
                "knowledge base).")

    @property
    def warning(self) -> str | None:
        """A caution when only part of the set can be scored here."""
        if self.problem or self.found == self.answerable:
            return None
        return (f"Only {self.found} of {self.answerable} answerable questions have a gold passage in this "
                "collection; the others will be reported as not scorable.")


def coverage(col, questions: list[Question]) -> Coverage:
    """Which answerable questions have their source document, or their reference answer, in `col`."""
    docs = col.documents()
    names = {d.name for d in docs}
    texts: dict[str, str] | None = None  # loaded only when some question needs the answer text
    answerable = found = 0
    missing: dict[str, None] = {}
    for q in questions:
        if q.unanswerable:
            continue
        answerable += 1
        if q.source_document:
            if q.source_document in names:
                found += 1
            else:
                missing[q.source_document] = None
            continue
        if q.reference:
            if texts is None:
                texts = {d.name: normalise(col.get_document(d.doc_id).text) for d in docs}
            if normalise(q.reference) and any(normalise(q.reference) in t for t in texts.values()):
                found += 1
    return Coverage(answerable, found, tuple(missing))


@dataclass(frozen=True)
class Estimate:
    """What a sweep will embed and about how long that takes on this machine."""

    texts: int
    texts_per_s: float

    @property
    def seconds(self) -> float:
        return self.texts / self.texts_per_s if self.texts_per_s else 0.0

    def describe(self) -> str:
        s = self.seconds
        took = f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"
        return (f"About {self.texts:,} chunk texts to embed, roughly {took} at this machine's measured "
                f"{self.texts_per_s:.0f} texts/s (texts the collection already holds are reused, so it may be less).")


def sweep_estimate(col, configs: list, total_chars: int | None = None, speed: float | None = None) -> Estimate:
    """Chunks each chunking of the grid would make (from the documents' length), and a measured embedding speed."""
    if total_chars is None:
        total_chars = sum(d.n_chars for d in col.documents())
    texts = 0
    for cfg in configs:
        step = max(1, cfg.chunk_size - cfg.chunk_overlap)
        if cfg.unit == "tokens":
            step *= 4  # about four characters per token in English text
        texts += max(1, total_chars // step)
    return Estimate(texts, speed if speed is not None else embedding_speed(col))


def embedding_speed(col) -> float:
    """Texts per second for chunk-sized texts with the collection's embedder, measured on a few of its chunks."""
    docs = col.documents()
    sample = [c.text for c in col.chunks(docs[0].doc_id)[:SAMPLE_TEXTS]] if docs else []
    sample = sample or ["a short text to time the embedder"] * 4
    return texts_per_second(col.embedder, sample)
