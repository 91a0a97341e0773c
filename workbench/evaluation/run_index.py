"""The index of evaluation runs: one small record per run in `evals/index.json`, so lists never parse results.

Written (atomically, under an flock) when a run is created, gets its job, progresses, ends and is deleted.
A run folder without an entry (made before the index existed, or copied in) is added on the next read;
an entry whose folder is gone is dropped; a missing or unreadable index is rebuilt from the folders.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from workbench.files import write_json_atomic
from workbench.settings import Settings

INDEX, LOCK = "index.json", ".index.lock"


@dataclass(frozen=True)
class RunEntry:
    """What lists, tables and pickers show of a run, without reading its results."""

    run_id: str
    set_name: str
    label: str = ""
    setups: tuple[str, ...] = ()
    created_at: float = 0.0
    question_ids: tuple[str, ...] = ()  # the questions the run covers (freshness checks need them)
    answers: int = 0  # answers written at the last update (the worker updates it as it goes)
    expected: int = 0  # questions x setups
    ended: bool = False  # summary.json written: finished or cancelled
    cancelled: bool = False
    job_id: str | None = None  # the background job; None for runs executed in-process
    parent_run: str | None = None  # the run a freshness re-run re-checks
    freshness: bool = False  # a freshness re-run (covers only the changed fact)
    mean_latency_s: float | None = None  # seconds per answer, known once the run has ended

    @property
    def title(self) -> str:
        return f"{self.label or self.set_name} ({self.run_id})"

    @property
    def n_questions(self) -> int:
        return len(self.question_ids)

    def to_json(self) -> dict:
        return {**asdict(self), "setups": list(self.setups), "question_ids": list(self.question_ids)}

    @classmethod
    def from_json(cls, d: dict) -> "RunEntry":
        known = {f.name for f in fields(cls)}
        e = cls(**{k: v for k, v in d.items() if k in known})
        return replace(e, setups=tuple(e.setups), question_ids=tuple(e.question_ids))


def mean_latency(results) -> float | None:
    lat = [r["latency_s"] for r in results if r.get("latency_s")]
    return sum(lat) / len(lat) if lat else None


def entry_from_folder(d: Path) -> RunEntry:
    """Build a run's entry from its folder (once per run: it reads the results)."""
    from workbench.evaluation.runs import _read_jsonl

    spec = json.loads((d / "spec.json").read_text())
    ids = tuple(r["id"] for r in _read_jsonl(d / "items.jsonl"))
    meta = _read_json(d / "meta.json")
    summary = _read_json(d / "summary.json") if (d / "summary.json").is_file() else None
    results = _read_jsonl(d / "results.jsonl")
    return RunEntry(
        run_id=d.name, set_name=spec["set_name"], label=spec.get("label", ""), setups=tuple(spec["setups"]),
        created_at=float(meta.get("created_at", d.stat().st_mtime)), question_ids=ids, answers=len(results),
        expected=len(ids) * len(spec["setups"]), ended=summary is not None,
        cancelled=bool(summary and summary.get("cancelled")), job_id=_read_json(d / "job.json").get("job_id"),
        parent_run=spec.get("parent_run"), freshness=bool(spec.get("freshness")),
        mean_latency_s=mean_latency(results) if summary is not None else None)


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


@contextlib.contextmanager
def _locked(settings: Settings) -> Iterator[None]:
    """Serialise read-modify-write of the index between the app and the run workers."""
    settings.evals_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.evals_dir / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _load(settings: Settings) -> dict[str, RunEntry] | None:
    """The stored entries by run id; None when the index is missing or unreadable."""
    try:
        data = json.loads((settings.evals_dir / INDEX).read_text())
        return {e["run_id"]: RunEntry.from_json(e) for e in data["runs"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _save(settings: Settings, entries: dict[str, RunEntry]) -> None:
    write_json_atomic(settings.evals_dir / INDEX, {"runs": [e.to_json() for e in entries.values()]})


def _folders(settings: Settings) -> set[str]:
    if not settings.evals_dir.is_dir():
        return set()
    return {d.name for d in settings.evals_dir.iterdir() if not d.name.startswith(".") and d.is_dir()}


def _reconciled(settings: Settings, stored: dict[str, RunEntry] | None) -> tuple[dict[str, RunEntry], bool]:
    """`stored` with entries added for unindexed run folders and dropped for gone ones; and whether it changed."""
    entries = dict(stored or {})
    names = _folders(settings)
    changed = stored is None
    for run_id in [r for r in entries if r not in names]:
        del entries[run_id]
        changed = True
    for run_id in names - set(entries):
        d = settings.evals_dir / run_id
        if not (d / "spec.json").is_file():
            continue  # being created (spec.json is written last), or not a run
        try:
            entries[run_id] = entry_from_folder(d)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a damaged folder stays out of the lists, as load_run would fail on it
        changed = True
    return entries, changed


def entries(settings: Settings) -> list[RunEntry]:
    """Every run's entry, newest first; one small file read (plus a folder listing) per call."""
    found, changed = _reconciled(settings, _load(settings))
    if changed:
        with _locked(settings):
            found, changed = _reconciled(settings, _load(settings))
            if changed:
                _save(settings, found)
    return sorted(found.values(), key=lambda e: e.run_id, reverse=True)


def get(settings: Settings, run_id: str) -> RunEntry | None:
    return next((e for e in entries(settings) if e.run_id == run_id), None)


def put(settings: Settings, entry: RunEntry) -> None:
    """Add or replace one run's entry."""
    with _locked(settings):
        found, _ = _reconciled(settings, _load(settings))
        found[entry.run_id] = entry
        _save(settings, found)


def update(settings: Settings, run_id: str, **changes) -> None:
    """Apply `changes` to one run's entry (built from its folder first if the index lacks it)."""
    with _locked(settings):
        found, _ = _reconciled(settings, _load(settings))
        if run_id not in found:
            return  # the run was deleted meanwhile
        found[run_id] = replace(found[run_id], **changes)
        _save(settings, found)


def remove(settings: Settings, run_id: str) -> None:
    with _locked(settings):
        found, _ = _reconciled(settings, _load(settings))
        found.pop(run_id, None)
        _save(settings, found)


def job_status(settings: Settings, job_id: str | None):
    """A run's job status (one small file), or None for a run without a job or whose job is gone."""
    from workbench import jobs

    if not job_id:
        return None
    try:
        return jobs.get(settings, job_id)
    except jobs.JobError:
        return None


FINISHED, CANCELLED, FAILED, INCOMPLETE = "finished", "cancelled", "failed", "incomplete"
CUT_SHORT = (CANCELLED, FAILED, INCOMPLETE)  # runs that stopped with answers missing: they can be resumed


def state(settings: Settings, entry: RunEntry) -> tuple[str, object]:
    """What the run is doing and its job status: "queued", "running", or how it stopped: "finished",
    "cancelled", "failed" (its job raised, or its worker died) or "incomplete" (no end recorded, no job
    left that could record one).

    An ended run needs no job read; only runs still queued, running or cut short by a crash do.
    """
    if entry.ended:
        return (CANCELLED if entry.cancelled else FINISHED), None
    js = job_status(settings, entry.job_id)
    if js is None:
        return INCOMPLETE, None
    # A job that succeeded without the run writing its summary did not finish the run.
    return (INCOMPLETE if js.state == "succeeded" else js.state), js


@dataclass(frozen=True)
class Stopped:
    """Why a run stopped short: its state and the job's own account of it."""

    state: str  # one of CUT_SHORT
    reason: str  # the job's error, or what is known of why no end was recorded
    log_tail: str = ""  # the end of the job's log (tracebacks included); "" without a job


def stopped(settings: Settings, entry: RunEntry) -> Stopped | None:
    """How the run stopped short (failed, killed, cancelled, incomplete); None while it runs or once it finished."""
    from workbench import jobs

    which, js = state(settings, entry)
    if which not in CUT_SHORT:
        return None
    if js is None and entry.job_id:  # an ended (cancelled) run: its job still tells who stopped it
        js = job_status(settings, entry.job_id)
    if which == FAILED:
        reason = js.error or "the job failed without a message"
    elif which == CANCELLED:
        reason = "it was cancelled" + (f" ({js.message})" if js is not None and js.message not in ("", "cancelled")
                                       else "")
    elif js is None:
        reason = ("no end was recorded and it has no background job that could still record one (it ran in "
                  "another process, or its job was deleted)")
    else:
        reason = f"its job ended '{js.state}' without recording the run's end"
    tail = ""
    if js is not None:
        try:
            tail = jobs.log_tail(jobs.job_dir(settings, js.job_id), 20)
        except jobs.JobError:
            pass
    return Stopped(which, reason, tail)
