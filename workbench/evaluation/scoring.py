"""A stored run scored: per-answer scores and tags, per-setup summaries, the per-question table."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.evaluation.metrics import AnswerScore, SetupSummary, score_answer, summarise
from workbench.answering import setups
from workbench.evaluation.runs import RunRecord


@dataclass(frozen=True)
class RunScores:
    """Everything the report shows about a run, computed from its records (never stored)."""

    record: RunRecord
    scores: dict  # (id, setup) -> AnswerScore
    summaries: dict  # setup -> SetupSummary, in SETUPS order
    retrieval_s: float | None  # mean seconds per retrieval

    @property
    def setups(self) -> tuple[str, ...]:
        return tuple(self.summaries)

    def answer(self, qid: str, setup: str) -> dict | None:
        return next((r for r in self.record.results if r["id"] == qid and r["setup"] == setup), None)

    def rows(self) -> list[dict]:
        """One row per question: the question, reference, each setup's answer, score and tags."""
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
            out.append(row)
        return out


def score_run(record: RunRecord) -> RunScores:
    """Score every stored answer; setups without answers yet are left out."""
    items = {i.id: i for i in record.items}
    scores: dict[tuple[str, str], AnswerScore] = {}
    by_setup: dict[str, list[dict]] = {}
    for res in record.results:
        item = items.get(res["id"])
        if item is None or res["setup"] not in record.spec.setups:
            continue
        by_setup.setdefault(res["setup"], []).append(res)
        if res.get("error"):
            continue
        passages = record.retrieved.get(item.id, []) if res["setup"] in setups.retrieving() else None
        scores[(item.id, res["setup"])] = score_answer(item, res["setup"], res["text"], passages)
    summaries: dict[str, SetupSummary] = {}
    for s in record.spec.setups:
        if s in by_setup:
            summaries[s] = summarise(s, items, [v for (q, su), v in scores.items() if su == s], by_setup[s])
    times = [t for t in record.retrieval_times if t is not None]
    return RunScores(record, scores, summaries, sum(times) / len(times) if times else None)
