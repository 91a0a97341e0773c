"""Submitting, listing, cancelling and recovering jobs: what the app calls. Workers run elsewhere."""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from workbench.jobs.lanes import lane_for, runner_active, start_runner, start_runners
from workbench.jobs.launch import launcher_for, launcher_named
from workbench.jobs.store import (
    CANCEL_FILE, CANCELLED, LOG, QUEUED, RUNNING, SPEC, STATUS, JobError, JobStatus, note_path, read_status,
    settle, status_lock, write_json_atomic, write_status,
)
from workbench.names import time_id
from workbench.settings import Settings

# A cancel the worker ignores is escalated by the lane's runner after the grace period; whoever lists
# the job escalates it too, this much later, in case that runner is dead.
ESCALATE_SLACK_S = 5.0


def submit(settings: Settings, kind: str, spec: dict, *, handler: str, name: str = "", lane: str = "default",
           cancel_grace_s: float = 30.0) -> JobStatus:
    """Queue a job (its spec must be JSON-serialisable) and make sure its lane's runner will start it.

    `handler` is "module:function", resolved in the worker process: the package that owns a kind of
    work owns its handler, so a new kind of job needs no change here. `kind` groups jobs in lists;
    `lane` picks the queue it waits in (Settings.job_lanes "single" puts every job in one).
    """
    if ":" not in handler:
        raise JobError(f"Handler must be 'module:function', got {handler!r}")
    try:
        lane = lane_for(settings, lane)
    except ValueError as e:
        raise JobError(str(e)) from None
    launcher = launcher_for(settings)
    launcher.check(settings)  # e.g. a cluster that cannot be reached: refused before anything is written
    jobs_dir = settings.jobs_dir
    jobs_dir.mkdir(parents=True, exist_ok=True)
    job_id = time_id(kind)
    tmp = jobs_dir / f".{job_id}.tmp"
    tmp.mkdir()
    try:
        write_json_atomic(tmp / SPEC, spec)
        st = JobStatus(job_id=job_id, kind=kind, handler=handler, name=name or job_id, lane=lane,
                       launcher=launcher.name, submitted_ns=time.time_ns(), message="waiting in the queue",
                       cancel_grace_s=float(cancel_grace_s))
        write_status(tmp, st)
        (tmp / LOG).touch()
        # The job appears in the queue complete or not at all.
        os.replace(tmp, jobs_dir / job_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # After the job is visible: a runner leaving now re-checks the queue after it lets go of the lane.
    start_runner(settings, lane)
    return read_status(jobs_dir / job_id)


def job_dir(settings: Settings, job_id: str) -> Path:
    d = settings.jobs_dir / job_id
    if not job_id or "/" in job_id or job_id.startswith(".") or not (d / STATUS).is_file():
        raise JobError(f"No job named {job_id!r}")
    return d


def scan(settings: Settings) -> list[JobStatus]:
    """Every job's stored status (notes laid over), unsorted; no liveness checks, no side effects."""
    out = []
    if not settings.jobs_dir.is_dir():
        return out
    for d in settings.jobs_dir.iterdir():
        if d.name.startswith(".") or not (d / STATUS).is_file():
            continue
        with contextlib.suppress(OSError, ValueError, TypeError):  # a job dir being deleted, or not ours
            out.append(read_status(d))
    return out


def get(settings: Settings, job_id: str) -> JobStatus:
    """A job's status, with a dead "running" job reported (and stored) as failed."""
    d = job_dir(settings, job_id)
    st = _check_alive(d, read_status(d))
    if not st.is_final:
        start_runner(settings, st.lane)  # its runner died: whoever notices first starts a new one
    return st


def list_jobs(settings: Settings, kind: str | None = None) -> list[JobStatus]:
    """Every job, newest first (optionally of one kind); dead running jobs come back failed.

    A lane with unfinished jobs and no runner gets one here, so a killed runner is replaced by the
    next look at the jobs from any page or process.
    """
    out = [_check_alive(settings.jobs_dir / s.job_id, s) for s in scan(settings)]
    start_runners(settings, (s.lane for s in out if not s.is_final))
    return sorted((s for s in out if kind is None or s.kind == kind), key=lambda s: s.submitted_ns, reverse=True)


def queued(settings: Settings, lane: str | None = None) -> list[JobStatus]:
    """Queued jobs in submission order (the order they run in within a lane); one lane's when given."""
    return sorted((s for s in list_jobs(settings) if s.state == QUEUED and lane in (None, s.lane)),
                  key=lambda s: s.submitted_ns)


def waiting_reason(settings: Settings, st: JobStatus, jobs: list[JobStatus] | None = None) -> str:
    """Why a queued job has not started, in a few words; "" for a job that is not waiting.

    `jobs` is a listing the caller already has (saves a second scan).
    """
    if st.state != QUEUED:
        return ""
    same = [s for s in (list_jobs(settings) if jobs is None else jobs) if s.lane == st.lane]
    ahead = sum(1 for s in same if s.state == QUEUED and s.submitted_ns < st.submitted_ns)
    running = [s for s in same if s.state == RUNNING]
    if running:
        more = f", then {ahead} queued ahead of it" if ahead else ""
        return f"waiting for {running[0].name!r} ({st.lane} lane) to finish{more}"
    if ahead:
        return f"{_ordinal(ahead + 1)} in the {st.lane} lane"
    return f"next in the {st.lane} lane (starting)"


def _ordinal(n: int) -> str:
    words = {2: "second", 3: "third", 4: "fourth", 5: "fifth"}
    return words.get(n, f"number {n}")


def _check_alive(d: Path, st: JobStatus) -> JobStatus:
    """A running job whose worker is gone is settled; an ignored cancel past its grace is escalated."""
    if st.state != RUNNING:
        return st
    try:
        launcher = launcher_named(st.launcher)
    except (ValueError, ImportError):
        return st  # a launcher this install lacks: leave the job to a runner that has it
    if not launcher.alive(st):
        return mark_dead(d, st)
    asked = _cancel_asked_at(d)
    if asked is not None and time.time() - asked > st.cancel_grace_s + ESCALATE_SLACK_S:
        launcher.stop(st, force=True)
    return st


def _cancel_asked_at(d: Path) -> float | None:
    try:
        return (d / CANCEL_FILE).stat().st_mtime
    except OSError:
        return None


def mark_dead(d: Path, st: JobStatus) -> JobStatus:
    """Record that a running job's worker is gone: failed with the launcher's reason, or cancelled if asked."""
    return settle(d, st, launcher_named(st.launcher).death_reason(st, d))


def cancel(settings: Settings, job_id: str) -> JobStatus:
    """Ask a job to stop: a queued job is cancelled at once; a running one within a few seconds.

    A worker that ignores it is killed after the job's grace period, by its lane's runner (started here
    if it died) or, failing that, by whoever lists the job.
    """
    d = job_dir(settings, job_id)
    try:
        (d / CANCEL_FILE).touch()
        with status_lock(d):
            st = read_status(d)
            if st.state == QUEUED:
                st = replace(st, state=CANCELLED, finished_at=time.time(), message="cancelled before it started")
                write_status(d, st)
                return st
    except OSError as e:
        raise JobError(f"Cannot cancel {job_id}: its folder takes no writes ({e.strerror or e})") from None
    if st.state == RUNNING:
        launcher_named(st.launcher).stop(st, force=False)
        start_runner(settings, st.lane)
    return get(settings, job_id)


def delete(settings: Settings, job_id: str) -> None:
    """Remove a finished job's directory (and the runner's note on it); unfinished jobs must be cancelled first."""
    d = job_dir(settings, job_id)
    st = get(settings, job_id)
    if not st.is_final:
        raise JobError(f"Job {job_id} is {st.state}; cancel it before deleting it.")
    try:
        shutil.rmtree(d)
    except OSError as e:
        raise JobError(f"Cannot delete {job_id}: {e.strerror or e}") from None
    with contextlib.suppress(FileNotFoundError):
        note_path(d).unlink()


def ensure_runners(settings: Settings) -> list[str]:
    """Start a runner for every lane with unfinished jobs and none running; returns the lanes started."""
    return start_runners(settings, (s.lane for s in scan(settings) if not s.is_final))


def reconcile(settings: Settings) -> list[JobStatus]:
    """After an app (re)start: settle dead running jobs and restart every lane's queue; returns all jobs."""
    return list_jobs(settings)


__all__ = ["JobError", "cancel", "delete", "ensure_runners", "get", "job_dir", "list_jobs", "queued", "reconcile",
           "runner_active", "scan", "submit", "waiting_reason"]
