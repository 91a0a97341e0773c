"""Jobs on a real Ray cluster (`ray start --head` on loopback): the same records as local jobs, cancel, a
killed worker, Ray unreachable at submit time, and the head killed mid-job."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from tests.fakes import final_status, submit_demo, wait_for
from tests.servers import free_port
from workbench import jobs
from workbench.jobs.store import update_status
from workbench.settings import Settings

ray = pytest.importorskip("ray", reason="ray is not installed (requirements.txt pins ray[default])")
from workbench.jobs import ray_launch  # noqa: E402  (needs ray only at call time, but is pointless without it)

RAY = Path(sys.executable).with_name("ray")
# What the pages read from a job's status: a Ray job must show the same as a local one.
SHOWN = ("state", "kind", "name", "lane", "step", "total", "message", "error", "result")


@contextlib.contextmanager
def ray_head() -> Iterator[tuple[str, int]]:
    """A one-node Ray cluster on loopback, every port free and its own temp dir; yields (Jobs API URL, session).

    Every daemon it starts shares the session of `ray start`, so killing that session removes exactly
    this cluster (`ray stop` would stop every Ray on the machine)."""
    # Short: Ray's unix sockets live under it and their paths must stay under 107 bytes.
    temp = tempfile.mkdtemp(prefix="wbray", dir="/tmp")
    dash = free_port()
    ports = {"--port": free_port(), "--dashboard-port": dash, "--ray-client-server-port": free_port(),
             "--node-manager-port": free_port(), "--object-manager-port": free_port(),
             "--dashboard-agent-listen-port": free_port(), "--dashboard-agent-grpc-port": free_port(),
             "--runtime-env-agent-port": free_port(), "--metrics-export-port": free_port()}
    cmd = [str(RAY), "start", "--head", "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
           "--include-dashboard=true", "--num-cpus=4", "--num-gpus=0", "--object-store-memory=100000000",
           f"--temp-dir={temp}", "--disable-usage-stats", *(f"{k}={v}" for k, v in ports.items())]
    starter = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True, env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"))
    session = starter.pid  # a new session's id is its leader's pid; the daemons stay in it
    url = f"http://127.0.0.1:{dash}"
    try:
        out, _ = starter.communicate(timeout=120)
        if starter.returncode != 0:
            raise RuntimeError(f"ray start failed:\n{out[-3000:]}")
        for _ in range(120):
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(url + "/api/version", timeout=2).status == 200:
                    break
            time.sleep(0.5)
        else:
            raise RuntimeError("the Ray dashboard did not answer")
        yield url, session
    finally:
        kill_session(session)
        shutil.rmtree(temp, ignore_errors=True)


def kill_session(session: int) -> None:
    """SIGKILL every process of one session: a Ray head gone at once, as when its machine dies."""
    if session <= 0:
        return
    for p in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getsid(p.pid) == session:
                p.kill()


@pytest.fixture(scope="module")
def head():
    with ray_head() as h:
        yield h


@pytest.fixture
def on_ray(head, monkeypatch, isolated_storage):
    """Settings whose jobs go to the shared head (the runner, a child process, reads the same env)."""
    monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", head[0])
    settings = Settings.from_env().ensure_dirs()
    yield settings
    for st in jobs.list_jobs(settings):
        if not st.is_final:
            jobs.cancel(settings, st.job_id)
    # A runner polls Ray until the Ray job ends, a moment after the worker recorded its outcome: the
    # head must outlive it, or it would wait out the unreachable grace after the module's teardown.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not jobs.runner_active(settings), 30)


def ray_state(settings, st, becomes: str) -> str:
    """Ray's state of the job once it is `becomes` (the worker records its outcome just before it exits)."""
    client = ray_launch.job_client(settings.ray_address)
    with contextlib.suppress(AssertionError):
        wait_for(lambda: client.get_job_status(st.external_id).value == becomes, 20)
    return client.get_job_status(st.external_id).value


@pytest.mark.slow
def test_a_ray_job_leaves_the_same_record_as_a_local_one(on_ray):
    spec = {"n": 4, "sleep_s": 0.05}
    on_ray_st = submit_demo(on_ray, spec, name="counting")
    local_st = submit_demo(replace(on_ray, ray_address=None), spec, name="counting", lane="other")
    assert (on_ray_st.launcher, local_st.launcher) == ("ray", "local")
    done, local = final_status(on_ray, on_ray_st.job_id), final_status(on_ray, local_st.job_id)
    assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(jobs.job_dir(on_ray, done.job_id))
    assert {k: getattr(done, k) for k in SHOWN} == {**{k: getattr(local, k) for k in SHOWN}, "lane": done.lane}
    assert done.external_id == ray_launch.submission_id(done)
    assert ray_state(on_ray, done, "SUCCEEDED") == "SUCCEEDED"
    assert done.pid and done.finished_at >= done.started_at  # the worker reported in from its node
    d = jobs.job_dir(on_ray, done.job_id)
    assert [m["value"] for m in jobs.read_metrics(d)] == [1, 3, 6, 10]
    log = jobs.log_tail(d)
    assert "submitting to Ray" in log and "step 4: total 10" in log and "job succeeded" in log
    assert (d / "out.txt").read_text() == "10"


@pytest.mark.slow
def test_a_training_job_on_ray_registers_its_adapter(on_ray):
    from tests.fakes import tiny_dataset
    from workbench import finetune
    from workbench.finetune.adapters import AdapterRegistry
    from workbench.finetune.spec import TrainSpec

    tiny_dataset(on_ray)
    spec = TrainSpec(dataset="tiny", adapter_name="ray-lora", max_steps=2, val_interval=1, batch_size=4,
                     max_seq_len=64, val_fraction=0.25, max_val_examples=3, lr_schedule="constant", seed=1)
    job = finetune.launch(on_ray, spec)
    done = final_status(on_ray, job.job_id, 300)
    d = jobs.job_dir(on_ray, job.job_id)
    assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(d)
    assert done.launcher == "ray" and done.lane == job.lane and done.step == done.total == 2
    assert [m["step"] for m in jobs.read_metrics(d) if "loss" in m] == [1, 2]
    assert AdapterRegistry(on_ray).exists("ray-lora")


@pytest.mark.slow
def test_an_evaluation_job_on_ray_answers_through_the_real_model(on_ray):
    from workbench.evaluation import runs
    from workbench.evaluation.sample import sample_items

    run_id = runs.submit_run(on_ray, runs.RunSpec(set_name="t", setups=("base",)), sample_items()[:2])
    rec = runs.load_run(on_ray, run_id)
    done = final_status(on_ray, rec.job_id, 240)
    assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(jobs.job_dir(on_ray, rec.job_id))
    assert done.launcher == "ray" and runs.run_status(on_ray, rec).state == jobs.SUCCEEDED
    again = runs.load_run(on_ray, run_id)
    assert len(again.results) == 2 and not again.summary["cancelled"], again.results
    assert all(r["setup"] == "base" and not r.get("error") for r in again.results), again.results


@pytest.mark.slow
def test_a_chunk_sweep_on_ray_stores_its_result_and_drops_its_scratch(on_ray, monkeypatch, fake_embedding_model):
    from tests.fakes import FAKE_MODEL, route_jobs_through_fakes
    from workbench.jobs.results import read_result
    from workbench.knowledge import CollectionConfig, KnowledgeBase
    from workbench.questions import sample_question_set
    from workbench.retrieval import RetrievalSettings
    from workbench.retrieval.jobs import submit_sweep
    from workbench.retrieval.sweep import SweepGrid, SweepResult
    from workbench.sample import kb_files

    route_jobs_through_fakes(monkeypatch)  # the fake embedder in the worker too
    col = KnowledgeBase(on_ray).create("kb", CollectionConfig(embedding_model=FAKE_MODEL))
    assert col.ingest([(p.name, p.read_bytes()) for p in kb_files()]).ok
    grid = SweepGrid(sizes=(300, 400), overlaps=(0,), ks=(2, 4))
    job = submit_sweep(on_ray, col, sample_question_set(), grid, RetrievalSettings(mode="bm25"))
    done = final_status(on_ray, job.job_id, 120)
    d = jobs.job_dir(on_ray, job.job_id)
    assert done.state == jobs.SUCCEEDED and done.launcher == "ray", done.error + jobs.log_tail(d)
    res = read_result(d, SweepResult.from_json)
    assert len(res.rows) == 6 and res.scratch_created == res.scratch_dropped == 3  # + the collection's own chunking
    assert not done.result["scratch_leftover"]


@pytest.mark.slow
def test_cancel_stops_the_ray_job_and_a_stubborn_worker_is_killed_after_its_grace(on_ray):
    polite = submit_demo(on_ray, {"n": 500, "sleep_s": 0.1})
    stubborn = submit_demo(on_ray, {"n": 500, "sleep_s": 0.1, "stubborn": True}, lane="other", cancel_grace_s=2)
    for job in (polite, stubborn):
        wait_for(lambda: jobs.get(on_ray, job.job_id).step >= 2)
    t0 = time.time()
    jobs.cancel(on_ray, polite.job_id)
    jobs.cancel(on_ray, stubborn.job_id)
    st, st2 = final_status(on_ray, polite.job_id, 20), final_status(on_ray, stubborn.job_id, 20)
    assert (st.state, st2.state) == (jobs.CANCELLED, jobs.CANCELLED), (st.error, st2.error)
    assert time.time() - t0 < 15 and st.step < 500 and st2.step < 500
    assert (ray_state(on_ray, st, "STOPPED"), ray_state(on_ray, st2, "STOPPED")) == ("STOPPED", "STOPPED")
    assert not psutil.pid_exists(st2.pid) or psutil.Process(st2.pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.slow
def test_a_killed_ray_worker_fails_with_its_log_tail(on_ray):
    victim = submit_demo(on_ray, {"n": 500, "sleep_s": 0.1})
    st = wait_for(lambda: (s := jobs.get(on_ray, victim.job_id)).step >= 2 and s)
    os.kill(st.pid, signal.SIGKILL)  # one node, so the worker's pid is on this machine
    dead = final_status(on_ray, victim.job_id, 30)
    assert dead.state == jobs.FAILED
    assert "signal 9" in dead.error and "last log line" in dead.error and "step " in dead.error, dead.error
    assert ray_state(on_ray, dead, "FAILED") == "FAILED"
    assert "[jobs]" in jobs.log_tail(jobs.job_dir(on_ray, dead.job_id))


@pytest.mark.slow
def test_a_killed_runner_is_replaced_and_the_new_one_adopts_the_running_ray_job(on_ray):
    job = submit_demo(on_ray, {"n": 30, "sleep_s": 0.1})
    st = wait_for(lambda: (s := jobs.get(on_ray, job.job_id)).step >= 2 and s)
    runner = next(p for p in psutil.process_iter(["cmdline"])
                  if "workbench.jobs.runner" in (p.info["cmdline"] or []) and str(on_ray.jobs_dir) in p.info["cmdline"])
    runner.kill()
    runner.wait(5)
    # As if it died between submitting and recording the Ray job's id: the id is found again from the status.
    update_status(jobs.job_dir(on_ray, job.job_id), external_id=None)
    # The Ray job runs on; the next look at the jobs starts a runner that watches it to its end.
    assert jobs.get(on_ray, job.job_id).state == jobs.RUNNING
    done = final_status(on_ray, job.job_id)
    assert done.state == jobs.SUCCEEDED and done.step == 30
    assert ray_state(on_ray, st, "SUCCEEDED") == "SUCCEEDED"
    assert "adopting its worker (launcher ray" in (on_ray.jobs_dir / "runner.log").read_text()


def test_ray_unreachable_at_submit_refuses_with_a_clear_message_and_queues_nothing(settings):
    nobody = replace(settings, ray_address=f"http://127.0.0.1:{free_port()}")
    said = r"Ray cluster at http://127\.0\.0\.1:\d+ .*cannot be reached: Connection refused.*Nothing was queued"
    with pytest.raises(jobs.JobError, match=said):
        submit_demo(nobody, {"n": 1})
    assert jobs.list_jobs(settings) == []
    assert not any(settings.jobs_dir.iterdir())  # not even a half-written temp folder


def test_a_server_that_is_not_a_ray_head_is_refused_at_submit(settings):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    import threading

    class NotRay(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotRay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        elsewhere = replace(settings, ray_address=f"127.0.0.1:{server.server_port}")
        with pytest.raises(jobs.JobError, match=r"cannot be reached: .*404.*Nothing was queued"):
            submit_demo(elsewhere, {"n": 1})
    finally:
        server.shutdown()
    assert not any(settings.jobs_dir.iterdir())


@pytest.mark.slow
def test_the_ray_head_killed_mid_job_fails_the_job_with_the_reason(monkeypatch, isolated_storage):
    # Its own head: killing the shared one would take the other tests' cluster with it.
    with ray_head() as (url, session):
        monkeypatch.setenv("WORKBENCH_RAY_ADDRESS", url)
        settings = Settings.from_env().ensure_dirs()
        job = submit_demo(settings, {"n": 500, "sleep_s": 0.1})
        st = wait_for(lambda: (s := jobs.get(settings, job.job_id)).step >= 2 and s)
        # This process gives up on a quiet head sooner than the 30 s default; the runner keeps it.
        monkeypatch.setattr(ray_launch, "UNREACHABLE_GRACE_S", 3.0)
        kill_session(session)
        assert jobs.get(settings, job.job_id).state == jobs.RUNNING  # unknown is not dead yet
        dead = final_status(settings, job.job_id, 60)
    assert dead.state == jobs.FAILED and "Ray head unreachable" in dead.error, dead.error
    wait_for(lambda: not psutil.pid_exists(st.pid) or psutil.Process(st.pid).status() == psutil.STATUS_ZOMBIE, 15)
