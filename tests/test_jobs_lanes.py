"""Lanes (side by side, or one queue on small machines), why a job waits, and the launcher seam."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import replace

import pytest

from tests.fakes import DEMO_HANDLER, final_status, wait_for
from workbench import jobs
from workbench.jobs.launch import LocalLauncher, launcher_for, launcher_named
from workbench.jobs.store import JobStatus, read_status
from workbench.settings import Settings


pytestmark = pytest.mark.usefixtures("stop_jobs")


def test_a_short_job_does_not_wait_behind_training_in_another_lane(settings):
    long = jobs.submit(settings, "finetune", {"n": 300, "sleep_s": 0.1}, handler=DEMO_HANDLER, name="long",
                       lane="training")
    wait_for(lambda: jobs.get(settings, long.job_id).step >= 1)
    short = jobs.submit(settings, "sweep", {"n": 2, "sleep_s": 0.01}, handler=DEMO_HANDLER)
    assert short.lane == "default" and long.lane == "training"
    assert final_status(settings, short.job_id).state == jobs.SUCCEEDED
    assert jobs.get(settings, long.job_id).state == jobs.RUNNING
    assert jobs.runner_active(settings, "training")


def test_single_lane_mode_queues_everything_in_one_lane_and_says_why(settings):
    one = replace(settings, job_lanes="single")
    long = jobs.submit(one, "finetune", {"n": 300, "sleep_s": 0.1}, handler=DEMO_HANDLER, name="long",
                       lane="training")
    short = jobs.submit(one, "sweep", {"n": 2, "sleep_s": 0.01}, handler=DEMO_HANDLER, name="sweep")
    later = jobs.submit(one, "sweep", {"n": 2, "sleep_s": 0.01}, handler=DEMO_HANDLER, name="later")
    assert long.lane == short.lane == "default"
    wait_for(lambda: jobs.get(one, long.job_id).step >= 1)
    s = jobs.get(one, short.job_id)
    assert s.state == jobs.QUEUED
    assert jobs.waiting_reason(one, s) == "waiting for 'long' (default lane) to finish"
    assert jobs.waiting_reason(one, jobs.get(one, later.job_id)) == (
        "waiting for 'long' (default lane) to finish, then 1 queued ahead of it")
    assert jobs.waiting_reason(one, jobs.get(one, long.job_id)) == ""


def test_waiting_reason_names_the_place_in_line():
    def job(i, state, lane="default"):
        return JobStatus(job_id=f"j{i}", kind="demo", handler="m:f", name=f"job {i}", state=state, lane=lane,
                         submitted_ns=i)

    listing = [job(1, jobs.QUEUED), job(2, jobs.QUEUED), job(3, jobs.RUNNING, "training"), job(4, jobs.QUEUED)]
    settings = Settings()
    assert jobs.waiting_reason(settings, listing[0], listing) == "next in the default lane (starting)"
    assert jobs.waiting_reason(settings, listing[1], listing) == "second in the default lane"
    assert jobs.waiting_reason(settings, listing[3], listing) == "third in the default lane"


def test_bad_lanes_are_refused_before_anything_is_queued(settings):
    with pytest.raises(jobs.JobError, match="lowercase"):
        jobs.submit(settings, "demo", {}, handler=DEMO_HANDLER, lane="../x")
    with pytest.raises(jobs.JobError, match="WORKBENCH_JOB_LANES must be one of separate, single"):
        jobs.submit(replace(settings, job_lanes="many"), "demo", {}, handler=DEMO_HANDLER)
    assert jobs.list_jobs(settings) == []
    assert Settings.from_env({"WORKBENCH_JOB_LANES": "single"}).job_lanes == "single"
    assert Settings.from_env({}).job_lanes == "separate"


def test_a_status_written_before_lanes_and_launchers_loads_as_default_and_local(settings):
    d = settings.jobs_dir / "20240101-000000-000000-demo-abcdef"
    d.mkdir()
    (d / "status.json").write_text(json.dumps({
        "job_id": d.name, "kind": "demo", "handler": DEMO_HANDLER, "state": "succeeded", "submitted_ns": 1}))
    (st,) = jobs.list_jobs(settings)
    assert (st.lane, st.launcher, st.external_id) == ("default", "local", None)
    assert read_status(d).state == jobs.SUCCEEDED


def test_local_launcher_answers_for_a_worker_it_did_not_start(settings):
    """alive/stop/poll work from any process: here a launcher instance that never saw the worker."""
    assert isinstance(launcher_for(settings), LocalLauncher) and launcher_for(settings).name == "local"
    with pytest.raises(ValueError, match="Unknown launcher 'nope'"):
        launcher_named("nope")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        from workbench.jobs.store import process_started

        st = JobStatus(job_id="x", kind="demo", handler="m:f", state=jobs.RUNNING, pid=proc.pid,
                       pid_started=process_started(proc.pid))
        other = LocalLauncher()
        assert other.alive(st) and other.poll(st) is None
        assert not other.alive(replace(st, pid_started=st.pid_started - 100))  # a recycled pid is not it
        other.stop(st, force=True)
        proc.wait(5)
        assert not other.alive(st) and other.poll(st) == 1
        assert "died without finishing" in other.death_reason(st, settings.jobs_dir)
    finally:
        proc.kill()
    # A worker marked running whose pid never arrived counts as alive for a while, then as never started.
    fresh = JobStatus(job_id="y", kind="demo", handler="m:f", state=jobs.RUNNING, started_at=time.time())
    assert LocalLauncher().alive(fresh)
    assert not LocalLauncher().alive(replace(fresh, started_at=time.time() - 3600))
