"""The background-job machinery through real processes: queue order, cancel, crashes, kill -9, restarts."""
from __future__ import annotations

import os
import re
import signal
import time

import pytest

from tests.fakes import final_status, submit_demo, wait_for
from workbench import jobs
from workbench.jobs.store import process_alive


def test_job_runs_and_leaves_a_full_record(settings):
    st = submit_demo(settings, {"n": 4, "sleep_s": 0.05}, name="counting")
    assert st.state in (jobs.QUEUED, jobs.RUNNING)
    done = final_status(settings, st.job_id)
    assert done.state == jobs.SUCCEEDED, done.error
    assert done.result == {"total": 10} and done.step == done.total == 4
    d = jobs.job_dir(settings, st.job_id)
    assert jobs.read_spec(d) == {"n": 4, "sleep_s": 0.05}
    assert [m["value"] for m in jobs.read_metrics(d)] == [1, 3, 6, 10]
    assert "step 4: total 10" in jobs.log_tail(d)
    assert (d / "out.txt").read_text() == "10"
    assert done.name == "counting" and done.finished_at >= done.started_at


def test_a_handler_that_is_not_module_function_is_refused_before_anything_starts(settings):
    with pytest.raises(jobs.JobError, match="module:function"):
        jobs.submit(settings, "nope", {}, handler="nope")
    assert jobs.list_jobs(settings) == []


def test_queue_runs_one_job_at_a_time_in_submission_order(settings):
    ids = [submit_demo(settings, {"n": 3, "sleep_s": 0.1}).job_id for _ in range(3)]
    # While the first runs, the others wait (queued), in order.
    wait_for(lambda: jobs.get(settings, ids[0]).state != jobs.QUEUED)
    assert [s.job_id for s in jobs.queued(settings)] == [i for i in ids if jobs.get(settings, i).state == jobs.QUEUED]
    done = [final_status(settings, i) for i in ids]
    assert all(s.state == jobs.SUCCEEDED for s in done)
    for prev, nxt in zip(done, done[1:]):
        assert prev.finished_at <= nxt.started_at, "jobs overlapped or ran out of order"


def test_cancel_running_job_stops_within_seconds_and_queued_job_never_runs(settings):
    running = submit_demo(settings, {"n": 500, "sleep_s": 0.1})
    waiting = submit_demo(settings, {"n": 2, "sleep_s": 0.1})
    wait_for(lambda: jobs.get(settings, running.job_id).step >= 2)
    assert jobs.cancel(settings, waiting.job_id).state == jobs.CANCELLED
    t0 = time.time()
    jobs.cancel(settings, running.job_id)
    st = final_status(settings, running.job_id, timeout=10)
    assert st.state == jobs.CANCELLED and time.time() - t0 < 5
    assert st.step < 500
    time.sleep(0.5)
    assert jobs.get(settings, waiting.job_id).started_at is None


def test_worker_that_ignores_cancel_is_killed_after_its_grace_period_and_counts_as_cancelled(settings):
    job = submit_demo(settings, {"n": 500, "sleep_s": 0.1, "stubborn": True}, cancel_grace_s=1.0)
    wait_for(lambda: jobs.get(settings, job.job_id).step >= 1)
    t0 = time.time()
    jobs.cancel(settings, job.job_id)
    st = final_status(settings, job.job_id, timeout=10)
    assert st.state == jobs.CANCELLED and time.time() - t0 < 5
    assert not process_alive(st.pid, st.pid_started)


def test_crashing_handler_fails_with_traceback_and_queue_goes_on(settings):
    bad = submit_demo(settings, {"n": 5, "sleep_s": 0.01, "fail_at": 3})
    missing = jobs.submit(settings, "demo", {}, handler="tests.fakes:no_such_function")
    good = submit_demo(settings, {"n": 1, "sleep_s": 0.01})
    st = final_status(settings, bad.job_id)
    assert st.state == jobs.FAILED and st.error == "RuntimeError: asked to fail at step 3"
    assert "Traceback" in jobs.log_tail(jobs.job_dir(settings, bad.job_id))
    assert final_status(settings, missing.job_id).state == jobs.FAILED
    assert "no_such_function" in final_status(settings, missing.job_id).error
    assert final_status(settings, good.job_id).state == jobs.SUCCEEDED


def test_worker_killed_with_sigkill_is_marked_failed_and_next_job_runs(settings):
    victim = submit_demo(settings, {"n": 500, "sleep_s": 0.1})
    after = submit_demo(settings, {"n": 1, "sleep_s": 0.01})
    # The log line comes after the step's progress: wait for it, so the log's end is known.
    wait_for(lambda: "step 2:" in jobs.log_tail(jobs.job_dir(settings, victim.job_id)))
    st = jobs.get(settings, victim.job_id)
    os.kill(st.pid, signal.SIGKILL)
    dead = final_status(settings, victim.job_id)
    assert dead.state == jobs.FAILED
    # Whoever notices first (the runner, or the app polling) records the death with the log's end.
    assert ("signal 9" in dead.error or "died" in dead.error)
    assert re.search(r"last log line: \S+ step \d+: total", dead.error), dead.error
    assert final_status(settings, after.job_id).state == jobs.SUCCEEDED


def test_app_restart_reattaches_running_jobs_and_settles_dead_ones(settings):
    from workbench.settings import Settings

    job = submit_demo(settings, {"n": 30, "sleep_s": 0.1})
    waiting = submit_demo(settings, {"n": 1, "sleep_s": 0.01})
    wait_for(lambda: jobs.get(settings, job.job_id).step >= 1)
    # A "restarted app": fresh Settings, nothing in memory; the job is found running and progressing.
    fresh = Settings.from_env()
    seen = {s.job_id: s for s in jobs.reconcile(fresh)}
    assert seen[job.job_id].state == jobs.RUNNING and seen[waiting.job_id].state == jobs.QUEUED
    step = seen[job.job_id].step
    wait_for(lambda: jobs.get(fresh, job.job_id).step > step)
    # Now the whole machine "crashes": runner and worker die together.
    st = jobs.get(fresh, job.job_id)
    runner_pid = _runner_pid_of(st.pid)
    os.kill(runner_pid, signal.SIGKILL)
    os.kill(st.pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(st.pid, st.pid_started), timeout=5)
    settled = {s.job_id: s for s in jobs.reconcile(fresh)}[job.job_id]
    assert settled.state == jobs.FAILED and "died" in settled.error
    assert jobs.get(fresh, job.job_id).state == jobs.FAILED  # stored, not just reported
    # The runner died with it; reconcile started a new one, and the queue moves again.
    assert final_status(fresh, waiting.job_id).state == jobs.SUCCEEDED


def _runner_pid_of(worker_pid: int) -> int:
    import psutil

    parent = psutil.Process(worker_pid).parent()
    assert "workbench.jobs.runner" in parent.cmdline()
    return parent.pid


def test_disk_full_and_unwritable_output_fail_the_job_with_the_reason(settings):
    blocker = submit_demo(settings, {"n": 500, "sleep_s": 0.05})
    full = submit_demo(settings, {"n": 3, "sleep_s": 0.01})
    unwritable = submit_demo(settings, {"n": 1, "sleep_s": 0.01, "out": "sub/out.txt"})
    # Before they start: metrics of one go to a full device, the other's output folder is a file.
    os.symlink("/dev/full", jobs.job_dir(settings, full.job_id) / "metrics.jsonl")
    (jobs.job_dir(settings, unwritable.job_id) / "sub").write_text("in the way")
    jobs.cancel(settings, blocker.job_id)
    st = final_status(settings, full.job_id)
    assert st.state == jobs.FAILED and "No space left on device" in st.error
    st2 = final_status(settings, unwritable.job_id)
    assert st2.state == jobs.FAILED and "Not a directory" in st2.error


def test_delete_refuses_unfinished_jobs(settings):
    job = submit_demo(settings, {"n": 100, "sleep_s": 0.1})
    with pytest.raises(jobs.JobError, match="cancel it"):
        jobs.delete(settings, job.job_id)
    jobs.cancel(settings, job.job_id)
    final_status(settings, job.job_id)
    jobs.delete(settings, job.job_id)
    assert jobs.list_jobs(settings) == []
