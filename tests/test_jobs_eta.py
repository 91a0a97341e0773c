"""The ETA counts from the first progress report, so a slow model load before step 1 does not inflate it."""
from __future__ import annotations

import time

from workbench.jobs.context import JobContext
from workbench.jobs.store import RUNNING, JobStatus, read_status, write_json_atomic, write_status


def test_eta_uses_the_pace_since_the_first_step(tmp_path, settings):
    d = tmp_path / "job"
    d.mkdir()
    write_json_atomic(d / "spec.json", {})
    # Started 300 s ago (a long model load), then 10 steps of 100 reported over the last 10 s.
    write_status(d, JobStatus(job_id="job", kind="t", handler="m:f", state=RUNNING, started_at=time.time() - 300))
    ctx = JobContext(d, settings)
    ctx.progress(1, 100)
    st = read_status(d)
    assert st.eta_s is None  # one report: no pace yet
    write_status(d, JobStatus.from_json({**st.to_json(), "pace_from": [time.time() - 10, 1]}))
    ctx.progress(11, 100)
    eta = read_status(d).eta_s
    # 10 steps in 10 s, 89 left: about 89 s (the old rule, elapsed / step, said 300 / 11 * 89 = 2,427 s).
    assert 80 < eta < 100, eta
