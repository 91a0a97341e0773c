"""A stored run scored: per-answer scores and tags, per-setup summaries, the per-question table, errors."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.answering import setups
from workbench.evaluation.metrics import AnswerScore, SetupSummary, score_answer, score_error, summarise
from workbench.evaluation.runs import RunRecord


@dataclass(frozen=True)
class RunScores:
    """Everything the report shows about a run, computed from its records (never stored)."""

    record: RunRecord
    scores: dict  # (id, setup) -> AnswerScore; an errored answer is scored (as wrong), never left out
    summaries: dict  # setup -> SetupSummary, in SETUPS order
    retrieval_s: float | None  # mean seconds per retrieval

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


def score_run(record: RunRecord) -> RunScores:
    """Score every stored answer (errored ones as wrong); setups without answers yet are left out."""
    items = {i.id: i for i in record.items}
    scores: dict[tuple[str, str], AnswerScore] = {}
    by_setup: dict[str, list[dict]] = {}
    for res in record.results:
        item = items.get(res["id"])
        if item is None or res["setup"] not in record.spec.setups:
            continue
        by_setup.setdefault(res["setup"], []).append(res)
        passages = record.retrieved.get(item.id, []) if res["setup"] in setups.retrieving() else None
        if res.get("error"):
            scores[(item.id, res["setup"])] = score_error(item, res["setup"], str(res["error"]), passages)
        else:
            scores[(item.id, res["setup"])] = score_answer(item, res["setup"], res["text"], passages)
    summaries: dict[str, SetupSummary] = {}
    for s in record.spec.setups:
        if s in by_setup:
            summaries[s] = summarise(s, items, [v for (q, su), v in scores.items() if su == s], by_setup[s])
    times = [t for t in record.retrieval_times if t is not None]
    return RunScores(record, scores, summaries, sum(times) / len(times) if times else None)
