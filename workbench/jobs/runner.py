"""A lane's runner: `python -m workbench.jobs.runner JOBS_DIR LANE [LOCK_FD]` runs the lane's jobs one at a time.

Only the process holding the lane's `.runner-LANE.lock` flock runs its jobs (workbench.jobs.lanes), so a
lane never runs two jobs at once however many runners are started. A runner first adopts a worker of its
lane that is still alive (its previous runner was killed): it watches it, escalates its cancel and settles
its status, and starts nothing else meanwhile. Then it runs queued jobs in submission order, each in a
worker its launcher starts (workbench.jobs.launch), so a crashing or killed job cannot take the queue
down. A job whose folder takes no writes is failed through the runner's note and skipped, never retried.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from workbench.jobs.lanes import lock_path
from workbench.jobs.launch import Launcher, launcher_named
from workbench.jobs.queue import scan
from workbench.jobs.store import (
    CANCEL_FILE, CANCELLED, QUEUED, RUNNING, JobStatus, fail_outside, read_status, settle, status_lock,
    update_status, write_status,
)
from workbench.settings import Settings

POLL_S = 0.5


def say(msg: str) -> None:
    # runner.log may sit on a full disk: losing a line beats losing the runner.
    with contextlib.suppress(OSError, ValueError):
        print(f"{time.strftime('%H:%M:%S')} runner {os.getpid()}: {msg}", flush=True)


class Runner:
    """Serves one lane of one jobs folder while it holds the lane's lock."""

    def __init__(self, settings: Settings, lane: str):
        self.settings, self.lane = settings, lane
        self.launchers: dict[str, Launcher] = {}
        self.skipped: set[str] = set()  # jobs that could be settled nowhere: never picked up again

    def launcher(self, name: str) -> Launcher:
        if name not in self.launchers:
            self.launchers[name] = launcher_named(name)
        return self.launchers[name]

    def mine(self) -> list[JobStatus]:
        """This lane's unfinished jobs, in submission order."""
        return sorted((s for s in scan(self.settings)
                       if s.lane == self.lane and not s.is_final and s.job_id not in self.skipped),
                      key=lambda s: s.submitted_ns)

    def serve(self) -> None:
        """Adopt the lane's live workers, then run its queued jobs in order, until none is left."""
        while True:
            todo = self.mine()
            if not todo:
                return
            st = next((s for s in todo if s.state == RUNNING), todo[0])
            d = self.settings.jobs_dir / st.job_id
            try:
                if st.state == RUNNING:
                    say(f"{st.job_id}: adopting its worker (launcher {st.launcher}, pid {st.pid})")
                    self.watch(d, st)
                elif st.state == QUEUED:
                    self.run(d, st)
            except Exception as e:  # one bad job must not stop the lane
                say(f"{st.job_id}: {type(e).__name__}: {e}")
                self.give_up(d, st, f"The runner could not handle this job: {type(e).__name__}: {e}")

    def give_up(self, d: Path, st: JobStatus, reason: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            if not settle(d, st, reason).is_final:
                fail_outside(d, st, reason)
        with contextlib.suppress(OSError, ValueError):
            if read_status(d).is_final:
                return
        self.skipped.add(st.job_id)  # neither its folder nor the notes take writes

    def claim(self, d: Path) -> JobStatus | None:
        """Move a queued job to running (no worker yet); None when it should not run."""
        with status_lock(d):
            st = read_status(d)
            if st.state != QUEUED:
                return None
            if (d / CANCEL_FILE).exists():
                write_status(d, replace(st, state=CANCELLED, finished_at=time.time(), message="cancelled"))
                return None
            st = replace(st, state=RUNNING, started_at=time.time(), message="starting", pid=None,
                         pid_started=None, external_id=None)
            write_status(d, st)
            return st

    def run(self, d: Path, st: JobStatus) -> None:
        try:
            claimed = self.claim(d)
        except OSError as e:
            say(f"{st.job_id}: its folder takes no writes: {e}")
            self.give_up(d, st, f"The job's folder takes no writes: {e.strerror or e} ({e.filename or d})")
            return
        if claimed is None:
            return
        launcher = self.launcher(claimed.launcher)
        try:
            fields = launcher.start(self.settings, d, claimed)
        except Exception as e:
            self.give_up(d, claimed, f"Could not start the worker: {type(e).__name__}: {e}")
            return
        try:
            claimed = update_status(d, **fields)
        except OSError:
            claimed = replace(claimed, **fields)
        say(f"{st.job_id}: started worker {fields}")
        self.watch(d, claimed)

    def watch(self, d: Path, st: JobStatus) -> None:
        """Until the worker ends: escalate a cancel after the job's grace period; then settle its status."""
        launcher = self.launcher(st.launcher)
        asked_term = killed = False
        while True:
            with contextlib.suppress(OSError, ValueError, TypeError):
                st = read_status(d)  # the worker may have filled in its pid since
            if launcher.poll(st) is not None:
                break
            try:
                asked = (d / CANCEL_FILE).stat().st_mtime
            except OSError:
                asked = None
            if asked is not None:
                if not asked_term:
                    launcher.stop(st, force=False)
                    asked_term = True
                elif time.time() - asked > st.cancel_grace_s:
                    if not killed:
                        say(f"{st.job_id}: did not stop within {st.cancel_grace_s:.0f} s of cancel; killing it")
                        killed = True
                    launcher.stop(st, force=True)
            time.sleep(POLL_S)
        done = settle(d, st, launcher.death_reason(st, d))
        say(f"{st.job_id}: worker ended, job {done.state}")
        if not done.is_final:
            self.give_up(d, st, done.error or "The worker ended without an outcome")


def main(jobs_dir: str, lane: str, lock_fd: int | None = None) -> None:
    settings = replace(Settings.from_env(), storage=Path(jobs_dir).resolve().parent)
    runner = Runner(settings, lane)
    while True:
        fd, lock_fd = lock_fd, None
        if fd is None:
            try:
                fd = os.open(lock_path(settings, lane), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            except OSError as e:
                say(f"lane {lane}: cannot open its lock: {e}")
                return
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return  # another runner serves the lane and re-checks it before it leaves
        try:
            runner.serve()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        # A job submitted while we held the lock saw the lane served and counted on us: look once more.
        if not runner.mine():
            return


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None)
