"""Freshness check: change a fact in a document, re-index, re-run the affected questions.

RAG and hybrid read the new fact from the index; the fine-tuned-only setup answers from its weights
and keeps the old one. The before/after table puts that side by side.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from workbench.evaluation.metrics import answer_text, normalise
from workbench.evaluation.runs import RunRecord, RunSpec
from workbench.settings import Settings

TEXT_KINDS = (".md", ".txt", ".html", ".htm")


class FreshnessError(ValueError):
    """A fact change that cannot be applied; the message is meant for the user."""


@dataclass(frozen=True)
class FactChange:
    """One fact edited in one document, and the questions whose answer depends on it."""

    document: str  # path of the source file, relative to the sample data folder (or absolute)
    old: str  # text replaced in the document
    new: str
    question_ids: tuple[str, ...]
    old_reference: str
    new_reference: str

    @property
    def doc_name(self) -> str:
        return Path(self.document).name

    def to_json(self) -> dict:
        return {**asdict(self), "question_ids": list(self.question_ids)}

    @classmethod
    def from_json(cls, d: dict) -> "FactChange":
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**{**d, "question_ids": tuple(d["question_ids"])})


def sample_change() -> FactChange:
    """The sample workspace's scenario (workbench/sample/data/freshness.json)."""
    from workbench.sample import freshness_path

    return FactChange.from_json(json.loads(freshness_path().read_text()))


def _source_path(change: FactChange) -> Path:
    from workbench.sample import DATA

    p = Path(change.document)
    return p if p.is_absolute() else DATA / p


def changed_bytes(change: FactChange, revert: bool = False) -> bytes:
    """The document's bytes with the fact changed (or the original bytes when reverting)."""
    path = _source_path(change)
    if path.suffix.lower() not in TEXT_KINDS:
        raise FreshnessError(f"{path.name}: only text documents (.md, .txt, .html) can be edited here")
    original = path.read_text(encoding="utf-8")
    if change.old not in original:
        raise FreshnessError(f"{path.name} does not contain {change.old!r}")
    return (original if revert else original.replace(change.old, change.new)).encode("utf-8")


def applied(settings: Settings, collection: str, change: FactChange, kb=None) -> bool:
    """True when the indexed document states the new fact (read from the collection, not remembered)."""
    from workbench.knowledge import KnowledgeBase

    col = (kb or KnowledgeBase(settings)).get(collection)
    for d in col.documents():
        if d.name == change.doc_name:
            return change.new in col.get_document(d.doc_id).text
    return False


def apply_change(settings: Settings, collection_name: str, change: FactChange, revert: bool = False,
                 kb=None) -> str:
    """Replace the document in the collection by its changed (or original) version and re-index it."""
    from workbench.knowledge import KnowledgeBase

    data = changed_bytes(change, revert)
    col = (kb or KnowledgeBase(settings)).get(collection_name)
    old_docs = [d for d in col.documents() if d.name == change.doc_name]
    if not old_docs:
        raise FreshnessError(f"collection {collection_name!r} has no document named {change.doc_name!r}")
    # Ingest replaces a document of the same name (new content hash) and its chunks; the old
    # version stays searchable until the new one is indexed.
    rep = col.ingest([(change.doc_name, data)])
    if getattr(rep, "failed", None):
        raise FreshnessError(f"re-indexing {change.doc_name} failed: {rep.failed}")
    fact = change.old if revert else change.new
    return f"{change.doc_name} re-indexed in {collection_name!r}; it now says {fact!r}"


def after_spec(before: RunSpec, change: FactChange, before_run: str) -> RunSpec:
    """The re-run: the before run's settings, only the affected questions, with the new reference."""
    return replace(before, question_ids=change.question_ids, label=f"freshness check after {before_run}",
                   reference_overrides={q: change.new_reference for q in change.question_ids},
                   parent_run=before_run, freshness=change.to_json())


def _digits(text: str) -> set[str]:
    return {w.strip("$%") for w in normalise(text).split()}


def says(text: str, change: FactChange) -> str:
    """Which version of the fact an answer states: "new", "old", "both" or "neither"."""
    t = _digits(answer_text(text))
    # Compare on the words that differ between old and new ("49" vs "59"), so "$59" and "59 dollars" match.
    old_key, new_key = _digits(change.old) - _digits(change.new), _digits(change.new) - _digits(change.old)
    has_old, has_new = bool(old_key) and old_key <= t, bool(new_key) and new_key <= t
    return "both" if has_old and has_new else "new" if has_new else "old" if has_old else "neither"


def before_after(before: RunRecord, after: RunRecord, change: FactChange) -> list[dict]:
    """One row per affected question and setup: what it said before and after the change."""
    def answer(rec: RunRecord, qid: str, setup: str) -> str | None:
        r = next((r for r in rec.results if r["id"] == qid and r["setup"] == setup), None)
        return None if r is None else r["text"]

    rows = []
    for qid in change.question_ids:
        for setup in after.spec.setups:
            b, a = answer(before, qid, setup), answer(after, qid, setup)
            if a is None:
                continue
            rows.append({"question": qid, "setup": setup, "before": b or "", "after": a,
                         "before says": says(b, change) if b is not None else "not run",
                         "after says": says(a, change),
                         "follows the new fact": says(a, change) == "new"})
    return rows
