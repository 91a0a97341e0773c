"""Background jobs that outlive the browser and the Streamlit process.

One folder per job under `settings.jobs_dir / JOB_ID`:
    spec.json     the job's input (any JSON dict), written once at submission
    status.json   `JobStatus` (state, pid, step/total, message, error, result), replaced atomically
    metrics.jsonl one JSON record per line: {"t": unix time, "step": n, ...values}
    log.txt       the worker's stdout/stderr and `ctx.log()` lines (tracebacks included)
    cancel        present once cancel was requested
plus whatever the handler writes (e.g. `adapter/`).

API (all plain functions taking `Settings`):
    submit(settings, kind, spec, *, handler="module:function", name="", lane="default", cancel_grace_s=30)
                                    -> JobStatus   queue in a lane, start that lane's runner
    get(settings, job_id) -> JobStatus; list_jobs(settings, kind=None) newest first; queued(settings, lane=None)
    waiting_reason(settings, st, jobs=None) -> str   why a queued job waits ("waiting for 'x' (training
                                    lane) to finish", "second in the default lane"); "" when not queued
    cancel(settings, job_id)        queued: cancelled at once; running: the launcher asks the worker to stop
                                    (SIGTERM + cancel file), it stops at the handler's next check and is
                                    killed after its grace period
    delete(settings, job_id)        finished jobs only
    reconcile(settings)             = list_jobs: dead "running" jobs -> failed (with the end of their log),
                                    and every lane with unfinished jobs and no runner gets one
    read_metrics(dir), log_tail(dir, n), job_dir(settings, job_id)

Handlers: `def run_job(ctx: JobContext) -> dict | None`, where ctx has `.spec`, `.dir`, `.settings`,
`.job_id`, `log(msg)`, `metric(step=None, **values)`, `progress(step, total, message="")`,
`result(**values)`, `cancelled() -> bool`, `check_cancel()` (raises JobCancelled). Return a dict to
store as the result. Raising ends the job "failed" with the traceback in log.txt; a cancel ends it
"cancelled". The package that owns a kind of work owns its handler and passes it to `submit`; `jobs`
knows no kinds.

Lanes (workbench.jobs.lanes): one job at a time per lane, lanes side by side, so a short sweep does not
wait behind a training run (fine-tunes use lane "training"). `WORKBENCH_JOB_LANES=single` (Settings.job_lanes)
puts every job in the "default" lane, for small machines.

Processes: `submit` starts `python -m workbench.jobs.runner JOBS_DIR LANE` (new session) holding the flock
on `.runner-LANE.lock`, taken by the starter and handed down, so one runner serves a lane. The runner
adopts a still-live worker of its lane (its predecessor was killed), then runs queued jobs in submission
order, each through a launcher (workbench.jobs.launch: local processes; the seam for a cluster), and
re-checks the lane after releasing the lock so no job is stranded. get/list_jobs/reconcile/cancel start
a runner for any lane whose runner is gone, and a finishing worker does too. A job whose folder takes no
writes is failed through `jobs_dir/.notes/JOB_ID.json`, which listings lay over its status.
"""
from workbench.jobs.context import JobCancelled, JobContext
from workbench.jobs.lanes import runner_active
from workbench.jobs.queue import (
    cancel, delete, ensure_runners, get, job_dir, list_jobs, queued, reconcile, submit, waiting_reason,
)
from workbench.jobs.store import (
    CANCELLED, FAILED, FINAL_STATES, QUEUED, RUNNING, SUCCEEDED, JobError, JobStatus, log_tail, read_metrics,
    read_spec,
)

__all__ = [
    "JobError", "cancel", "delete", "ensure_runners", "get", "job_dir", "list_jobs", "queued",
    "reconcile", "runner_active", "submit", "waiting_reason", "CANCELLED", "FAILED", "FINAL_STATES",
    "QUEUED", "RUNNING", "SUCCEEDED", "JobStatus", "log_tail", "read_metrics", "read_spec", "JobCancelled",
    "JobContext",
]
