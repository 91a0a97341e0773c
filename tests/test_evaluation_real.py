"""Evaluation through the real models: four setups in-process, and a background job with cancel."""
from __future__ import annotations

import copy
import time

import pytest

from workbench.evaluation import runs
from workbench.evaluation.report import build_report, to_html
from workbench.evaluation.sample import sample_items
from workbench.evaluation.scoring import score_run
from workbench.models.generator import GenerationConfig
from workbench.retrieval.memory import MemoryCollection
from workbench.sample import kb_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lora_adapter(real_generator, tmp_path_factory):
    """A small LoRA adapter with non-zero weights on a copy of the bundled model (no training)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(copy.deepcopy(real_generator.model),
                           LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    path = tmp_path_factory.mktemp("adapter") / "lora"
    model.save_pretrained(path)
    return str(path)


def test_four_setups_end_to_end_real_models(settings, real_generator, real_embedder, lora_adapter):
    items = [i for i in sample_items() if i.id in ("q02", "q07")]
    spec = runs.RunSpec(set_name="sample", collection="kb", adapter_path=lora_adapter, max_new_tokens=12)
    run_id = runs.create_run(settings, spec, items)
    docs = {p.name: p.read_text() for p in kb_files() if p.suffix in (".md", ".txt")}
    collection = MemoryCollection("kb", real_embedder, docs)
    msgs = [{"role": "user", "content": "Say hello."}]
    before = real_generator.generate(msgs, GenerationConfig(max_new_tokens=8)).text

    summary = runs.execute(settings, run_id, runs.PlainContext(), generator=real_generator, collection=collection)

    assert summary["answers"] == 8 and not summary["cancelled"]
    rec = runs.load_run(settings, run_id)
    assert all(not r["error"] and r["completion_tokens"] > 0 for r in rec.results)
    assert any(p["doc_name"] == "keelhouse_pricing.md" for p in rec.retrieved["q02"])
    text = {(r["id"], r["setup"]): r for r in rec.results}
    # The adapter is active only for finetuned/hybrid: their answers differ from base/RAG.
    assert text[("q02", "finetuned")]["text"] != text[("q02", "base")]["text"]
    assert text[("q02", "hybrid")]["text"] != text[("q02", "rag")]["text"]
    # Retrieved context costs prompt tokens.
    assert text[("q02", "rag")]["prompt_tokens"] > text[("q02", "base")]["prompt_tokens"] + 50
    # The shared generator is left as it was found (adapter removed).
    assert real_generator.generate(msgs, GenerationConfig(max_new_tokens=8)).text == before
    rs = score_run(rec)
    assert set(rs.summaries) == {"base", "rag", "finetuned", "hybrid"}
    assert rs.summaries["rag"].hit_at_k == 1.0
    assert "Plotly.newPlot" in to_html(build_report(rs))


def test_background_job_progress_cancel_and_reload(settings):
    from workbench import jobs

    items = sample_items()[:12]
    spec = runs.RunSpec(set_name="sample", setups=("base",), max_new_tokens=8)
    run_id = runs.submit_run(settings, spec, items)
    rec = runs.load_run(settings, run_id)
    deadline = time.time() + 120
    while time.time() < deadline and len(runs.load_run(settings, run_id).results) < 2:
        time.sleep(0.5)
    assert len(runs.load_run(settings, run_id).results) >= 2, jobs.log_tail(jobs.job_dir(settings, rec.job_id), 20)
    assert runs.run_status(settings, rec).state == jobs.RUNNING
    runs.cancel_run(settings, run_id)
    deadline = time.time() + 30
    while time.time() < deadline and not runs.run_status(settings, rec).is_final:
        time.sleep(0.3)
    st = runs.run_status(settings, rec)
    assert st.state == jobs.CANCELLED, (st, jobs.log_tail(jobs.job_dir(settings, rec.job_id), 30))
    # A "reload": everything comes back from disk.
    again = runs.load_run(settings, run_id)
    assert again.summary["cancelled"] and 2 <= len(again.results) < 12
    assert score_run(again).summaries["base"].n == len(again.results)
