"""`make gpu-check` (scripts/gpu_check.py): refuses at once without CUDA; its CPU dry run runs every step but
the torchrun leg (tests/test_finetune_distributed.py runs that path as a real job)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, SHARED_MODELS

SCRIPT = REPO / "scripts" / "gpu_check.py"


def run_check(*args: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "WORKBENCH_MODELS_DIR": str(SHARED_MODELS)}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=REPO)


def test_without_cuda_it_stops_at_once_with_a_clear_message(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal cannot happen here")
    p = run_check("--storage", str(tmp_path / "s"), timeout=60)
    assert p.returncode == 2, p.stdout + p.stderr
    assert "gpu-check needs a CUDA GPU" in p.stderr
    assert "RESULT" not in p.stdout and not (tmp_path / "s").exists()  # nothing was started


def test_make_target_runs_the_script():
    p = subprocess.run(["make", "-n", "gpu-check"], capture_output=True, text=True, cwd=REPO, timeout=30)
    assert p.returncode == 0, p.stderr
    assert "scripts/gpu_check.py" in p.stdout
    assert "--skip-distributed" not in p.stdout  # the target runs every leg


def test_help_documents_the_test_only_flag():
    p = run_check("--help", timeout=30)
    assert p.returncode == 0 and "--skip-distributed" in p.stdout and "torchrun" in p.stdout, p.stdout + p.stderr


@pytest.mark.slow
def test_cpu_dry_run_goes_through_every_step_and_never_passes(tmp_path):
    p = run_check("--device", "cpu", "--steps", "1", "--questions", "1", "--batch-size", "2",
                  "--max-new-tokens", "8", "--storage", str(tmp_path / "s"), "--skip-distributed", timeout=600)
    out = p.stdout
    assert p.returncode == 0, out[-3000:] + p.stderr[-3000:]
    assert "CPU DRY RUN" in out
    assert "behaviour dataset: 320 examples" in out and "failed" not in out.split("figures:")[0]
    assert "trained 1 steps on CPU" in out
    assert "data-parallel: skipped (--skip-distributed)" in out and "ddp_s=skipped" in out
    assert not (tmp_path / "s" / "gpu-check-ddp").exists()  # no torchrun leg ran
    assert "evaluation: 5/5 answers without error" in out and "finetuned 1, hybrid 1" in out
    assert "2/2 answers one at a time" in out and " eval_batch_speedup=" in out  # batched vs one at a time
    last = out.strip().splitlines()[-1]
    assert last.startswith("RESULT gpu_decode_tokens_per_s=") and " train_step_s=" in last
    assert last.endswith(" short")  # a CPU run is never a passing GPU check
    assert "short: CPU dry run (not a GPU check)" in out
