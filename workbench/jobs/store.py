"""The job directory on disk: status (written atomically), spec, metrics, log. No processes here."""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import psutil

from workbench.files import write_json_atomic  # noqa: F401  (re-exported: jobs write status through it)

# queued -> running -> one of the final states; a job is never left "running" once its process is gone.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
FINAL_STATES = (SUCCEEDED, FAILED, CANCELLED)

SPEC, STATUS, METRICS, LOG, CANCEL_FILE, LOCK = (
    "spec.json", "status.json", "metrics.jsonl", "log.txt", "cancel", ".status.lock")
# Runner-owned notes, one per job whose own folder could not take its outcome (read-only, gone):
# `jobs_dir/.notes/JOB_ID.json`; `read_status` lays a note over a status that is not final yet.
NOTES = ".notes"


class JobError(ValueError):
    """A job request that cannot be honoured; the message is meant for the user."""


@dataclass(frozen=True)
class JobStatus:
    """The state of one job as stored in its status.json."""

    job_id: str
    kind: str  # "finetune", "eval", ... picks the handler
    handler: str  # "module:function" run by the worker
    state: str = QUEUED
    name: str = ""  # what the user called it
    submitted_ns: int = 0  # time.time_ns() at submission: the queue order
    started_at: float | None = None
    finished_at: float | None = None
    pid: int | None = None  # the worker process
    pid_started: float | None = None  # its create_time, so a recycled pid is not mistaken for it
    step: int = 0
    total: int = 0
    message: str = ""
    error: str = ""  # one line for the UI; the full traceback is in log.txt
    result: dict = field(default_factory=dict)
    updated_at: float = 0.0
    cancel_grace_s: float = 30.0  # after a cancel, how long the worker may take before it is killed
    lane: str = "default"  # one job at a time per lane; jobs of other lanes run alongside
    launcher: str = "local"  # what started the worker (workbench.jobs.launch): "local" or e.g. "ray"
    external_id: str | None = None  # the launcher's own id for the worker (a Ray job id); None for local
    # The first progress report (time, step): the pace is measured from here, so the time spent loading a
    # model before step 1 does not inflate the ETA (a 9-minute run once first showed 3,890 s).
    pace_from: tuple[float, int] | None = None

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total) if self.total else 0.0

    @property
    def elapsed_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.finished_at or time.time()) - self.started_at

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace since the first progress report; None until a second report."""
        if self.state != RUNNING or not self.step or not self.total or not self.pace_from:
            return None
        t0, step0 = self.pace_from
        if self.step <= step0:
            return None
        return (time.time() - t0) / (self.step - step0) * max(0, self.total - self.step)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "JobStatus":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@contextlib.contextmanager
def status_lock(job_dir: Path):
    """Serialise read-modify-write of one job's status between runner, worker and app."""
    with open(job_dir / LOCK, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_status(job_dir: Path) -> JobStatus:
    """The stored status, with the runner's note (if any) laid over a status that is not final yet."""
    st = JobStatus.from_json(json.loads((job_dir / STATUS).read_text()))
    if st.is_final:
        return st
    note = note_path(job_dir)
    if note.is_file():
        with contextlib.suppress(OSError, ValueError):
            return replace(st, **{k: v for k, v in json.loads(note.read_text()).items()
                                  if k in ("state", "error", "message", "finished_at")})
    return st


def write_status(job_dir: Path, st: JobStatus) -> None:
    """Replace status.json atomically; on a full disk, overwrite it in place (its blocks are already ours)."""
    data = replace(st, updated_at=time.time()).to_json()
    try:
        write_json_atomic(job_dir / STATUS, data)
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT) or not (job_dir / STATUS).is_file():
            raise
        # A temp file needs a new block; the old file's own do not. Readers may glimpse a half-written
        # file for an instant (they skip it), which beats an outcome that is never recorded.
        with open(job_dir / STATUS, "r+") as f:
            f.write(json.dumps(data))
            f.truncate()


def note_path(job_dir: Path) -> Path:
    return job_dir.parent / NOTES / f"{job_dir.name}.json"


def write_note(job_dir: Path, **fields) -> None:
    """Record a job's outcome outside its folder (the folder would not take it)."""
    write_json_atomic(note_path(job_dir), fields)


def settle(job_dir: Path, st: JobStatus, reason: str) -> JobStatus:
    """End a job whose worker is gone: cancelled when a cancel was asked for, else failed with `reason`.

    Nothing changes when the job already ended (its worker recorded the outcome) or another worker took
    over; when the folder cannot be written, the outcome goes to the runner's note instead.
    """
    now = time.time()
    try:
        with status_lock(job_dir):
            cur = read_status(job_dir)
            if cur.is_final or (cur.pid, cur.external_id) != (st.pid, st.external_id):
                return cur
            if (job_dir / CANCEL_FILE).exists():  # stopped after a cancel (grace period over): as asked
                new = replace(cur, state=CANCELLED, finished_at=now, message="cancelled (the worker was stopped)")
            else:
                new = replace(cur, state=FAILED, finished_at=now, error=reason[:500], message="worker died")
            write_status(job_dir, new)
        if new.state == FAILED:
            with contextlib.suppress(OSError), open(job_dir / LOG, "a") as f:
                f.write(f"\n[jobs] {reason}\n")
        return new
    except OSError as e:
        return fail_outside(job_dir, st, f"{reason} (and its folder cannot be written: {e.strerror or e})")


def fail_outside(job_dir: Path, st: JobStatus, error: str) -> JobStatus:
    """Fail a job through the runner's note: for a folder that takes no writes. Returns what lists show."""
    fields = dict(state=FAILED, error=error[:500], message="failed", finished_at=time.time())
    with contextlib.suppress(OSError):
        write_note(job_dir, **fields)
    return replace(st, **fields)


def update_status(job_dir: Path, **changes) -> JobStatus:
    """Apply `changes` to the stored status under the job's lock; returns the new status."""
    with status_lock(job_dir):
        st = replace(read_status(job_dir), **changes)
        write_status(job_dir, st)
        return st


def read_spec(job_dir: Path) -> dict:
    return json.loads((job_dir / SPEC).read_text())


def read_metrics(job_dir: Path) -> list[dict]:
    """Every metric record written so far; a half-written last line (job still writing) is skipped."""
    path = job_dir / METRICS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            rows.append(json.loads(line))
    return rows


def log_tail(job_dir: Path, n_lines: int = 40) -> str:
    """The last `n_lines` of the job's log (reads at most the last 64 KB)."""
    path = job_dir / LOG
    if not path.is_file():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        f.seek(max(0, f.tell() - 65536))
        data = f.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-n_lines:])


def process_alive(pid: int | None, started: float | None) -> bool:
    """True when `pid` runs and is the same process that was recorded (not a recycled pid)."""
    if not pid:
        return False
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(p.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def process_started(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None
