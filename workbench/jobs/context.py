"""What a job handler gets (`JobContext`) and how a handler target "module:function" is found."""
from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from workbench.jobs.store import (
    CANCEL_FILE, METRICS, read_spec, read_status, status_lock, update_status, write_status,
)
from workbench.settings import Settings


class JobCancelled(Exception):
    """Raised by `JobContext.check_cancel()`; the job ends as cancelled, not failed."""


class JobContext:
    """What a handler gets: its spec and folder, and ways to report log lines, metrics and progress."""

    def __init__(self, job_dir: Path, settings: Settings):
        self.dir = job_dir
        self.settings = settings
        status = read_status(job_dir)
        self.job_id, self.kind, self.name = status.job_id, status.kind, status.name
        self.spec: dict = read_spec(job_dir)
        self._cancel = False

    def log(self, msg: str) -> None:
        """One timestamped line in log.txt."""
        print(f"{time.strftime('%H:%M:%S')} {msg}", flush=True)

    def metric(self, step: int | None = None, **values) -> None:
        """Append one record to metrics.jsonl (e.g. step=10, loss=1.2, lr=2e-4)."""
        rec = {"t": time.time(), "step": step, **values}
        with open(self.dir / METRICS, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def progress(self, step: int, total: int, message: str = "") -> None:
        """Record how far the job is; the UI computes the ETA from it."""
        with status_lock(self.dir):
            st = read_status(self.dir)
            pace_from = st.pace_from or (time.time(), int(step))
            write_status(self.dir, replace(st, step=int(step), total=int(total), message=message,
                                           pace_from=tuple(pace_from)))

    def result(self, **values) -> None:
        """Merge values into the job's stored result (visible before the job ends)."""
        with status_lock(self.dir):
            st = read_status(self.dir)
            write_status(self.dir, replace(st, result={**st.result, **values}))

    def cancelled(self) -> bool:
        """True once the user asked the job to stop (cancel file or SIGTERM)."""
        return self._cancel or (self.dir / CANCEL_FILE).exists()

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled()

    def request_cancel(self, *_args) -> None:
        self._cancel = True


def resolve(target: str) -> Callable[[JobContext], dict | None]:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)
