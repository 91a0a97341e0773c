"""Freshness check: change a fact in a document, re-index, re-run the affected questions.

RAG and hybrid read the new fact from the index; the fine-tuned-only setup answers from its weights
and keeps the old one. The before/after table puts that side by side.

The re-run (`submit_after`, job handler `run_job`) generates only what the change can alter: a setup that
does not read the index sees the same prompt as in the before run, so with greedy decoding its answer is
carried over from that run (marked in its note) instead of being generated again.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from workbench.answering import setups
from workbench.evaluation import runs
from workbench.evaluation.metrics import answer_text, normalise
from workbench.evaluation.runs import RunRecord, RunSpec
from workbench.settings import Settings

TEXT_KINDS = (".md", ".txt", ".html", ".htm")
HANDLER = "workbench.evaluation.freshness:run_job"
CARRIED = "carried over from run {run}: this setup does not read the index, so its greedy answer cannot change"


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


def carried_over(before: RunRecord, spec: RunSpec) -> list[dict]:
    """The before run's answers the re-run can keep: setups that do not read the index, greedy decoding only."""
    if float(before.spec.temperature) != 0.0 or float(spec.temperature) != 0.0:
        return []  # sampled answers differ run to run: every setup answers again
    keep = {s for s in spec.setups if not setups.setup(s).retrieves}
    return [{**r, "note": CARRIED.format(run=before.run_id)} for r in before.results
            if r["setup"] in keep and r["id"] in spec.question_ids and not r.get("error")]


def submit_after(settings: Settings, before_run: str, change: FactChange) -> str:
    """Queue the freshness re-run of `before_run` (a job running `run_job`); returns its run id."""
    rec = runs.load_run(settings, before_run)
    return runs.submit_run(settings, after_spec(rec.spec, change, before_run), list(rec.items), handler=HANDLER)


class _Timed:
    """A RunContext that passes everything on and notes when each phase of the run began (seconds since t0)."""

    def __init__(self, ctx, t0: float):
        self.ctx, self.t0, self.marks = ctx, t0, {}

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, round(time.time() - self.t0, 2))

    def log(self, msg: str) -> None:
        if msg.startswith("retrieving"):
            self.mark("retrieval")
        self.ctx.log(msg)

    def progress(self, step: int, total: int, message: str = "") -> None:
        if message.startswith(runs.ANSWERED):
            self.mark("first answer")
        elif message.startswith("retrieving"):
            self.mark("retrieved")
        self.ctx.progress(step, total, message)

    def cancelled(self) -> bool:
        return self.ctx.cancelled()


def run_job(ctx) -> dict:
    """Job handler of a freshness re-run: carry over what cannot change, then run the rest (runs.execute).

    The result holds `phases`: seconds from the job's submission to the handler's start (worker spawned,
    imports done), the generator loaded, retrieval's start and end, the first answer and the end; and
    `cpu_s`, the worker's CPU seconds (all threads): about the wall time on an idle machine."""
    from workbench import resources
    from workbench.jobs.store import read_status

    settings, run_id = ctx.settings, ctx.spec["run_id"]
    submitted = read_status(ctx.dir).submitted_ns / 1e9
    phases = {"handler": round(time.time() - submitted, 2)}
    rec = runs.load_run(settings, run_id)
    have = {(r["id"], r["setup"]) for r in rec.results}
    carried = [r for r in carried_over(runs.load_run(settings, rec.spec.parent_run), rec.spec)
               if (r["id"], r["setup"]) not in have]
    for r in carried:  # written before execute reads the run: it skips every answer already there
        runs.append_jsonl(runs.run_dir(settings, run_id) / "results.jsonl", r)
    if carried:
        ctx.log(f"{len(carried)} answers carried over from run {rec.spec.parent_run} (setups that do not read the index)")
    generator = None
    if len(have) + len(carried) < len(rec.items) * len(rec.spec.setups):
        ctx.log(f"loading the generator {rec.spec.base_model or settings.generator_model}")
        generator = resources.generator(settings, rec.spec.base_model)
        phases["generator loaded"] = round(time.time() - submitted, 2)
    timed = _Timed(ctx, submitted)
    summary = runs.execute(settings, run_id, timed, generator=generator)
    phases.update(timed.marks, end=round(time.time() - submitted, 2))
    cpu = round(sum(os.times()[:2]), 2)
    ctx.log(f"phases (s since submission): {phases}; {cpu} CPU s")
    return {**summary, "carried_over": len(carried), "phases": phases, "cpu_s": cpu}


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
            note = next((r.get("note") or "" for r in after.results if r["id"] == qid and r["setup"] == setup), "")
            rows.append({"question": qid, "setup": setup, "before": b or "", "after": a,
                         "before says": says(b, change) if b is not None else "not run",
                         "after says": says(a, change),
                         "follows the new fact": says(a, change) == "new",
                         "after answered": "carried over" if note.startswith("carried over") else "generated"})
    return rows
