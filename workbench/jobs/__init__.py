"""Background jobs that outlive the browser and the Streamlit process.

One folder per job under `settings.jobs_dir / JOB_ID`:
    spec.json     the job's input (any JSON dict), written once at submission
    status.json   `JobStatus` (state, pid, step/total, message, error, result), replaced atomically
    metrics.jsonl one JSON record per line: {"t": unix time, "step": n, ...values}
    log.txt       the worker's stdout/stderr and `ctx.log()` lines (tracebacks included)
    cancel        present once cancel was requested
plus whatever the handler writes (e.g. `adapter/`).

API (all plain functions taking `Settings`):
    submit(settings, kind, spec, handler="module:function", name="") -> JobStatus   queue, start the runner
    get(settings, job_id) -> JobStatus; list_jobs(settings, kind=None) newest first; queued(settings)
    cancel(settings, job_id)        queued: cancelled at once; running: SIGTERM + cancel file, stops
                                    at the handler's next check (killed after 30 s)
    delete(settings, job_id)        finished jobs only
    reconcile(settings)             call when a page opens: dead "running" jobs -> failed (with the end
                                    of their log), and a runner is started if jobs wait
    read_metrics(dir), log_tail(dir, n), job_dir(settings, job_id)

Handlers: `def run_job(ctx: JobContext) -> dict | None`, where ctx has `.spec`, `.dir`, `.settings`,
`.job_id`, `log(msg)`, `metric(step=None, **values)`, `progress(step, total, message="")`,
`result(**values)`, `cancelled() -> bool`, `check_cancel()` (raises JobCancelled). Return a dict to
store as the result. Raising ends the job "failed" with the traceback in log.txt; a cancel ends it
"cancelled". The package that owns a kind of work owns its handler and passes it to `submit`:
"finetune" (workbench.finetune.train:run_job), "eval" (workbench.evaluation.runs:run_job), "eval_judge"
(workbench.evaluation.judge:run_job), "synthetic_qa" (workbench.finetune.synthetic:run_job). `submit(..., cancel_grace_s=30)` sets how long a cancelled worker
may take before the runner kills it (it still ends "cancelled").

Processes: `submit` starts `python -m workbench.jobs.runner JOBS_DIR` (new session). The runner holds
an flock on `.runner.lock` so one job runs at a time, runs queued jobs in submission order, each in
`python -m workbench.jobs.worker JOB_DIR` (new session, stdout to log.txt), and re-checks the queue
after releasing the lock so no job is stranded. Each running job records its worker's pid and start
time, so after an app restart a job whose worker died is marked failed instead of "running" forever.
"""
from workbench.jobs.queue import (
    JobError, cancel, delete, ensure_runner, get, job_dir, list_jobs, queued, reconcile,
    runner_active, submit,
)
from workbench.jobs.store import (
    CANCELLED, FAILED, FINAL_STATES, QUEUED, RUNNING, SUCCEEDED, JobStatus, log_tail, read_metrics, read_spec,
)
from workbench.jobs.context import JobCancelled, JobContext

__all__ = [
    "JobError", "cancel", "delete", "ensure_runner", "get", "job_dir", "list_jobs", "queued",
    "reconcile", "runner_active", "submit", "CANCELLED", "FAILED", "FINAL_STATES",
    "QUEUED", "RUNNING", "SUCCEEDED", "JobStatus", "log_tail", "read_metrics", "read_spec", "JobCancelled",
    "JobContext",
]
