"""A job's JSON result (result.json in its folder), its throttled progress, and the newest job of a kind for a key.

Pages find their work again after an app restart with `latest(settings, kind, key)`: every job submitted
for one subject (a collection's index, a collection name, the sample workspace) carries that subject as
`spec["key"]`. Results are plain JSON written atomically: reading one never runs code.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from workbench.jobs.context import JobContext
from workbench.jobs.queue import list_jobs
from workbench.jobs.store import JobStatus, read_spec
from workbench.files import write_json_atomic
from workbench.settings import Settings

RESULT = "result.json"
PROGRESS_EVERY_S = 0.25  # status.json is rewritten (fsync) per report: at most four times a second
T = TypeVar("T")


class ResultError(ValueError):
    """A result file that cannot be read back; the message is meant for the user."""


def write_result(job_dir: Path, data: dict) -> None:
    """Store a handler's result as `result.json` (readers see the old file or the new one)."""
    write_json_atomic(Path(job_dir) / RESULT, data)


def read_result(job_dir: Path, from_json: Callable[[dict], T]) -> T | None:
    """The job's result through `from_json`; None when it wrote none; ResultError when it is damaged."""
    path = Path(job_dir) / RESULT
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise TypeError(f"a JSON object was expected, not {type(data).__name__}")
        return from_json(data)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as e:
        raise ResultError(f"The result of job {Path(job_dir).name} could not be read ({type(e).__name__}: "
                          f"{str(e)[:200]}). Run it again.") from e


def latest(settings: Settings, kind: str, key: str) -> JobStatus | None:
    """The newest job of `kind` submitted for `key` (spec["key"]), or None."""
    for st in list_jobs(settings, kind):
        try:
            spec = read_spec(settings.jobs_dir / st.job_id)
        except (OSError, ValueError):
            continue  # a job folder being deleted
        if isinstance(spec, dict) and spec.get("key") == key:
            return st
    return None


def reporter(ctx: JobContext) -> Callable[[float, str], None]:
    """A `progress(fraction, message)` for library code that records it on the job, throttled (ends always land)."""
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.monotonic()
        if fraction < 1.0 and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        ctx.progress(int(round(max(0.0, min(1.0, fraction)) * 1000)), 1000, message)

    return progress
