"""One job in its own process: `python -m workbench.jobs.worker JOB_DIR` runs the job's handler.

stdout and stderr go to the job's log.txt (the runner opens it), so library output lands there too.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from pathlib import Path

from workbench.jobs.context import JobCancelled, JobContext, resolve
from workbench.jobs.store import CANCELLED, FAILED, RUNNING, SUCCEEDED, process_started, update_status
from workbench.settings import Settings


def run(job_dir: Path) -> int:
    """Run the handler and record the outcome; exit code 0 when an outcome was recorded."""
    settings = Settings.from_env()
    ctx = JobContext(job_dir, settings)
    signal.signal(signal.SIGTERM, ctx.request_cancel)
    st = update_status(job_dir, state=RUNNING, pid=os.getpid(), pid_started=process_started(os.getpid()),
                       message="running")
    if st.started_at is None:
        update_status(job_dir, started_at=time.time())
    ctx.log(f"job {ctx.job_id} ({ctx.kind}) started, handler {st.handler}, pid {os.getpid()}")
    outcome: dict = {}
    try:
        result = resolve(st.handler)(ctx)
        if result:
            ctx.result(**result)
        if ctx.cancelled():
            outcome = dict(state=CANCELLED, message="cancelled")
        else:
            outcome = dict(state=SUCCEEDED, message="finished")
    except (JobCancelled, KeyboardInterrupt):
        outcome = dict(state=CANCELLED, message="cancelled")
    except BaseException as e:  # every failure ends as "failed" with its reason, never "running"
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        reason = f"{type(e).__name__}: {e}".strip()
        outcome = dict(state=FAILED, error=reason.splitlines()[0][:500] if reason else type(e).__name__,
                       message="failed")
    ctx.log(f"job {outcome['state']}")
    update_status(job_dir, finished_at=time.time(), **outcome)
    return 0


if __name__ == "__main__":
    sys.exit(run(Path(sys.argv[1])))
