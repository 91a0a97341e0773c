"""The queue runner: `python -m workbench.jobs.runner JOBS_DIR` runs queued jobs one at a time, in order.

Only the process holding the `.runner.lock` flock runs jobs, so at most one job runs at a time however
many runners are started. Each job runs in its own worker process, so a crashing or killed job cannot
take the queue down with it.
"""
from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from workbench.jobs.queue import RUNNER_LOCK, child_env, queued
from workbench.jobs.store import (
    CANCEL_FILE, CANCELLED, FAILED, LOG, QUEUED, RUNNING, log_tail, process_started, read_status, status_lock,
    write_status,
)
from workbench.settings import REPO_ROOT, Settings

POLL_S = 0.5


def say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} runner {os.getpid()}: {msg}", flush=True)


def start_worker(settings: Settings, d: Path) -> subprocess.Popen | None:
    """Move a queued job to running and start its worker; None when it should not run."""
    with status_lock(d):
        st = read_status(d)
        if st.state != QUEUED:
            return None
        if (d / CANCEL_FILE).exists():
            write_status(d, replace(st, state=CANCELLED, finished_at=time.time(), message="cancelled"))
            return None
        with open(d / LOG, "a") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "workbench.jobs.worker", str(d)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=str(REPO_ROOT), env=child_env(settings),
            )
        write_status(d, replace(st, state=RUNNING, pid=proc.pid, pid_started=process_started(proc.pid),
                                started_at=time.time(), message="starting"))
    return proc


def watch(d: Path, proc: subprocess.Popen) -> None:
    """Wait for the worker; escalate a cancel to SIGKILL after the job's grace period; settle its status."""
    grace = read_status(d).cancel_grace_s
    cancel_seen = None
    while proc.poll() is None:
        time.sleep(POLL_S)
        if (d / CANCEL_FILE).exists():
            if cancel_seen is None:
                cancel_seen = time.time()
                proc.send_signal(signal.SIGTERM)
            elif time.time() - cancel_seen > grace:
                say(f"{d.name}: did not stop within {grace:.0f} s of cancel; killing it")
                proc.kill()
    code = proc.returncode
    with status_lock(d):
        st = read_status(d)
        if st.state != RUNNING:
            return  # the worker recorded its own outcome
        if (d / CANCEL_FILE).exists():
            write_status(d, replace(st, state=CANCELLED, finished_at=time.time(), message="cancelled"))
            return
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        last = next((ln for ln in reversed(log_tail(d, 15).splitlines()) if ln.strip()), "")
        error = f"The worker {how}" + (f"; last log line: {last}" if last else "")
        write_status(d, replace(st, state=FAILED, finished_at=time.time(), error=error, message="worker died"))
    with open(d / LOG, "a") as f:
        f.write(f"\n[jobs] {error}\n")


def drain(settings: Settings) -> None:
    """Run queued jobs in submission order until none is left."""
    broken: set[str] = set()
    while True:
        todo = [s for s in queued(settings) if s.job_id not in broken]
        if not todo:
            return
        d = settings.jobs_dir / todo[0].job_id
        try:
            proc = start_worker(settings, d)
            if proc is not None:
                say(f"{d.name}: started worker {proc.pid}")
                watch(d, proc)
                say(f"{d.name}: worker exited with {proc.returncode}")
        except OSError as e:  # an unwritable or vanished job dir must not stall the queue
            say(f"{d.name}: {e}")
            broken.add(d.name)


def main(jobs_dir: str) -> None:
    settings = replace(Settings.from_env(), storage=Path(jobs_dir).resolve().parent)
    lock_path = settings.jobs_dir / RUNNER_LOCK
    while True:
        with open(lock_path, "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return  # another runner owns the queue and re-checks it before it leaves
            try:
                drain(settings)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        # A job submitted while we held the lock saw it taken and counted on us: look once more.
        if not queued(settings):
            return


if __name__ == "__main__":
    main(sys.argv[1])
