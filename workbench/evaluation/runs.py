"""Evaluation runs: spec, the run folder on disk, and the background execution (job kind "eval").

A run folder `settings.evals_dir / RUN_ID` is the full record of a run:
    spec.json        the RunSpec
    items.jsonl      the questions as evaluated (a snapshot: later edits of the set change nothing)
    retrieved.jsonl  per question, the passages RAG and hybrid saw (retrieval happens once, up front)
    results.jsonl    one line per (question, setup): answer text, latency, tokens, error, format check
    probe_results.jsonl  one line per (probe item, condition) when the run has the forgetting probe
    leakage.json     which questions the adapter's training data already held (runs with an adapter)
    job.json         the background job that runs it (its status is the run's live status), earlier ones
    summary.json     written when the run ends (finished or cancelled): counts and timings; a resume
                     (resume_run) removes it, and the job that continues the run writes a new one
Lists of runs read `evals/index.json` (workbench.evaluation.run_index), kept up to date from here.
"""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Protocol

from workbench.answering import drain, setups, stream_answer
from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT
from workbench.answering.recipes import Recipe
from workbench.answering.records import answer_record, passage_from_json, passage_to_json
from workbench.evaluation import run_index
from workbench.files import write_json_atomic
from workbench.names import time_id
from workbench.questions import Question
from workbench.settings import Settings

INDEX_EVERY_S = 1.0  # how often a running run updates its answer count in the index
ANSWERED = "answered"  # how the job's progress message starts once it is answering (not retrieving)
PROBE_RESULTS = "probe_results.jsonl"


class RunError(ValueError):
    """A run that cannot start or be found; the message is meant for the user."""


@dataclass(frozen=True)
class RunSpec:
    """Everything a run needs; identical generation settings apply to every setup."""

    set_name: str
    setups: tuple[str, ...] | None = None  # None: every setup (the prompted one only when a recipe is given)
    collection: str | None = None  # needed by rag / hybrid
    retrieval: dict | None = None  # RetrievalSettings.to_json(); None = the collection's defaults
    adapter: str | None = None  # registered adapter name, needed by finetuned / hybrid
    adapter_path: str | None = None  # resolved folder (filled at submission, or given directly)
    max_new_tokens: int = 64  # JSON answers of the sample fit in ~40 tokens
    temperature: float = 0.0  # greedy: the same run twice gives the same answers
    top_p: float = 1.0
    seed: int = 0
    system_prompt: str | None = None  # None: workbench.answering.prompts.DEFAULT_SYSTEM_PROMPT
    question_ids: tuple[str, ...] = ()  # a subset of the set; empty = all
    reference_overrides: dict = field(default_factory=dict)  # id -> reference (freshness re-runs)
    label: str = ""  # what the user called the run
    parent_run: str | None = None  # the run this one re-checks (freshness "before")
    freshness: dict | None = None  # the fact change this run checks, when it is a freshness run
    recipe: dict | None = None  # the prompt recipe used (Recipe.to_json(): a copy, so the run stays reproducible)
    recipe_with_adapter: bool = False  # fine-tuned and hybrid answer with the recipe too
    base_model: str | None = None  # generator model name; None = the settings' default generator
    probe: bool | None = None  # answer the forgetting probe too; None: on when the run has an adapter
    revalidates: dict | None = None  # what a revalidation re-run changed (workbench.evaluation.revalidation)

    def __post_init__(self):
        if self.setups is None:
            object.__setattr__(self, "setups", tuple(k for k in setups.keys()
                                                     if self.recipe or k not in setups.needing_recipe()))
        unknown = set(self.setups) - set(setups.keys())
        object.__setattr__(self, "setups", setups.ordered(self.setups))
        object.__setattr__(self, "question_ids", tuple(self.question_ids))
        if self.probe is None:
            object.__setattr__(self, "probe", bool(self.adapter or self.adapter_path))
        if not self.setups or unknown:
            raise RunError(f"pick at least one setup among {', '.join(setups.keys())}")
        if any(s in setups.retrieving() for s in self.setups) and not self.collection:
            raise RunError("RAG and hybrid need a collection to retrieve from")
        if any(s in setups.adapted() for s in self.setups) and not (self.adapter or self.adapter_path):
            raise RunError("fine-tuned and hybrid need an adapter")
        if any(s in setups.needing_recipe() for s in self.setups) and not self.recipe:
            raise RunError("the prompted setup needs a prompt recipe")
        if self.probe and not (self.adapter or self.adapter_path):
            raise RunError("the forgetting probe compares an adapter with the base model: pick an adapter")
        if not 1 <= int(self.max_new_tokens) <= 2048:
            raise RunError("max new tokens must be between 1 and 2048")
        if not 0.0 <= float(self.temperature) <= 2.0:
            raise RunError("temperature must be between 0 and 2")
        if not 0.0 < float(self.top_p) <= 1.0:
            raise RunError("top-p must be in (0, 1]")

    def to_json(self) -> dict:
        return {**asdict(self), "setups": list(self.setups), "question_ids": list(self.question_ids)}

    @classmethod
    def from_json(cls, d: dict) -> "RunSpec":
        # Runs stored before the probe existed did not answer it.
        return cls(**{"probe": False, **{k: v for k, v in d.items() if k in cls.__dataclass_fields__}})


class RunContext(Protocol):
    """What a run reports to (workbench.jobs.JobContext satisfies it)."""

    def log(self, msg: str) -> None: ...

    def progress(self, step: int, total: int, message: str = "") -> None: ...

    def cancelled(self) -> bool: ...


class PlainContext:
    """A RunContext for runs in the calling process (scripts, tests): prints, never cancelled unless told."""

    def __init__(self, cancel_after: int | None = None, quiet: bool = True):
        self.cancel_after, self.quiet, self.steps = cancel_after, quiet, 0
        self.lines: list[str] = []

    def log(self, msg: str) -> None:
        self.lines.append(msg)
        if not self.quiet:
            print(msg, flush=True)

    def progress(self, step: int, total: int, message: str = "") -> None:
        self.steps = step

    def cancelled(self) -> bool:
        return self.cancel_after is not None and self.steps >= self.cancel_after


# --- the run folder ------------------------------------------------------------------------------

def run_dir(settings: Settings, run_id: str) -> Path:
    d = settings.evals_dir / run_id
    if not run_id or "/" in run_id or run_id.startswith(".") or not (d / "spec.json").is_file():
        raise RunError(f"No evaluation run named {run_id!r}")
    return d


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut short by a killed worker
    return out


def append_jsonl(path: Path, rec: dict) -> None:
    """Append one JSON record as a line of a run's .jsonl file (results, retrieved passages, probe, judge)."""
    with open(path, "a+b") as f:  # appends go to the end whatever the read position
        if f.tell():
            f.seek(-1, 2)
            if f.read(1) != b"\n":
                f.write(b"\n")  # a line cut short by a killed worker stays alone, not glued to this record
        f.write(json.dumps(rec).encode() + b"\n")
        f.flush()


def create_run(settings: Settings, spec: RunSpec, items: list[Question]) -> str:
    """Write a new run folder (spec and question snapshot); returns its id. Nothing runs yet."""
    chosen = [i for i in items if not spec.question_ids or i.id in spec.question_ids]
    if not chosen:
        raise RunError("the run has no questions (check the selected question ids)")
    chosen = [replace(i, reference=spec.reference_overrides.get(i.id, i.reference)) for i in chosen]
    if spec.retrieval is None and any(s in setups.retrieving() for s in spec.setups):
        from workbench.retrieval import load_defaults

        # Pin the collection's current defaults, so the run records exactly how it retrieved.
        spec = replace(spec, retrieval=load_defaults(settings, spec.collection).to_json())
    run_id = time_id()  # sorts by creation time, even within one second
    d = settings.evals_dir / run_id
    d.mkdir(parents=True)
    (d / "items.jsonl").write_text("".join(json.dumps(i.to_json()) + "\n" for i in chosen))
    created_at = time.time()
    write_json_atomic(d / "meta.json", {"created_at": created_at})
    if spec.adapter or spec.adapter_path:
        from workbench.evaluation import leakage

        leakage.store(d, leakage.check(settings, spec, chosen))  # the training data as it is at creation
    write_json_atomic(d / "spec.json", spec.to_json())  # last: a folder with spec.json is complete
    run_index.put(settings, run_index.RunEntry(
        run_id=run_id, set_name=spec.set_name, label=spec.label, setups=spec.setups, created_at=created_at,
        question_ids=tuple(i.id for i in chosen), expected=len(chosen) * len(spec.setups),
        parent_run=spec.parent_run, freshness=bool(spec.freshness)))
    return run_id


@dataclass(frozen=True)
class RunRecord:
    """A run as stored on disk (complete or partial)."""

    run_id: str
    spec: RunSpec
    items: tuple[Question, ...]
    retrieved: dict  # id -> list of passage dicts
    results: tuple[dict, ...]
    summary: dict | None  # None while the run has not ended
    job_id: str | None
    created_at: float
    retrieval_times: tuple[float, ...] = ()  # seconds per question's retrieval
    probe_results: tuple[dict, ...] = ()  # forgetting probe answers (workbench.evaluation.forgetting)

    @property
    def title(self) -> str:
        return f"{self.spec.label or self.spec.set_name} ({self.run_id})"


def load_run(settings: Settings, run_id: str) -> RunRecord:
    d = run_dir(settings, run_id)
    spec = RunSpec.from_json(json.loads((d / "spec.json").read_text()))
    items = tuple(Question.from_json(r) for r in _read_jsonl(d / "items.jsonl"))
    ret_rows = _read_jsonl(d / "retrieved.jsonl")
    retrieved = {r["id"]: r["passages"] for r in ret_rows}
    summary = json.loads((d / "summary.json").read_text()) if (d / "summary.json").is_file() else None
    job = json.loads((d / "job.json").read_text()) if (d / "job.json").is_file() else {}
    meta = json.loads((d / "meta.json").read_text()) if (d / "meta.json").is_file() else {}
    return RunRecord(run_id, spec, items, retrieved, tuple(_read_jsonl(d / "results.jsonl")), summary,
                     job.get("job_id"), float(meta.get("created_at", d.stat().st_mtime)),
                     tuple(r.get("retrieval_s") for r in ret_rows), tuple(_read_jsonl(d / PROBE_RESULTS)))


def list_runs(settings: Settings) -> list[str]:
    """Run ids, newest first (from the index: no run folder is read)."""
    return [e.run_id for e in run_index.entries(settings)]


def delete_run(settings: Settings, run_id: str) -> None:
    import shutil

    shutil.rmtree(run_dir(settings, run_id))
    run_index.remove(settings, run_id)


# --- execution -----------------------------------------------------------------------------------

def retrieve_all(settings: Settings, spec: RunSpec, items: list[Question], ctx: RunContext,
                 done: dict, on_result: Callable[[str, list[dict], float], None], collection=None) -> None:
    """Retrieve passages for every question not in `done`, once, before any generation."""
    from workbench.retrieval import RetrievalSettings, load_defaults, retrieve

    todo = [i for i in items if i.id not in done]
    if not todo:
        return
    if collection is None:
        from workbench.knowledge import KnowledgeBase

        collection = KnowledgeBase(settings).get(spec.collection)
    rs = RetrievalSettings.from_json(spec.retrieval) if spec.retrieval else load_defaults(settings, spec.collection)
    ctx.log(f"retrieving from {spec.collection!r} with {rs.to_json()}")
    for n, item in enumerate(todo, 1):
        if ctx.cancelled():
            return
        t0 = time.perf_counter()
        hits = retrieve(collection, item.question, rs)
        on_result(item.id, [passage_to_json(h) for h in hits], time.perf_counter() - t0)
        ctx.progress(n, len(todo), f"retrieving passages {n}/{len(todo)}")


def answer_all(generator, spec: RunSpec, todo: list, retrieved: dict, ctx: RunContext,
               keep: Callable[[dict], None], start: int = 0, total: int | None = None, label: str = ANSWERED) -> int:
    """Answer each (item, setup) in `todo`, handing each record to `keep`; returns how many.

    Where the engine answers several requests at once (`generator.parallel` > 1: llama.cpp's slots, or the
    transformers engine's batched `generate`, one forward pass per step for all of them) that many answers are
    written side by side, each with the same settings;
    records then reach `keep` in the order they finish. A cancel stops waiting within one token; cut answers
    are not recorded (a resumed run redoes them), and their generation ends at the next token.
    """
    from workbench.models.generator import GenerationConfig

    cfg = GenerationConfig(max_new_tokens=int(spec.max_new_tokens), temperature=float(spec.temperature),
                           top_p=float(spec.top_p), seed=int(spec.seed))
    system_prompt = DEFAULT_SYSTEM_PROMPT if spec.system_prompt is None else (spec.system_prompt or None)
    recipe = Recipe.from_json(spec.recipe) if spec.recipe else None
    total = total or len(todo)
    pending = list(reversed(todo))  # popped from the end: question order
    lock = threading.Lock()  # guards pending, n and keep (the caller's records and progress)
    n = 0
    stop = threading.Event()

    def work() -> None:
        nonlocal n
        while not stop.is_set():
            with lock:
                if not pending or ctx.cancelled():
                    return
                item, setup = pending.pop()
            stored = retrieved.get(item.id, []) if setups.setup(setup).retrieves else []
            stream = stream_answer(setup, item.question, generator=generator,
                                   passages=[passage_from_json(p) for p in stored], adapter_path=spec.adapter_path,
                                   cfg=cfg, system_prompt=system_prompt, recipe=recipe,
                                   recipe_with_adapter=spec.recipe_with_adapter)
            done = drain(stream, lambda: stop.is_set() or ctx.cancelled())
            if done is None:
                stop.set()
                return
            with lock:
                keep(answer_record(item.id, *done))
                n += 1
                ctx.progress(start + n, total, f"{label} {start + n}/{total} ({setup}, {item.id})")

    width = max(1, min(int(getattr(generator, "parallel", 1) or 1), len(todo)))
    if width == 1:
        work()
        return n
    errors: list[BaseException] = []

    def guarded() -> None:
        try:
            work()
        except BaseException as e:  # raised below, in the caller's thread, as the one-at-a-time path does
            errors.append(e)
            stop.set()

    workers = [threading.Thread(target=guarded, daemon=True, name=f"answer {i}") for i in range(width)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if errors:
        raise errors[0]
    return n


def execute(settings: Settings, run_id: str, ctx: RunContext, generator=None, collection=None) -> dict:
    """Run (or resume) a run: retrieval first, then every (question, setup) not yet answered."""
    d = run_dir(settings, run_id)
    rec = load_run(settings, run_id)
    spec, items = rec.spec, list(rec.items)
    t_start = time.perf_counter()
    retrieved = dict(rec.retrieved)
    if any(s in setups.retrieving() for s in spec.setups):
        def keep(qid: str, passages: list[dict], seconds: float) -> None:
            retrieved[qid] = passages
            append_jsonl(d / "retrieved.jsonl", {"id": qid, "passages": passages, "retrieval_s": seconds})

        retrieve_all(settings, spec, items, ctx, retrieved, keep, collection)
    done = {(r["id"], r["setup"]) for r in rec.results}
    todo = [(i, s) for i in items for s in spec.setups if (i.id, s) not in done]
    total = len(items) * len(spec.setups)
    from workbench.evaluation import forgetting

    probe_todo = forgetting.pending(spec, rec.probe_results)
    if generator is None and (todo or probe_todo):
        from workbench import resources

        ctx.log(f"loading the generator {spec.base_model or settings.generator_model}")
        generator = resources.generator(settings, spec.base_model)

    results = list(rec.results)
    if rec.summary is not None and (todo or probe_todo):  # resumed: running again until its new summary
        run_index.update(settings, run_id, answers=len(results), ended=False, cancelled=False)
    last_index = time.monotonic()
    from workbench.evaluation.scoring import format_fields

    by_id = {i.id: i for i in items}

    def keep_answer(r: dict) -> None:
        nonlocal last_index
        # Checked here, in the worker, once: user patterns never run when the report opens.
        r = {**r, **format_fields(by_id[r["id"]], r)}
        append_jsonl(d / "results.jsonl", r)
        results.append(r)
        if time.monotonic() - last_index >= INDEX_EVERY_S:  # the lists' progress, without an fsync per answer
            run_index.update(settings, run_id, answers=len(results))
            last_index = time.monotonic()

    n_done = answer_all(generator, spec, todo, retrieved, ctx, keep_answer, start=len(done), total=total)
    n_probe = 0
    if probe_todo and not ctx.cancelled():  # after the main answers: they matter first
        run_index.update(settings, run_id, answers=len(results))  # the lists show them all while the probe runs
        n_probe = forgetting.answer_probe(generator, spec, probe_todo, ctx,
                                          lambda r: append_jsonl(d / PROBE_RESULTS, r), len(rec.probe_results))
    cancelled = ctx.cancelled()
    summary = {"finished_at": time.time(), "cancelled": cancelled, "answers": len(done) + n_done,
               "expected_answers": total, "wall_s": time.perf_counter() - t_start}
    if spec.probe:
        summary.update(probe_answers=len(rec.probe_results) + n_probe,
                       expected_probe_answers=len(rec.probe_results) + len(probe_todo))
    write_json_atomic(d / "summary.json", summary)
    run_index.update(settings, run_id, answers=len(results), ended=True, cancelled=cancelled,
                     mean_latency_s=run_index.mean_latency(results))
    ctx.log(f"run {'cancelled' if cancelled else 'finished'}: {summary['answers']}/{total} answers")
    from workbench import tracking  # MLflow, when WORKBENCH_MLFLOW_URI is set; never fails the run

    tracking.track_evaluation(settings, run_id, log=ctx.log)
    return summary


def run_job(ctx) -> dict:
    """Job handler for kind "eval": spec {"run_id": ...}; the run's records live in its run folder."""
    return execute(ctx.settings, ctx.spec["run_id"], ctx)


def submit_run(settings: Settings, spec: RunSpec, items: list[Question],
               handler: str = "workbench.evaluation.runs:run_job") -> str:
    """Create a run and queue it as a background job (kind "eval"); returns the run id."""
    from workbench import jobs

    if (spec.probe or any(s in setups.adapted() for s in spec.setups)) and not spec.adapter_path:
        spec = replace(spec, adapter_path=resolve_adapter(settings, spec.adapter))
    run_id = create_run(settings, spec, items)
    st = jobs.submit(settings, "eval", {"run_id": run_id}, name=f"eval {spec.label or spec.set_name}",
                     handler=handler)
    write_json_atomic(settings.evals_dir / run_id / "job.json", {"job_id": st.job_id})
    run_index.update(settings, run_id, job_id=st.job_id)
    return run_id


def resume_run(settings: Settings, run_id: str, handler: str | None = None) -> str:
    """Queue a job that continues a cancelled, failed or incomplete run (RunError for any other); its job id.

    The job skips every answer already written (execute), so each (question, setup) is answered once.
    `handler` defaults to the one the run's last job ran with."""
    from workbench import jobs

    d = run_dir(settings, run_id)
    entry = run_index.get(settings, run_id)
    if entry is None:
        raise RunError(f"No evaluation run named {run_id!r}")
    which, _ = run_index.state(settings, entry)
    if which not in run_index.CUT_SHORT:
        raise RunError(f"Run {run_id} is {which}: only a cancelled, failed or incomplete run can be resumed.")
    last = run_index.job_status(settings, entry.job_id)
    handler = handler or (last.handler if last is not None else "workbench.evaluation.runs:run_job")
    job = json.loads((d / "job.json").read_text()) if (d / "job.json").is_file() else {}
    # The old summary goes first: the run reads as unfinished from here on, and the job writes a new one.
    (d / "summary.json").unlink(missing_ok=True)
    run_index.update(settings, run_id, ended=False, cancelled=False)
    st = jobs.submit(settings, "eval", {"run_id": run_id}, name=f"eval {entry.label or entry.set_name} (resumed)",
                     handler=handler)
    previous = job.get("previous_jobs", []) + ([job["job_id"]] if job.get("job_id") else [])
    write_json_atomic(d / "job.json", {"job_id": st.job_id, "previous_jobs": previous})
    run_index.update(settings, run_id, job_id=st.job_id)
    return st.job_id


def resolve_adapter(settings: Settings, name: str | None) -> str:
    """The folder of a registered adapter, with a clear message when it is missing."""
    from workbench.finetune.adapters import AdapterRegistry

    try:
        return str(AdapterRegistry(settings).get(name).path)
    except Exception as e:
        raise RunError(f"adapter {name!r} is not available: {e}") from None


def run_status(settings: Settings, rec: RunRecord):
    """The run's background job status, or None for runs executed in-process."""
    return run_index.job_status(settings, rec.job_id)


def answers_so_far(entry: run_index.RunEntry, js) -> int:
    """Answers written: the job's step while it answers (no results read), else the index's count."""
    if js is not None and js.message.startswith(ANSWERED):
        return js.step
    return entry.answers


def cancel_run(settings: Settings, run_id: str) -> None:
    from workbench import jobs

    entry = run_index.get(settings, run_id)
    if entry is not None and entry.job_id:
        jobs.cancel(settings, entry.job_id)
