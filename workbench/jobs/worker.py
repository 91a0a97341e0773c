"""One job in its own process: `python -m workbench.jobs.worker JOB_DIR` runs the job's handler.

stdout and stderr go to the job's log.txt (the launcher opens it), so library output lands there too.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import traceback
from dataclasses import replace
from pathlib import Path

from workbench.jobs.context import JobCancelled, JobContext, resolve
from workbench.jobs.store import (
    CANCELLED, FAILED, RUNNING, SUCCEEDED, process_started, read_status, status_lock, update_status, write_status,
)
from workbench.settings import Settings


def take_over(job_dir: Path):
    """Record this process as the job's worker; None when the job is no longer ours to run."""
    with status_lock(job_dir):
        st = read_status(job_dir)
        # Settled meanwhile (e.g. counted as never started), or another worker already reported in.
        if st.state != RUNNING or st.pid not in (None, os.getpid()):
            return None
        st = replace(st, pid=os.getpid(), pid_started=process_started(os.getpid()), message="running",
                     started_at=st.started_at or time.time())
        write_status(job_dir, st)
        return st


def run(job_dir: Path) -> int:
    """Run the handler and record the outcome; exit code 0 when an outcome was recorded."""
    settings = Settings.from_env()
    st = take_over(job_dir)
    if st is None:
        print(f"{time.strftime('%H:%M:%S')} [jobs] worker {os.getpid()}: job is not ours to run; leaving", flush=True)
        return 3
    ctx = JobContext(job_dir, settings)
    signal.signal(signal.SIGTERM, ctx.request_cancel)
    try:
        ctx.log(f"job {ctx.job_id} ({ctx.kind}) started, handler {st.handler}, pid {os.getpid()}")
        result = resolve(st.handler)(ctx)
        if result:
            ctx.result(**result)
        outcome = dict(state=CANCELLED if ctx.cancelled() else SUCCEEDED,
                       message="cancelled" if ctx.cancelled() else "finished")
    except (JobCancelled, KeyboardInterrupt):
        outcome = dict(state=CANCELLED, message="cancelled")
    except BaseException as e:  # every failure ends as "failed" with its reason, never "running"
        # On a full disk the log takes nothing more; the reason still goes to the status.
        with contextlib.suppress(OSError, ValueError):
            traceback.print_exc(file=sys.stdout)
            sys.stdout.flush()
        reason = f"{type(e).__name__}: {e}".strip()
        outcome = dict(state=FAILED, error=reason.splitlines()[0][:500] if reason else type(e).__name__,
                       message="failed")
        if ctx.cancelled():  # a handler torn down by its own cancel (e.g. a killed child) stopped as asked
            outcome = dict(state=CANCELLED, message="cancelled")
    with contextlib.suppress(OSError, ValueError):
        ctx.log(f"job {outcome['state']}")
    update_status(job_dir, finished_at=time.time(), **outcome)
    if st.launcher == "local":
        # If this lane's runner was killed meanwhile, the next job must not wait for a page to notice.
        from workbench.jobs.lanes import start_runner

        with contextlib.suppress(OSError, ValueError):
            start_runner(settings, st.lane)
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
