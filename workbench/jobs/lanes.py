"""Lanes and their runners: one runner process per lane, proven by an flock on `.runner-LANE.lock`.

Whoever starts a runner takes the lane's lock first and hands the locked file to the child, so from the
moment of the spawn the lane counts as served: two app processes noticing at once start one runner, and
a page refresh during the runner's start-up starts none.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import subprocess
import sys

from workbench.jobs.launch import child_env
from workbench.settings import REPO_ROOT, Settings

DEFAULT_LANE = "default"
LANE_MODES = ("separate", "single")  # Settings.job_lanes
RUNNER_LOG = "runner.log"
_LANE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def lane_for(settings: Settings, lane: str) -> str:
    """The lane a job asking for `lane` runs in under these settings ("single": everything in one)."""
    if not _LANE.fullmatch(lane or ""):
        raise ValueError(f"A lane is 1-32 lowercase letters, digits, '-' or '_', got {lane!r}")
    if settings.job_lanes not in LANE_MODES:
        raise ValueError(f"WORKBENCH_JOB_LANES must be one of {', '.join(LANE_MODES)}, got {settings.job_lanes!r}")
    return DEFAULT_LANE if settings.job_lanes == "single" else lane


def lock_path(settings: Settings, lane: str):
    return settings.jobs_dir / f".runner-{lane}.lock"


def runner_active(settings: Settings, lane: str | None = None) -> bool:
    """True while a runner holds `lane`'s lock (any lane's when None)."""
    if lane is None:
        return any(runner_active(settings, p.name[len(".runner-"):-len(".lock")])
                   for p in settings.jobs_dir.glob(".runner-*.lock"))
    path = lock_path(settings, lane)
    if not path.exists():
        return False
    try:
        with open(path, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(f, fcntl.LOCK_UN)
            return False
    except BlockingIOError:
        return True
    except OSError:
        return False


def start_runner(settings: Settings, lane: str) -> bool:
    """Start `lane`'s runner unless one holds the lane; True when this call started it."""
    try:
        lock = open(lock_path(settings, lane), "a")
    except OSError:
        return False  # a jobs folder that takes no writes: no runner could record anything either
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        log: object = subprocess.DEVNULL
        with contextlib.suppress(OSError):
            log = open(settings.jobs_dir / RUNNER_LOG, "a")
        try:
            # A new session: closing the browser, reloading or stopping Streamlit leaves the runner alone.
            # The child inherits the locked file; our copy closes below, the lock stays with the child.
            subprocess.Popen(
                [sys.executable, "-m", "workbench.jobs.runner", str(settings.jobs_dir), lane, str(lock.fileno())],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, pass_fds=(lock.fileno(),),
                start_new_session=True, cwd=str(REPO_ROOT), env=child_env(settings),
            )
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
    return True


def start_runners(settings: Settings, lanes) -> list[str]:
    """Start the runner of every lane in `lanes` that has none; returns the lanes started."""
    return [lane for lane in sorted(set(lanes)) if start_runner(settings, lane)]


def release_inherited(fd: int) -> None:
    """Drop a lane lock handed over by `start_runner` (the runner's exit does this too)."""
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
