"""Faults of the job machinery through real processes: killed runners, unwritable and full job folders,
two app processes on one jobs folder, submissions racing a runner's exit."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.fakes import final_status, submit_demo, wait_for
from workbench import jobs
from workbench.jobs.queue import scan
from workbench.jobs.store import process_alive, read_status

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("stop_jobs")


def raw(settings, job_id):
    """The stored status, read without the API (which would start runners and settle jobs itself)."""
    return read_status(settings.jobs_dir / job_id)


def raw_final(settings, job_id, timeout=30.0):
    return wait_for(lambda: (s := raw(settings, job_id)).is_final and s, timeout)


def runners(settings, lane="default") -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if "workbench.jobs.runner" in cmd and str(settings.jobs_dir) in cmd and lane in cmd[cmd.index(
                "workbench.jobs.runner") + 2:]:
            with contextlib.suppress(psutil.Error):
                if p.status() != psutil.STATUS_ZOMBIE:
                    out.append(p)
    return out


def kill_runner(settings, lane="default") -> int:
    (runner,) = wait_for(lambda: runners(settings, lane))
    runner.kill()
    runner.wait(5)
    return runner.pid


def test_killed_runner_is_replaced_by_whoever_looks_and_the_new_one_adopts_the_live_worker(settings):
    first = submit_demo(settings, {"n": 25, "sleep_s": 0.1}, name="first")
    nxt = submit_demo(settings, {"n": 1, "sleep_s": 0.01}, name="next")
    wait_for(lambda: raw(settings, first.job_id).step >= 2)
    old = kill_runner(settings)
    worker = raw(settings, first.job_id)
    assert worker.state == jobs.RUNNING and process_alive(worker.pid, worker.pid_started)
    # A look at the job is enough to bring the lane back: a new runner, which adopts the live worker.
    assert jobs.get(settings, first.job_id).state == jobs.RUNNING
    (new,) = wait_for(lambda: runners(settings))
    assert new.pid != old
    wait_for(lambda: "adopting" in (settings.jobs_dir / "runner.log").read_text())
    while process_alive(worker.pid, worker.pid_started):  # one job per lane: the next one waits for it
        assert raw(settings, nxt.job_id).state == jobs.QUEUED
        time.sleep(0.1)
    done, after = raw_final(settings, first.job_id), raw_final(settings, nxt.job_id)
    assert done.state == after.state == jobs.SUCCEEDED, (done.error, after.error)
    assert done.finished_at <= after.started_at
    log = jobs.log_tail(settings.jobs_dir / first.job_id, 200)
    assert log.count(f"job {first.job_id} (demo) started") == 1


def test_queued_jobs_do_not_wait_for_a_page_after_the_runner_is_killed(settings):
    first = submit_demo(settings, {"n": 10, "sleep_s": 0.1})
    nxt = submit_demo(settings, {"n": 1, "sleep_s": 0.01})
    wait_for(lambda: raw(settings, first.job_id).step >= 1)
    kill_runner(settings)
    # Nobody calls get/list/reconcile: the finishing worker itself starts the lane's runner again.
    assert raw_final(settings, first.job_id).state == jobs.SUCCEEDED
    assert raw_final(settings, nxt.job_id, timeout=20).state == jobs.SUCCEEDED


def test_cancel_escalates_to_a_kill_while_the_runner_is_dead(settings):
    stubborn = submit_demo(settings, {"n": 500, "sleep_s": 0.1, "stubborn": True}, cancel_grace_s=1.0)
    wait_for(lambda: raw(settings, stubborn.job_id).step >= 1)
    kill_runner(settings)
    t0 = time.time()
    jobs.cancel(settings, stubborn.job_id)
    st = raw_final(settings, stubborn.job_id, timeout=15)
    assert st.state == jobs.CANCELLED and time.time() - t0 < 8
    assert not process_alive(st.pid, st.pid_started)


def test_cancel_escalates_from_a_listing_when_no_runner_can_take_over(settings, monkeypatch):
    stubborn = submit_demo(settings, {"n": 500, "sleep_s": 0.1, "stubborn": True}, cancel_grace_s=0.5)
    wait_for(lambda: raw(settings, stubborn.job_id).step >= 1)
    kill_runner(settings)
    monkeypatch.setattr("workbench.jobs.queue.start_runner", lambda *a: False)
    monkeypatch.setattr("workbench.jobs.queue.start_runners", lambda *a: [])
    monkeypatch.setattr("workbench.jobs.queue.ESCALATE_SLACK_S", 0.5)
    jobs.cancel(settings, stubborn.job_id)
    st = final_status(settings, stubborn.job_id, 15)
    assert st.state == jobs.CANCELLED and not process_alive(st.pid, st.pid_started)


def read_only(path: Path):
    """Make a folder refuse writes: chmod for an ordinary user, a read-only bind mount for root."""
    if os.geteuid() != 0:
        path.chmod(0o555)
        return lambda: path.chmod(0o755)
    try:
        subprocess.run(["mount", "--bind", str(path), str(path)], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(path)], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"root without mount: cannot make a folder read-only ({e})")
    return lambda: subprocess.run(["umount", "-l", str(path)], check=True)


def test_unwritable_job_folder_fails_that_job_with_the_reason_and_the_runner_goes_on_calmly(settings):
    blocker = submit_demo(settings, {"n": 500, "sleep_s": 0.05})
    victim = submit_demo(settings, {"n": 1, "sleep_s": 0.01}, name="victim")
    tail = submit_demo(settings, {"n": 30, "sleep_s": 0.1})
    wait_for(lambda: raw(settings, blocker.job_id).step >= 1)
    (runner,) = runners(settings)
    cpu0 = sum(runner.cpu_times()[:2])
    undo = read_only(settings.jobs_dir / victim.job_id)
    try:
        jobs.cancel(settings, blocker.job_id)
        wait_for(lambda: raw(settings, tail.job_id).step >= 10)
        listed = {s.job_id: s for s in jobs.list_jobs(settings)}
        st = listed[victim.job_id]
        assert st.state == jobs.FAILED
        assert "takes no writes" in st.error and ("Read-only" in st.error or "Permission denied" in st.error)
        assert jobs.get(settings, victim.job_id).state == jobs.FAILED
        # While the next job runs (1 s+ of it so far), the runner idles instead of retrying the bad folder.
        assert sum(runner.cpu_times()[:2]) - cpu0 < 1.0
        assert (settings.jobs_dir / "runner.log").stat().st_size < 5000
        assert raw_final(settings, tail.job_id).state == jobs.SUCCEEDED
        with pytest.raises(jobs.JobError, match="Cannot delete"):
            jobs.delete(settings, victim.job_id)
    finally:
        undo()
    jobs.delete(settings, victim.job_id)
    assert victim.job_id not in {s.job_id for s in jobs.list_jobs(settings)}
    assert not (settings.jobs_dir / ".notes" / f"{victim.job_id}.json").exists()


def fill_disk(ctx):
    """Handler: write to the job folder until the device is full (the OSError ends the job)."""
    with open(ctx.dir / "big.bin", "wb") as f:
        while True:
            f.write(b"\0" * 65536)
            f.flush()


@pytest.fixture
def small_jobs_disk(settings):
    """settings.jobs_dir on a 2 MB tmpfs (needs root and mount); skipped where it cannot be made."""
    if os.geteuid() != 0:
        pytest.skip("a small tmpfs needs root")
    try:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(settings.jobs_dir)],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"cannot mount a tmpfs here: {e}")
    yield settings.jobs_dir
    for j in jobs.list_jobs(settings):
        if not j.is_final:
            with contextlib.suppress(Exception):
                jobs.cancel(settings, j.job_id)
    subprocess.run(["umount", "-l", str(settings.jobs_dir)], check=False)


def test_full_disk_fails_the_jobs_with_the_reason_and_the_runner_survives(settings, small_jobs_disk):
    filler = jobs.submit(settings, "demo", {}, handler="tests.test_jobs_faults:fill_disk", name="filler")
    behind = submit_demo(settings, {"n": 3, "sleep_s": 0.01}, name="behind")
    st = raw_final(settings, filler.job_id)
    assert st.state == jobs.FAILED and "No space left on device" in st.error
    # The disk is still full: the job behind it fails too, with the reason, instead of stranding.
    st2 = raw_final(settings, behind.job_id)
    assert st2.state == jobs.FAILED and "No space left on device" in (st2.error + jobs.log_tail(
        settings.jobs_dir / behind.job_id)), st2
    assert "Traceback" not in (settings.jobs_dir / "runner.log").read_text()
    # Space freed: the queue works again.
    (settings.jobs_dir / filler.job_id / "big.bin").unlink()
    again = submit_demo(settings, {"n": 2, "sleep_s": 0.01})
    assert raw_final(settings, again.job_id).state == jobs.SUCCEEDED


APP = textwrap.dedent("""
    import sys, time
    from workbench import jobs
    from workbench.settings import Settings
    settings = Settings.from_env()
    lanes = ["default", "training"]
    mine = [jobs.submit(settings, "demo", {"n": 6, "sleep_s": 0.05}, handler="tests.fakes:count",
                        lane=lanes[i % 2]).job_id for i in range(3)]
    end = time.time() + 60
    while time.time() < end:
        seen = jobs.reconcile(settings)
        for j in mine:
            jobs.get(settings, j)
        jobs.list_jobs(settings, "demo")
        if len(seen) == 6 and all(s.is_final for s in seen):
            break
        time.sleep(0.02)
    print(" ".join(mine))
""")


def test_two_app_processes_on_one_jobs_folder_run_each_job_once_one_per_lane(settings):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    apps = [subprocess.Popen([sys.executable, "-c", APP], env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    # Mid-way, the default lane's runner is killed: both apps notice, one new runner takes the lane.
    wait_for(lambda: any(s.state == jobs.RUNNING and s.lane == "default" for s in scan(settings)), 30)
    kill_runner(settings)
    most = {"default": 0, "training": 0}
    while any(a.poll() is None for a in apps):
        for lane in most:
            most[lane] = max(most[lane], sum(1 for s in scan(settings) if s.lane == lane and s.state == jobs.RUNNING))
        time.sleep(0.05)
    assert all(a.returncode == 0 for a in apps)
    done = jobs.list_jobs(settings)
    assert len(done) == 6 and all(s.state == jobs.SUCCEEDED for s in done), [(s.state, s.error) for s in done]
    # Never two at once in a lane: by sampling (which may miss short jobs on a fast machine) and, exactly, by
    # the jobs' own start and end times.
    assert all(n <= 1 for n in most.values()), most
    for lane in most:
        spans = sorted((s.started_at, s.finished_at) for s in done if s.lane == lane)
        assert spans and all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), (lane, spans)
    for lane in most:
        spans = sorted((s.started_at, s.finished_at) for s in done if s.lane == lane)
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), f"two {lane} jobs overlapped: {spans}"
    for s in done:
        log = jobs.log_tail(settings.jobs_dir / s.job_id, 200)
        assert log.count(f"job {s.job_id} (demo) started") == 1, log
        assert json.loads((settings.jobs_dir / s.job_id / "status.json").read_text())["result"] == {"total": 21}


def test_jobs_submitted_while_the_runner_shuts_down_are_not_stranded(settings):
    for delay in (0, 0.002, 0.01, 0.03, 0, 0.05):
        job = submit_demo(settings, {"n": 1, "sleep_s": 0.0})
        # Submit the next one as the runner finds its lane empty and leaves.
        wait_for(lambda: raw(settings, job.job_id).is_final, timeout=20, every=0.002)
        time.sleep(delay)
    last = submit_demo(settings, {"n": 1, "sleep_s": 0.0})
    assert raw_final(settings, last.job_id, timeout=20).state == jobs.SUCCEEDED
    assert all(s.state == jobs.SUCCEEDED for s in scan(settings))
