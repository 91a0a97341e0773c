"""A stored run scored: per-answer scores and tags, per-setup summaries, the per-question table, errors.

Format checks run user patterns, so they are done once, in the run's worker process (`format_fields`, stored
on each answer); the report only reads them. An answer stored without them (a run from before) is checked
here under one time budget for the whole run, so no page waits on a slow pattern for longer than that.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from workbench.answering import setups
from workbench.evaluation.metrics import (
    TAG_WRONG_FORMAT, AnswerScore, SetupSummary, format_ok, score_answer, score_error, summarise,
)
from workbench.evaluation.runs import RunRecord
from workbench.questions import Question, formats

# Seconds the report may spend on the format checks of one run that were not stored with its answers.
UNSTORED_BUDGET_S = 1.0


@dataclass(frozen=True)
class RunScores:
    """Everything the report shows about a run, computed from its records (never stored)."""

    record: RunRecord
    scores: dict  # (id, setup) -> AnswerScore; an errored answer is scored (as wrong), never left out
    summaries: dict  # setup -> SetupSummary, in SETUPS order
    retrieval_s: float | None  # mean seconds per retrieval
    format_timeouts: tuple = ()  # (id, setup) of answers whose format check ran past its time budget

    @property
    def setups(self) -> tuple[str, ...]:
        return tuple(self.summaries)

    @property
    def answers(self) -> int:
        return len(self.scores)

    @property
    def expected(self) -> int:
        """Answers the run asks for: every question under every setup of its spec."""
        return len(self.record.items) * len(self.record.spec.setups)

    @property
    def complete(self) -> bool:
        """Every answer is in; otherwise any verdict on this run is provisional."""
        return self.answers >= self.expected

    def answer(self, qid: str, setup: str) -> dict | None:
        return next((r for r in self.record.results if r["id"] == qid and r["setup"] == setup), None)

    def format_timeout_text(self) -> str | None:
        """What the report says when format checks ran past their time budget; None when none did."""
        if not self.format_timeouts:
            return None
        return (f"The format check of {len(self.format_timeouts)} answer(s) timed out: the question set's "
                f"expected format (a regex or a schema pattern) ran past its budget of {formats.BUDGET_S:g} s "
                "on them, as catastrophic backtracking does. They count as not well-formed; fix the pattern in "
                "the question set.")

    def errors(self) -> list[dict]:
        """Every errored answer: question id, setup and the error, in question then setup order."""
        return [{"id": i.id, "setup": s, "error": sc.error} for i in self.record.items for s in self.setups
                if (sc := self.scores.get((i.id, s))) is not None and sc.error is not None]

    def rows(self) -> list[dict]:
        """One row per question: the question, reference, each setup's answer, score, tags and error."""
        out = []
        for item in self.record.items:
            row = {"id": item.id, "question": item.question, "reference": item.reference,
                   "unanswerable": item.unanswerable, "source": item.source_document or "",
                   "passages": self.record.retrieved.get(item.id, [])}
            for s in self.setups:
                res, sc = self.answer(item.id, s), self.scores.get((item.id, s))
                row[s] = (res or {}).get("text", "") if not (res or {}).get("error") else f"[error] {res['error']}"
                row[f"{s}_correct"] = sc.correct if sc else None
                row[f"{s}_format"] = sc.format_ok if sc else None
                row[f"{s}_tags"] = list(sc.tags) if sc else []
                row[f"{s}_error"] = sc.error if sc else None
            out.append(row)
        return out


def format_fields(item: Question, result: dict) -> dict:
    """The stored format check of one answer record: {"format_ok": bool | None, "format_timed_out": bool};
    {} for an errored answer (it is ill-formed by definition). Run where the answer is written (the worker)."""
    if result.get("error"):
        return {}
    with formats.timeouts() as slow:
        ok = format_ok(result.get("text") or "", item.expected_format)
    return {"format_ok": ok, "format_timed_out": bool(slow)}


def _scored(item: Question, res: dict, passages) -> tuple[AnswerScore, bool]:
    """An answer's score and whether its format check timed out; a stored check is read, never rerun."""
    if "format_ok" in res:
        sc = score_answer(replace(item, expected_format=""), res["setup"], res["text"], passages)
        ok = res["format_ok"]
        return replace(sc, format_ok=ok, tags=sc.tags + ((TAG_WRONG_FORMAT,) if ok is False else ())), bool(
            res.get("format_timed_out"))
    with formats.timeouts() as slow:
        sc = score_answer(item, res["setup"], res["text"], passages)
    return sc, bool(slow)


def score_run(record: RunRecord) -> RunScores:
    """Score every stored answer (errored ones as wrong); setups without answers yet are left out."""
    items = {i.id: i for i in record.items}
    scores: dict[tuple[str, str], AnswerScore] = {}
    by_setup: dict[str, list[dict]] = {}
    timeouts = []
    with formats.budget(UNSTORED_BUDGET_S):
        for res in record.results:
            item = items.get(res["id"])
            if item is None or res["setup"] not in record.spec.setups:
                continue
            by_setup.setdefault(res["setup"], []).append(res)
            passages = record.retrieved.get(item.id, []) if res["setup"] in setups.retrieving() else None
            if res.get("error"):
                scores[(item.id, res["setup"])] = score_error(item, res["setup"], str(res["error"]), passages)
                continue
            scores[(item.id, res["setup"])], slow = _scored(item, res, passages)
            if slow:
                timeouts.append((item.id, res["setup"]))
    summaries: dict[str, SetupSummary] = {}
    for s in record.spec.setups:
        if s in by_setup:
            summaries[s] = summarise(s, items, [v for (q, su), v in scores.items() if su == s], by_setup[s])
    times = [t for t in record.retrieval_times if t is not None]
    return RunScores(record, scores, summaries, sum(times) / len(times) if times else None, tuple(timeouts))
