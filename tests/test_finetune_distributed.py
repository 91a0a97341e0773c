"""Data-parallel fine-tuning through torchrun: two real CPU processes (gloo) against one, as a real job.

The two-process run takes each half of every batch and sums gradients, so its loss curve is the
one-process curve up to float summation order (measured 4e-6 relative over 3 steps); the test allows
1e-3, far below the step-to-step change (>30 %) yet above reduction-order noise.
"""
from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from tests.fakes import final_status, tiny_dataset, wait_for
from workbench import finetune, jobs
from workbench.finetune.adapters import AdapterRegistry
from workbench.finetune.distributed import RANKS_DIR, Ranks, _failure, _root_cause, process_count
from workbench.finetune.spec import SpecError, TrainSpec

TINY = dict(dataset="tiny", batch_size=4, max_seq_len=64, val_fraction=0.25, max_val_examples=4,
            lr_schedule="constant", learning_rate=5e-3, seed=1, lora_dropout=0.0, val_interval=0)

pytestmark = pytest.mark.usefixtures("stop_jobs")


def training_processes(worker_pid: int) -> dict[str, psutil.Process]:
    """The worker's torchrun and its ranks: {"torchrun": p, "0": rank 0, "1": rank 1}."""
    out = {}
    for p in psutil.Process(worker_pid).children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
            if "torch.distributed.run" in cmd:
                out["torchrun"] = p
            elif "workbench.finetune.distributed" in cmd:
                out[p.environ()["RANK"]] = p
        except psutil.NoSuchProcess:
            pass
    return out


def running_with_ranks(settings, job_id):
    """Once the job has finished a step: its worker's torchrun and both ranks."""
    st = jobs.get(settings, job_id)
    assert not st.is_final, st.error + jobs.log_tail(settings.jobs_dir / job_id)
    if st.step >= 1 and st.pid and len(procs := training_processes(st.pid)) == 3:
        return procs
    return None


def all_gone(procs) -> bool:
    return not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in procs)


class Recorder:
    def __init__(self):
        self.metrics = []

    def log(self, msg): pass
    def metric(self, step=None, **values): self.metrics.append({"step": step, **values})
    def progress(self, *a, **k): pass
    def cancelled(self): return False


def test_processes_field_and_how_many_processes_run(settings):
    with pytest.raises(SpecError, match="batch size \\(2\\) must be at least the number of processes \\(4\\)"):
        TrainSpec(dataset="d", adapter_name="a", batch_size=2, processes=4)
    with pytest.raises(SpecError, match="processes must be an integer from 0"):
        TrainSpec(dataset="d", adapter_name="a", processes=-1)
    assert TrainSpec.from_json(TrainSpec(dataset="d", adapter_name="a", processes=2).to_json()).processes == 2
    # No CUDA here: "one per GPU" means one process; an explicit count runs CPU processes.
    assert process_count(settings, TrainSpec(dataset="d", adapter_name="a")) == 1
    assert process_count(settings, TrainSpec(dataset="d", adapter_name="a", processes=3)) == 3
    # Interleaved shares cover a batch exactly once, sizes differing by at most one.
    items = list(range(7))
    shares = [Ranks(r, 3).shard(items) for r in range(3)]
    assert sorted(sum(shares, [])) == items and [len(s) for s in shares] == [3, 2, 2]


def test_failure_reason_names_the_root_cause_rank(tmp_path):
    out = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 16757)  (SIGTERM)
-------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-30_20:29:05
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 16758)  (SIGKILL)
  error_file: <N/A>
  traceback : Signal 9 (SIGKILL) received by PID 16758
======================================================="""
    assert _root_cause(out.splitlines()) == (1, "exitcode -9 (pid: 16758) (SIGKILL); "
                                                "traceback Signal 9 (SIGKILL) received by PID 16758")
    assert _root_cause(["a", "Killed", ""]) == (None, "a | Killed")
    # A rank's own error (its exception) beats torchrun's summary of it.
    (tmp_path / "error-1.txt").write_text("ValueError: No training examples left")
    (tmp_path / "error-0.txt").write_text("RuntimeError: Connection closed by peer")
    os.utime(tmp_path / "error-0.txt", (time.time() + 5, time.time() + 5))  # failed after rank 1
    assert _failure(tmp_path, 1, out.splitlines()) == "training rank 1 failed: ValueError: No training examples left"
    assert _failure(tmp_path, 1, ["Killed"]) == "training rank 1 failed: ValueError: No training examples left"


@pytest.mark.slow
def test_two_processes_train_like_one_write_once_and_stop_together_on_cancel(settings):
    from workbench.finetune.train import fit

    tiny_dataset(settings, n=16)
    spec = TrainSpec(adapter_name="dp", max_steps=3, processes=2, **TINY)
    job = finetune.launch(settings, spec)
    done = final_status(settings, job.job_id, 240)
    job_dir = settings.jobs_dir / job.job_id
    assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(job_dir)
    assert done.result["processes"] == 2
    metrics = jobs.read_metrics(job_dir)
    assert [m["step"] for m in metrics] == [1, 2, 3]  # once per step: only rank 0 reports
    log = (job_dir / "log.txt").read_text()
    assert "2 processes through torchrun" in log and "rank 0 of 2: backend gloo" in log
    assert log.count("step 3/3") == 1

    # One adapter: rank 0's, registered once; no checkpoint left behind.
    assert [a.name for a in AdapterRegistry(settings).list()] == ["dp"]
    assert (job_dir / "adapter" / "adapter_model.safetensors").is_file() and not (job_dir / "checkpoint").exists()

    one = Recorder()
    fit(settings, spec.with_(processes=1), settings.storage / "one", one)
    two_losses, one_losses = [m["loss"] for m in metrics], [m["loss"] for m in one.metrics]
    assert one_losses[-1] < 0.5 * one_losses[0] and two_losses[-1] < 0.5 * two_losses[0]
    assert two_losses == pytest.approx(one_losses, rel=1e-3)
    print(f"losses: two processes {two_losses}, one process {one_losses}")

    # Cancel mid-run: both ranks and torchrun stop, the job ends cancelled with rank 0's checkpoint.
    long = finetune.launch(settings, TrainSpec(adapter_name="dp-long", max_steps=500, processes=2, **TINY))
    procs = wait_for(lambda: running_with_ranks(settings, long.job_id), 180)
    t0 = time.time()
    jobs.cancel(settings, long.job_id)
    st = final_status(settings, long.job_id, 60)
    assert st.state == jobs.CANCELLED, st.error
    wait_for(lambda: all_gone(procs.values()), 15)
    print(f"cancel: every training process gone {time.time() - t0:.1f} s after the cancel")
    long_dir = settings.jobs_dir / long.job_id
    assert (long_dir / "checkpoint" / "adapter_model.safetensors").is_file()
    assert not (long_dir / "adapter").exists() and not AdapterRegistry(settings).exists("dp-long")
    steps = [m["step"] for m in jobs.read_metrics(long_dir)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) < 500


@pytest.mark.slow
def test_a_crashed_rank_or_a_killed_worker_fails_the_job_and_leaves_no_process(settings):
    tiny_dataset(settings, n=16)
    job = finetune.launch(settings, TrainSpec(adapter_name="dp-crash", max_steps=500, processes=2, **TINY))
    procs = wait_for(lambda: running_with_ranks(settings, job.job_id), 180)
    os.kill(procs["1"].pid, signal.SIGKILL)
    st = final_status(settings, job.job_id, 60)
    assert st.state == jobs.FAILED
    assert "RankFailed: training rank 1 failed" in st.error and "SIGKILL" in st.error, st.error
    wait_for(lambda: all_gone(procs.values()), 15)
    assert not (settings.jobs_dir / job.job_id / RANKS_DIR / "stop").exists()

    # The worker SIGKILLed (the runner's last resort): torchrun dies with it, the ranks with torchrun.
    job = finetune.launch(settings, TrainSpec(adapter_name="dp-orphan", max_steps=500, processes=2, **TINY))
    procs = wait_for(lambda: running_with_ranks(settings, job.job_id), 180)
    os.kill(jobs.get(settings, job.job_id).pid, signal.SIGKILL)
    wait_for(lambda: all_gone(procs.values()), 15)
    assert final_status(settings, job.job_id, 60).state == jobs.FAILED
