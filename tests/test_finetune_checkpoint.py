"""A cancelled training job's last checkpoint can be kept as an adapter, from the Training jobs page."""
from __future__ import annotations

import json
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.pages import rendered_text
from workbench import jobs
from workbench.finetune.adapters import AdapterRegistry
from workbench.finetune.spec import preset

PAGES = Path(__file__).parents[1] / "pages"


def training_until_cancelled(ctx) -> None:
    """A stand-in training loop: two steps, a checkpoint, then waits to be cancelled."""
    ckpt = ctx.dir / "checkpoint"
    ckpt.mkdir()
    (ckpt / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (ckpt / "adapter_model.safetensors").write_bytes(b"\0" * 1000)
    for step in (1, 2):
        ctx.metric(step=step, loss=2.0 / step)
        ctx.progress(step, 10)
    while True:
        ctx.check_cancel()
        time.sleep(0.1)


def test_a_cancelled_jobs_checkpoint_becomes_a_partial_adapter(settings):
    import streamlit as st

    st.cache_resource.clear()
    spec = preset("Quick CPU demo", "spell", "spell-lora").to_json()
    job = jobs.submit(settings, "finetune", spec, name="spell-lora",
                      handler="tests.test_finetune_checkpoint:training_until_cancelled")
    end = time.time() + 60
    while jobs.get(settings, job.job_id).step < 2 and time.time() < end:
        time.sleep(0.2)
    jobs.cancel(settings, job.job_id)
    while not jobs.get(settings, job.job_id).is_final and time.time() < end:
        time.sleep(0.2)
    assert jobs.get(settings, job.job_id).state == jobs.CANCELLED

    at = AppTest.from_file(str(PAGES / "finetune_jobs.py"), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "last checkpoint (step 2)" in " ".join(rendered_text(str(w.value)) for w in at.warning)
    next(b for b in at.button if b.label == "Register the checkpoint as an adapter").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Registered as adapter 'spell-lora-step2'" in " ".join(rendered_text(str(s.value)) for s in at.success)
    info = AdapterRegistry(settings).get("spell-lora-step2")
    assert info.partial_steps == 2 and info.job_id == job.job_id
