"""Launchers: how a job's worker is started, watched and stopped (on this machine, or elsewhere).

A launcher is the seam between the queue and where work runs. The queue keeps lanes, order, cancel files
and status; a launcher only runs `python -m workbench.jobs.worker JOB_DIR` somewhere and answers for it.
The job directory stays the record of truth wherever the worker runs: the worker writes status, metrics,
log and results there, so the storage must be shared with wherever the launcher puts the worker.

The contract (`Launcher`); every method but `start`/`poll` must work from ANY process (the app, a runner
that adopted a job after the one that started it died), so a launcher keeps what it needs in the fields
`start` returns, which the runner stores in status.json:

    name: str                          stored as JobStatus.launcher; `launcher_named(name)` finds it again
    check(settings) -> None            before anything is queued: raise JobError(message for the user)
                                       when this launcher cannot take jobs now (e.g. cluster unreachable)
    start(settings, job_dir, st) -> dict
                                       start the worker for a job already marked running; return the
                                       status fields that identify it (local: pid, pid_started; Ray:
                                       external_id). Raising fails the job with the message.
    poll(st) -> int | None             None while the worker lives; once it ended, its exit code where
                                       known, else 1. Called by the runner every ~0.5 s.
    alive(st) -> bool                  the worker still runs (any process may ask)
    stop(st, force) -> None            force=False: ask politely (the worker's handler stops at its next
                                       check); force=True: kill it and everything it started. Never raises
                                       for a worker that is already gone.
    death_reason(st, job_dir) -> str   one line on why a worker ended without recording an outcome
                                       (exit code or signal, the launcher's own message, the log's last line)

`launcher_for(settings)` picks the launcher for new jobs; a job keeps the one it was submitted with.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Protocol

from workbench.jobs.store import LOG, JobStatus, log_tail, process_alive, process_started
from workbench.settings import REPO_ROOT, Settings

# A worker marked running gets this long to show up (write its pid) before it counts as never started.
START_TIMEOUT_S = 60.0

# name -> "module:Class" of every launcher; imported on first use so the local path needs nothing else.
LAUNCHERS = {
    "local": "workbench.jobs.launch:LocalLauncher",
    "ray": "workbench.jobs.ray_launch:RayLauncher",  # its address: Settings.ray_address (WORKBENCH_RAY_ADDRESS)
}


class Launcher(Protocol):
    """Starts, watches and stops job workers; see the module docstring for the contract."""

    name: str

    def check(self, settings: Settings) -> None: ...
    def start(self, settings: Settings, job_dir: Path, st: JobStatus) -> dict: ...
    def poll(self, st: JobStatus) -> int | None: ...
    def alive(self, st: JobStatus) -> bool: ...
    def stop(self, st: JobStatus, force: bool) -> None: ...
    def death_reason(self, st: JobStatus, job_dir: Path) -> str: ...


def child_env(settings: Settings) -> dict[str, str]:
    """The environment for runner and worker: the app's own, with this Settings' storage pinned."""
    env = dict(os.environ)
    env["WORKBENCH_STORAGE"] = str(settings.storage)
    if settings.models_root:
        env["WORKBENCH_MODELS_DIR"] = str(settings.models_root)
    # The worker must import `workbench` (and test handlers) however the app was started.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def last_log_line(job_dir: Path) -> str:
    return next((ln for ln in reversed(log_tail(job_dir, 15).splitlines()) if ln.strip()), "")


class LocalLauncher:
    """Workers as processes on this machine, in their own session, output appended to the job's log.txt."""

    name = "local"

    def __init__(self) -> None:
        # Workers this instance started: only their parent can reap them and learn the exit code.
        self._children: dict[int, subprocess.Popen] = {}
        self._codes: dict[int, int] = {}

    def check(self, settings: Settings) -> None:
        return None

    def start(self, settings: Settings, job_dir: Path, st: JobStatus) -> dict:
        with open(job_dir / LOG, "a") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "workbench.jobs.worker", str(job_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=str(REPO_ROOT), env=child_env(settings),
            )
        self._children[proc.pid] = proc
        return {"pid": proc.pid, "pid_started": process_started(proc.pid), "external_id": None}

    def poll(self, st: JobStatus) -> int | None:
        proc = self._children.get(st.pid) if st.pid else None
        if proc is not None:
            code = proc.poll()
            if code is not None:
                self._codes[proc.pid] = code
                del self._children[proc.pid]
            return code
        if st.pid in self._codes:
            return self._codes[st.pid]
        return None if self.alive(st) else 1

    def alive(self, st: JobStatus) -> bool:
        if st.pid is None:  # marked running, worker not up yet (or its starter died before recording it)
            return time.time() - (st.started_at or st.updated_at or 0) < START_TIMEOUT_S
        return process_alive(st.pid, st.pid_started)

    def stop(self, st: JobStatus, force: bool) -> None:
        if not st.pid or not process_alive(st.pid, st.pid_started):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if force:
                # The worker leads its own session: the group holds whatever it started (e.g. torchrun ranks).
                os.killpg(st.pid, signal.SIGKILL)
            else:
                # The worker's SIGTERM handler only sets a flag; the handler stops at its next check.
                os.kill(st.pid, signal.SIGTERM)

    def death_reason(self, st: JobStatus, job_dir: Path) -> str:
        code = self._codes.get(st.pid) if st.pid else None
        if st.pid is None:
            how = f"never started (no worker reported within {START_TIMEOUT_S:.0f} s)"
        elif code is None:
            how = f"(pid {st.pid}) died without finishing"
        elif code < 0:
            how = f"(pid {st.pid}) was killed by signal {-code}"
        else:
            how = f"(pid {st.pid}) exited with code {code} without recording an outcome"
        last = last_log_line(job_dir)
        return f"The worker process {how}" + (f"; last log line: {last}" if last else "")


def launcher_named(name: str) -> Launcher:
    """A launcher by the name stored in a job's status."""
    target = LAUNCHERS.get(name)
    if target is None:
        raise ValueError(f"Unknown launcher {name!r} (known: {', '.join(sorted(LAUNCHERS))})")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)()


def launcher_for(settings: Settings) -> Launcher:
    """The launcher new jobs get under these settings: a Ray cluster when ray_address is set, else local processes."""
    if settings.ray_address:
        from workbench.jobs.ray_launch import RayLauncher

        return RayLauncher(settings.ray_address)
    return launcher_named("local")
