"""Retrieval work as background jobs: an evaluation, a chunk sweep, a synthetic question set.

Each is submitted for one collection's index (`spec["key"]` = its Chroma key: a rename keeps the results,
a re-index retires them) with everything it needs in the spec (questions included), and writes its result
as JSON (`result.json`) that the page reads back with `RetrievalEval/SweepResult.from_json` or
`question_set_from_json`.
"""
from __future__ import annotations

from workbench import jobs
from workbench.jobs.results import latest, reporter, write_result
from workbench.knowledge.jobs import collection_by_key
from workbench.questions import Question, QuestionSet
from workbench.retrieval.config import RetrievalSettings
from workbench.retrieval.evaluate import evaluate
from workbench.retrieval.precheck import coverage
from workbench.retrieval.scratch import drop_leftovers
from workbench.retrieval.sweep import EmbeddingMemo, SweepGrid, run_sweep
from workbench.settings import Settings

EVAL_KIND, SWEEP_KIND, SYNTH_KIND = "retrieval_eval", "chunk_sweep", "synthetic_questions"
HANDLERS = "workbench.retrieval.jobs"


def question_set_to_json(qs: QuestionSet) -> dict:
    return {"name": qs.name, "questions": [q.to_json() for q in qs.questions], "synthetic": qs.synthetic,
            "notes": list(qs.notes)}


def question_set_from_json(d: dict) -> QuestionSet:
    return QuestionSet(d["name"], tuple(Question.from_json(q) for q in d["questions"]),
                       synthetic=bool(d.get("synthetic", False)), notes=tuple(d.get("notes", ())))


def latest_job(settings: Settings, kind: str, col) -> jobs.JobStatus | None:
    """The newest job of `kind` for this collection's current index."""
    return latest(settings, kind, col.key)


# --- evaluation -------------------------------------------------------------------------------------
def submit_evaluation(settings: Settings, col, qs: QuestionSet, modes, k: int,
                      base: RetrievalSettings) -> jobs.JobStatus:
    """Queue a retrieval evaluation of `qs` on `col` under `modes` at `k`."""
    label = f"{qs.name}: {len(qs.questions)} questions x {len(modes)} modes, k={k}"
    spec = {"key": col.key, "collection": col.name, "label": label, "set_name": qs.name,
            "questions": [q.to_json() for q in qs.questions], "modes": list(modes), "k": int(k),
            "base": base.to_json()}
    return jobs.submit(settings, EVAL_KIND, spec, handler=f"{HANDLERS}:run_evaluation",
                       name=f"retrieval evaluation of {col.name}: {label}")


def run_evaluation(ctx: jobs.JobContext) -> dict:
    """Handler: every question under every mode; a cancel keeps the questions finished before it."""
    spec = ctx.spec
    col = collection_by_key(ctx.settings, spec["key"])
    questions = [Question.from_json(q) for q in spec["questions"]]
    refuse_uncovered(col, questions)
    ev = evaluate(col, questions, spec["modes"], RetrievalSettings.from_json(spec["base"]), k=int(spec["k"]),
                  progress=reporter(ctx), cancel=ctx.cancelled)
    write_result(ctx.dir, ev.to_json())
    return {"label": spec["label"], "rows": len(ev.rows), "cancelled": ev.cancelled}


def refuse_uncovered(col, questions: list[Question]) -> None:
    """Fail before any work when no question has a gold passage in `col` (the page checks first, too)."""
    problem = coverage(col, questions).problem
    if problem:
        raise ValueError(problem)


# --- chunk sweep ------------------------------------------------------------------------------------
def submit_sweep(settings: Settings, col, qs: QuestionSet, grid: SweepGrid, rs: RetrievalSettings) -> jobs.JobStatus:
    """Queue a chunk sweep of `grid` on `col`'s documents, scored on `qs` with the retrieval settings `rs`."""
    label = f"{qs.name}, {rs.mode}: {grid.size} configurations"
    spec = {"key": col.key, "collection": col.name, "label": label, "set_name": qs.name,
            "questions": [q.to_json() for q in qs.questions], "grid": grid.to_json(), "rs": rs.to_json()}
    return jobs.submit(settings, SWEEP_KIND, spec, handler=f"{HANDLERS}:run_chunk_sweep",
                       name=f"chunk sweep of {col.name}: {label}")


def run_chunk_sweep(ctx: jobs.JobContext) -> dict:
    """Handler: score every grid configuration in scratch collections, none of which outlives the job."""
    spec = ctx.spec
    col = collection_by_key(ctx.settings, spec["key"])
    docs = [col.get_document(d.doc_id) for d in col.documents()]
    questions = [Question.from_json(q) for q in spec["questions"]]
    refuse_uncovered(col, questions)
    emb = col.embedder
    memo = EmbeddingMemo(emb)
    memo.backing = col.embed_fn(emb, counter=memo.count_model_calls)  # texts the collection holds are free
    try:
        res = run_sweep(docs, questions, SweepGrid.from_json(spec["grid"]), emb, col.config,
                        RetrievalSettings.from_json(spec["rs"]), reporter(ctx), ctx.cancelled, memo)
    finally:
        # run_sweep drops each scratch collection itself; anything left here is a defect, recorded and removed.
        leftover = drop_leftovers()
        if leftover:
            ctx.log(f"dropped {len(leftover)} scratch collection(s) the sweep left: {', '.join(leftover)}")
    write_result(ctx.dir, res.to_json())
    return {"label": spec["label"], "configurations": len(res.chunkings),
            "cancelled": res.cancelled, "scratch_created": res.scratch_created,
            "scratch_dropped": res.scratch_dropped, "scratch_leftover": leftover}


# --- synthetic questions ----------------------------------------------------------------------------
def submit_synthetic(settings: Settings, col, n: int) -> jobs.JobStatus:
    """Queue `n` synthetic questions written by the local generator from `col`'s chunks."""
    return jobs.submit(settings, SYNTH_KIND, {"key": col.key, "collection": col.name, "n": int(n),
                                              "label": f"{int(n)} synthetic questions"},
                       handler=f"{HANDLERS}:run_synthetic", name=f"synthetic questions from {col.name}")


def run_synthetic(ctx: jobs.JobContext) -> dict:
    """Handler: one question per sampled chunk (gold = that chunk); a cancel keeps those written so far."""
    from workbench import resources
    from workbench.questions import synthetic_question_set

    col = collection_by_key(ctx.settings, ctx.spec["key"])
    progress = reporter(ctx)
    progress(0.0, "loading the generator")
    gen = resources.generator(ctx.settings)
    qs = synthetic_question_set(col.chunks(), gen, int(ctx.spec["n"]), progress=progress, cancel=ctx.cancelled)
    write_result(ctx.dir, question_set_to_json(qs))
    return {"label": qs.name, "questions": len(qs.questions)}
