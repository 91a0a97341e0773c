"""The real training path on the bundled model: a queued job, cancel with checkpoint, a PEFT adapter
that loads and changes the model's output, the registry around it."""
from __future__ import annotations

import io
import json
import time
import zipfile

import pytest

from tests.conftest import SHARED_MODELS
from tests.fakes import final_status, tiny_dataset, wait_for
from workbench import finetune, jobs
from workbench.finetune.adapters import AdapterError, AdapterRegistry
from workbench.finetune.spec import SpecError, TrainSpec

pytestmark = pytest.mark.usefixtures("stop_jobs")


def test_launch_refuses_missing_dataset_and_taken_names_before_anything_starts(settings):
    with pytest.raises(SpecError, match="No dataset named 'nope'"):
        finetune.launch(settings, TrainSpec(dataset="nope", adapter_name="a"))
    tiny_dataset(settings)
    with pytest.raises(SpecError, match="not a valid adapter name"):
        finetune.launch(settings, TrainSpec(dataset="tiny", adapter_name="bad/name"))
    with pytest.raises(SpecError, match="not linear layers .* has .*down_proj"):
        finetune.launch(settings, TrainSpec(dataset="tiny", adapter_name="a", target_modules=("q_proj", "attn")))
    assert jobs.list_jobs(settings) == []


@pytest.mark.slow
def test_real_jobs_queue_cancel_with_checkpoint_and_register_a_working_adapter(settings, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tiny_dataset(settings)
    base = dict(dataset="tiny", batch_size=4, max_seq_len=64, val_fraction=0.25, max_val_examples=3,
                lr_schedule="constant", learning_rate=5e-3, seed=1)
    long_job = finetune.launch(settings, TrainSpec(adapter_name="long", max_steps=500, **base))
    short_spec = TrainSpec(adapter_name="tiny-lora", max_steps=2, val_interval=1, **base)
    short_job = finetune.launch(settings, short_spec)
    # The second job waits while the first runs.
    wait_for(lambda: jobs.get(settings, long_job.job_id).step >= 1, 180)
    assert jobs.get(settings, short_job.job_id).state == jobs.QUEUED
    t0 = time.time()
    jobs.cancel(settings, long_job.job_id)
    cancelled = final_status(settings, long_job.job_id, 60)
    assert cancelled.state == jobs.CANCELLED, cancelled.error
    stop_s = time.time() - t0
    ckpt = settings.jobs_dir / long_job.job_id / "checkpoint"
    assert (ckpt / "adapter_model.safetensors").is_file() and (ckpt / "adapter_config.json").is_file()
    assert not AdapterRegistry(settings).exists("long")

    done = final_status(settings, short_job.job_id, 240)
    assert done.state == jobs.SUCCEEDED, done.error + jobs.log_tail(settings.jobs_dir / short_job.job_id)
    job_dir = settings.jobs_dir / short_job.job_id
    assert TrainSpec.from_json(jobs.read_spec(job_dir)) == short_spec
    metrics = jobs.read_metrics(job_dir)
    assert [m["step"] for m in metrics] == [1, 2]
    assert all(m["loss"] > 0 and m["lr"] == pytest.approx(5e-3) and "val_loss" in m for m in metrics)
    assert done.result["adapter"] == "tiny-lora" and done.result["device"].startswith("CPU")
    print(f"cancel took {stop_s:.1f} s; result {done.result}")

    reg = AdapterRegistry(settings)
    info = reg.get("tiny-lora")
    assert info.base_model == short_spec.base_model and len(info.dataset_hash) == 16
    assert info.final_loss == pytest.approx(metrics[-1]["loss"]) and info.size_mb > 0.1
    assert info.spec == short_spec.to_json()

    # Exported zip: standard PEFT files naming the base by hub id; peft loads it and the output changes.
    with zipfile.ZipFile(io.BytesIO(reg.export_zip("tiny-lora"))) as z:
        z.extractall(tmp_path / "export")
    folder = tmp_path / "export" / "tiny-lora"
    cfg = json.loads((folder / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert cfg["peft_type"] == "LORA" and cfg["r"] == 8
    path = SHARED_MODELS / "SmolLM2-135M-Instruct"
    tok = AutoTokenizer.from_pretrained(path)
    ids = tok("What is 3 plus 3?", return_tensors="pt")["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    with torch.no_grad():
        before = model(ids).logits
        tuned = PeftModel.from_pretrained(model, str(folder)).eval()
        after = tuned(ids).logits
        with tuned.disable_adapter():
            disabled = tuned(ids).logits
    assert (after - before).abs().max() > 1e-3
    assert torch.allclose(disabled, before, atol=1e-5)

    reg.rename("tiny-lora", "renamed")
    assert [a.name for a in reg.list()] == ["renamed"]
    with pytest.raises(AdapterError):
        reg.rename("renamed", "../x")
    reg.delete("renamed")
    assert reg.list() == []
