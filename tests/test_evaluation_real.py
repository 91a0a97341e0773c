"""Evaluation through the real models and real Chroma: five setups with the sample recipe, then the freshness re-run."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from workbench.answering.sample import sample_recipe
from workbench.evaluation import runs
from workbench.evaluation.freshness import after_spec, applied, apply_change, before_after, sample_change
from workbench.evaluation.report import build_report, to_html
from workbench.evaluation.sample import sample_items
from workbench.evaluation.scoring import score_run
from workbench.knowledge import CollectionConfig, KnowledgeBase
from workbench.models.generator import GenerationConfig
from workbench.sample import kb_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lora_adapter(torch_generator, tmp_path_factory):
    """A small LoRA adapter with non-zero weights on a copy of the bundled model (no training)."""
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    model = get_peft_model(copy.deepcopy(torch_generator.model),
                           LoraConfig(r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    path = tmp_path_factory.mktemp("adapter") / "lora"
    model.save_pretrained(path)
    return str(path)


def test_five_setups_end_to_end_real_models(settings, real_generator, real_embedder, lora_adapter):
    change = sample_change()
    fresh_q = change.question_ids[0]
    items = [i for i in sample_items() if i.id in ("q02", fresh_q)]
    # The forgetting probe (104 more answers) is tested on fakes in test_evaluation_checks.py.
    spec = runs.RunSpec(set_name="sample", collection="kb", adapter_path=lora_adapter, max_new_tokens=12,
                        recipe=sample_recipe().to_json(), probe=False)
    run_id = runs.create_run(settings, spec, items)
    kb = KnowledgeBase(settings, real_embedder)
    collection = kb.create("kb", CollectionConfig())
    # One file per call: ingest tokenizes the next file in a thread while embedding, and the shared
    # fast tokenizer is not thread-safe (seen as a rare "Unable to create tensor" in a batch).
    for p in kb_files():
        if p.suffix in (".md", ".txt") or p.name == change.doc_name:
            collection.ingest([(p.name, p.read_bytes())])
    msgs = [{"role": "user", "content": "Say hello."}]
    before = real_generator.generate(msgs, GenerationConfig(max_new_tokens=8)).text

    summary = runs.execute(settings, run_id, runs.PlainContext(), generator=real_generator)

    assert summary["answers"] == 10 and not summary["cancelled"]
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
    assert set(rs.summaries) == {"base", "prompted", "rag", "finetuned", "hybrid"}
    # The recipe reaches the prompted and RAG prompts (its format statement and shots), not the base one.
    assert text[("q02", "prompted")]["prompt_tokens"] > text[("q02", "base")]["prompt_tokens"] + 100
    assert rs.summaries["rag"].source_retrieved.value == 1.0
    assert "Plotly.newPlot" in to_html(build_report(rs))

    # Freshness: change the fact, re-index, re-run the affected question; RAG now sees the new fact.
    assert not applied(settings, "kb", change, kb=kb)
    assert "re-indexed" in apply_change(settings, "kb", change, kb=kb)
    assert applied(settings, "kb", change, kb=kb)
    after_spec_ = replace(after_spec(rec.spec, change, run_id), setups=("rag",), question_ids=(fresh_q,))
    after_id = runs.create_run(settings, after_spec_, list(rec.items))
    runs.execute(settings, after_id, runs.PlainContext(), generator=real_generator)
    after = runs.load_run(settings, after_id)
    seen = " ".join(p["text"] for p in after.retrieved[fresh_q])
    assert change.new in seen and change.old not in seen
    assert after.items[0].reference == change.new_reference
    rows = before_after(rec, after, change)
    assert [r["setup"] for r in rows] == ["rag"] and rows[0]["before"] == text[(fresh_q, "rag")]["text"]
