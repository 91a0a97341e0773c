"""Scoring retrieval on a question set: gold passage retrieved@k, MRR, nDCG per mode; where each gold passage ranked.

"Gold passage" is workbench.retrieval.gold's notion (the span's chunk, else the chunk holding the reference,
else the source document and page); hit@k below is "gold passage retrieved@k" in every table and chart.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from workbench.questions import Question
from workbench.retrieval.config import RetrievalSettings
from workbench.retrieval.gold import relevance_fn
from workbench.retrieval.metrics import first_relevant_rank, hit_at_k, mean, ndcg_at_k, reciprocal_rank
from workbench.retrieval.search import retrieve
from workbench.types import source_label

DEPTH = 20  # how deep each ranking is read, so the table can say "ranked 12th" rather than "missed"
QUESTION_BATCH = 64  # questions per embedding call: progress and cancel between calls, few forward passes


@dataclass(frozen=True)
class QuestionResult:
    """One question under one mode: the gold's rank (None = not in the top DEPTH) and its metrics at k."""

    qid: str
    question: str
    mode: str
    gold_rank: int | None
    hit: float
    rr: float
    ndcg: float
    matched_by: str
    n_gold: int
    top_passage: str
    top_source: str
    rels: tuple[bool, ...] = ()  # relevance of each of the top DEPTH results, for metrics at other k


@dataclass(frozen=True)
class ModeSummary:
    mode: str
    k: int
    hit_at_k: float  # "gold passage retrieved@k": share of questions with a gold passage in the top k
    mrr: float
    ndcg: float
    n_questions: int


@dataclass(frozen=True)
class RetrievalEval:
    """A finished evaluation: per-mode summaries and per-question rows; `cancelled` when stopped early."""

    summaries: tuple[ModeSummary, ...]
    rows: tuple[QuestionResult, ...]
    skipped: tuple[str, ...] = ()
    cancelled: bool = False

    def to_json(self) -> dict:
        return {"summaries": [asdict(s) for s in self.summaries],
                "rows": [{**asdict(r), "rels": [bool(x) for x in r.rels]} for r in self.rows],
                "skipped": list(self.skipped), "cancelled": self.cancelled}

    @classmethod
    def from_json(cls, d: dict) -> "RetrievalEval":
        return cls(tuple(ModeSummary(**s) for s in d["summaries"]),
                   tuple(QuestionResult(**{**r, "rels": tuple(bool(x) for x in r["rels"])}) for r in d["rows"]),
                   tuple(d.get("skipped", ())), bool(d.get("cancelled", False)))


def summarize(rows: Sequence[QuestionResult], mode: str, k: int) -> ModeSummary | None:
    """Mean gold passage retrieved@k, MRR@k and nDCG@k of one mode's rows, recomputed at `k` from stored rankings."""
    mine = [r for r in rows if r.mode == mode]
    if not mine:
        return None
    return ModeSummary(mode, k, mean([hit_at_k(r.rels, k) for r in mine]),
                       mean([reciprocal_rank(r.rels, k) for r in mine]),
                       mean([ndcg_at_k(r.rels, k, r.n_gold) for r in mine]), len(mine))


EMBED_SHARE = 0.1  # of the progress bar: embedding the questions; the rest, ranking them under each mode


def _embed_questions(embedder, texts: list[str], progress, cancel) -> tuple[np.ndarray, bool]:
    """Question vectors in batches of QUESTION_BATCH; (vectors so far, True) when cancelled in between."""
    parts = []
    for i in range(0, len(texts), QUESTION_BATCH):
        if cancel is not None and cancel():
            return np.zeros((0, 1)), True
        if progress:
            progress(EMBED_SHARE * i / len(texts), f"embedding questions {i + 1}-"
                                                   f"{min(len(texts), i + QUESTION_BATCH)} of {len(texts)}")
        parts.append(np.asarray(embedder.embed_batch(texts[i:i + QUESTION_BATCH])))
    return (np.concatenate(parts) if parts else np.zeros((0, 1))), False


def evaluate(collection, questions: Sequence[Question], modes: Sequence[str], base: RetrievalSettings,
             k: int | None = None, progress: Callable[[float, str], None] | None = None,
             cancel: Callable[[], bool] | None = None, chunks=None) -> RetrievalEval:
    """Run every question through every mode (threshold off, depth DEPTH) and score the top k."""
    k = k or base.k
    all_chunks = list(chunks if chunks is not None else collection.chunks())
    rows: list[QuestionResult] = []
    skipped: list[str] = []
    gold = {}
    unanswerable = [q.id for q in questions if q.unanswerable]
    if unanswerable:
        skipped.append(f"{len(unanswerable)} unanswerable question(s) ({', '.join(unanswerable[:5])}"
                       f"{', ...' if len(unanswerable) > 5 else ''}): no gold passage to rank")
    for q in questions:
        if q.unanswerable:
            continue
        fn, n, how = relevance_fn(q, all_chunks)
        if n == 0:
            skipped.append(f"{q.id}: no chunk of this collection matches its gold ({how})")
        else:
            gold[q.id] = (fn, n, how)
    scored = [q for q in questions if q.id in gold]
    # Embedding the questions is the expensive part and identical across modes: once, in a few large batches.
    qvecs, cancelled = _embed_questions(collection.embedder, [q.question for q in scored], progress, cancel)
    total = max(1, len(scored) * len(modes))
    for mi, mode in enumerate(modes if not cancelled else ()):
        rs = base.with_(mode=mode, k=max(k, DEPTH), threshold=None)
        for qi, q in enumerate(scored):
            if cancel is not None and cancel():
                cancelled = True
                break
            if progress:
                progress(EMBED_SHARE + (1 - EMBED_SHARE) * (mi * len(scored) + qi) / total,
                         f"{mode}: question {qi + 1} of {len(scored)}")
            hits = retrieve(collection, q.question, rs, qvec=qvecs[qi])
            fn, n, how = gold[q.id]
            rels = [fn(h.chunk) for h in hits]
            top = hits[0] if hits else None
            rows.append(QuestionResult(
                q.id, q.question, mode, first_relevant_rank(rels), hit_at_k(rels, k), reciprocal_rank(rels, k),
                ndcg_at_k(rels, k, n), how, n, top.chunk.text[:200] if top else "",
                source_label(top.chunk.doc_name, top.chunk.page, top.chunk.page_end) if top else "",
                tuple(rels)))
        if cancelled:
            break
    if progress:
        progress(1.0, "done")
    summaries = [s for s in (summarize(rows, m, k) for m in modes) if s is not None]
    return RetrievalEval(tuple(summaries), tuple(rows), tuple(skipped), cancelled)


