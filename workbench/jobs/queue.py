"""Submitting, listing, cancelling and recovering jobs: what the app calls. Workers run elsewhere."""
from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from workbench.jobs.store import (
    CANCEL_FILE, CANCELLED, FAILED, LOG, QUEUED, RUNNING, JobStatus, log_tail, process_alive, read_status,
    status_lock, write_json_atomic, write_status, SPEC,
)
from workbench.names import time_id
from workbench.settings import REPO_ROOT, Settings

RUNNER_LOCK = ".runner.lock"
RUNNER_LOG = "runner.log"


class JobError(ValueError):
    """A job request that cannot be honoured; the message is meant for the user."""


def child_env(settings: Settings) -> dict[str, str]:
    """The environment for runner and worker: the app's own, with this Settings' storage pinned."""
    env = dict(os.environ)
    env["WORKBENCH_STORAGE"] = str(settings.storage)
    if settings.models_root:
        env["WORKBENCH_MODELS_DIR"] = str(settings.models_root)
    # The worker must import `workbench` (and test handlers) however the app was started.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def submit(settings: Settings, kind: str, spec: dict, *, handler: str, name: str = "",
           cancel_grace_s: float = 30.0) -> JobStatus:
    """Queue a job (its spec must be JSON-serialisable) and make sure a runner will start it.

    `handler` is "module:function", resolved in the worker process: the package that owns a kind of
    work owns its handler, so a new kind of job needs no change here. `kind` groups jobs in lists.
    """
    if ":" not in handler:
        raise JobError(f"Handler must be 'module:function', got {handler!r}")
    target = handler
    jobs_dir = settings.jobs_dir
    jobs_dir.mkdir(parents=True, exist_ok=True)
    job_id = time_id(kind)
    tmp = jobs_dir / f".{job_id}.tmp"
    tmp.mkdir()
    try:
        write_json_atomic(tmp / SPEC, spec)
        st = JobStatus(job_id=job_id, kind=kind, handler=target, name=name or job_id,
                       submitted_ns=time.time_ns(), message="waiting in the queue",
                       cancel_grace_s=float(cancel_grace_s))
        write_status(tmp, st)
        (tmp / LOG).touch()
        # The job appears in the queue complete or not at all.
        os.replace(tmp, jobs_dir / job_id)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    ensure_runner(settings)
    return read_status(jobs_dir / job_id)


def job_dir(settings: Settings, job_id: str) -> Path:
    d = settings.jobs_dir / job_id
    if not job_id or "/" in job_id or job_id.startswith(".") or not (d / "status.json").is_file():
        raise JobError(f"No job named {job_id!r}")
    return d


def get(settings: Settings, job_id: str) -> JobStatus:
    """A job's status, with a dead "running" job reported (and stored) as failed."""
    d = job_dir(settings, job_id)
    return _check_alive(d, read_status(d))


def list_jobs(settings: Settings, kind: str | None = None) -> list[JobStatus]:
    """Every job, newest first (optionally of one kind); dead running jobs come back failed."""
    out = []
    if not settings.jobs_dir.is_dir():
        return out
    for d in settings.jobs_dir.iterdir():
        if d.name.startswith(".") or not (d / "status.json").is_file():
            continue
        try:
            st = _check_alive(d, read_status(d))
        except (OSError, ValueError):
            continue  # a job dir being deleted, or not ours
        if kind is None or st.kind == kind:
            out.append(st)
    return sorted(out, key=lambda s: s.submitted_ns, reverse=True)


def queued(settings: Settings) -> list[JobStatus]:
    """Queued jobs in submission order (the order they will run in)."""
    return sorted((s for s in list_jobs(settings) if s.state == QUEUED), key=lambda s: s.submitted_ns)


def _check_alive(d: Path, st: JobStatus) -> JobStatus:
    if st.state != RUNNING or st.pid is None:
        return st
    if process_alive(st.pid, st.pid_started):
        return st
    return mark_dead(d, st)


def mark_dead(d: Path, st: JobStatus) -> JobStatus:
    """Record that a running job's worker is gone: failed, with the end of its log as the reason."""
    tail = log_tail(d, 15)
    last = next((ln for ln in reversed(tail.splitlines()) if ln.strip()), "")
    error = f"The worker process (pid {st.pid}) died without finishing" + (f"; last log line: {last}" if last else "")
    try:
        with status_lock(d):
            cur = read_status(d)
            if cur.state != RUNNING or cur.pid != st.pid:
                return cur  # someone else settled it meanwhile
            if (d / CANCEL_FILE).exists():  # killed after a cancel (grace period over): as asked
                new = JobStatus.from_json({**cur.to_json(), "state": CANCELLED, "finished_at": time.time(),
                                           "message": "cancelled (the worker was stopped)"})
            else:
                new = JobStatus.from_json({**cur.to_json(), "state": FAILED, "error": error,
                                           "finished_at": time.time(), "message": "worker died"})
            write_status(d, new)
        if new.state == FAILED:
            with contextlib.suppress(OSError), open(d / LOG, "a") as f:
                f.write(f"\n[jobs] {error}\n")
        return new
    except OSError:
        # The job dir is unwritable: still report the truth to the caller.
        return JobStatus.from_json({**st.to_json(), "state": FAILED, "error": error})


def cancel(settings: Settings, job_id: str) -> JobStatus:
    """Ask a job to stop: a queued job is cancelled at once; a running one within a few seconds."""
    d = job_dir(settings, job_id)
    (d / CANCEL_FILE).touch()
    with status_lock(d):
        st = read_status(d)
        if st.state == QUEUED:
            st = JobStatus.from_json({**st.to_json(), "state": CANCELLED, "finished_at": time.time(),
                                      "message": "cancelled before it started"})
            write_status(d, st)
            return st
    if st.state == RUNNING and process_alive(st.pid, st.pid_started):
        # The worker's SIGTERM handler only sets a flag; the handler stops at its next check.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(st.pid, signal.SIGTERM)
    return get(settings, job_id)


def delete(settings: Settings, job_id: str) -> None:
    """Remove a finished job's directory; running or queued jobs must be cancelled first."""
    d = job_dir(settings, job_id)
    st = get(settings, job_id)
    if not st.is_final:
        raise JobError(f"Job {job_id} is {st.state}; cancel it before deleting it.")
    shutil.rmtree(d)


def runner_active(settings: Settings) -> bool:
    """True while some runner process holds the queue lock."""
    path = settings.jobs_dir / RUNNER_LOCK
    if not path.exists():
        return False
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def ensure_runner(settings: Settings) -> bool:
    """Start a runner when jobs wait and none runs (after submit, or after an app restart)."""
    if not queued(settings) or runner_active(settings):
        return False
    settings.jobs_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.jobs_dir / RUNNER_LOG, "a") as log:
        # A new session: closing the browser, reloading or stopping Streamlit leaves the runner alone.
        subprocess.Popen(
            [sys.executable, "-m", "workbench.jobs.runner", str(settings.jobs_dir)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=str(REPO_ROOT), env=child_env(settings),
        )
    return True


def reconcile(settings: Settings) -> list[JobStatus]:
    """After an app (re)start: settle dead running jobs and restart the queue; returns all jobs."""
    jobs = list_jobs(settings)
    ensure_runner(settings)
    return jobs
