"""The transformers engine through the real bundled model: adapters on the shared base, concurrency, trimming, speed path."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from workbench.models.generator import AdapterError, GenerationConfig

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Name three colours."}]
CFG = GenerationConfig(max_new_tokens=6)


def make_lora_adapter(out_dir: Path, base_path: str, seed: int = 0) -> Path:
    """A real PEFT LoRA adapter on the bundled model, with non-zero B so it changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.2)
    peft_model.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def lora_adapter(tmp_path_factory, real_generator):
    return make_lora_adapter(tmp_path_factory.mktemp("adapter") / "demo-lora", real_generator.path)


@pytest.fixture
def gen(torch_generator):
    # The session generator is shared with other tests: start and leave it without adapters.
    torch_generator.detach_adapters()
    yield torch_generator
    torch_generator.detach_adapters()


def test_adapter_changes_output_and_base_is_restored(gen, lora_adapter):
    before = gen.generate(QUESTION, CFG).text
    tuned = gen.generate(QUESTION, CFG, adapter=lora_adapter)
    assert tuned.text != before
    assert gen.active_adapter() == str(lora_adapter)
    assert len(gen.adapters) == 1
    # Base again: the adapter is disabled, not reloaded, and the answer is the original one.
    assert gen.generate(QUESTION, CFG).text == before
    assert gen.active_adapter() is None
    gen.generate(QUESTION, CFG, adapter=lora_adapter)
    assert len(gen.adapters) == 1, "the adapter was loaded twice"


def test_two_sessions_get_their_own_adapter(gen, lora_adapter):
    ref_base = gen.generate(QUESTION, CFG).text
    ref_tuned = gen.generate(QUESTION, CFG, adapter=lora_adapter).text
    got: dict[str, list[str]] = {"base": [], "tuned": []}

    def session(kind):
        for _ in range(2):
            r = gen.generate(QUESTION, CFG, adapter=lora_adapter if kind == "tuned" else None)
            got[kind].append(r.text)

    threads = [threading.Thread(target=session, args=(k,)) for k in ("base", "tuned")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got["base"] == [ref_base] * 2
    assert got["tuned"] == [ref_tuned] * 2


def test_adapter_for_another_base_model_is_refused(gen, lora_adapter, tmp_path):
    other = tmp_path / "other-base"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "llama", "hidden_size": 2048,
                                                   "num_hidden_layers": 16, "vocab_size": 128256}))
    bad = tmp_path / "bad-adapter"
    bad.mkdir()
    cfg = json.loads((lora_adapter / "adapter_config.json").read_text())
    (bad / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": str(other)}))
    with pytest.raises(AdapterError, match="hidden_size: adapter 2048 vs loaded 576"):
        gen.generate(QUESTION, CFG, adapter=bad)
    (bad / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": "meta-llama/Llama-3.1-8B"}))
    with pytest.raises(AdapterError, match="Llama-3.1-8B"):
        gen.generate(QUESTION, CFG, adapter=bad)
    with pytest.raises(AdapterError, match="no adapter_config.json"):
        gen.generate(QUESTION, CFG, adapter=tmp_path)
    assert gen.adapters == {}


def test_overlong_prompt_is_trimmed_with_a_note(gen):
    long_history = []
    for i in range(40):
        long_history += [{"role": "user", "content": f"Question {i}: " + "tell me more " * 60},
                         {"role": "assistant", "content": "More. " * 60}]
    msgs = [{"role": "system", "content": "Be brief."}, *long_history,
            {"role": "user", "content": "What is 2+2?"}]
    prepared = gen.prepare(msgs, CFG)
    assert prepared.note and "dropped" in prepared.note
    assert prepared.prompt_tokens <= gen.context_window - CFG.max_new_tokens
    assert prepared.messages[0]["content"] == "Be brief." and prepared.messages[-1]["content"] == "What is 2+2?"
    huge = [{"role": "user", "content": "Context: " + "lorem ipsum " * 9000 + " Question: what is the capital of France?"}]
    prepared = gen.prepare(huge, CFG)
    assert "middle" in prepared.note and prepared.messages[-1]["content"].endswith("capital of France?")
    assert prepared.prompt_tokens <= gen.context_window - CFG.max_new_tokens


def test_streaming_yields_pieces_and_matches_generate(gen):
    stats = []
    pieces = list(gen.stream(QUESTION, CFG, stats_out=stats))
    assert len([p for p in pieces if p]) >= 2
    assert "".join(pieces).strip() == gen.generate(QUESTION, CFG).text
    s = stats[0]
    assert 0 < s.completion_tokens <= CFG.max_new_tokens and s.ttft_s is not None and s.ttft_s <= s.latency_s


def test_prompt_lookup_keeps_greedy_answers_identical(gen):
    ctx = ("The Keelhouse warranty lasts 24 months from delivery. Returns are accepted within 30 days "
           "if the device is unused and in its original packaging.")
    msgs = [{"role": "user", "content": f"Context: {ctx}\n\nQuestion: How long does the warranty last?"}]
    cfg = GenerationConfig(max_new_tokens=16)
    fast = gen.generate(msgs, cfg).text
    saved, gen.prompt_lookup_tokens = gen.prompt_lookup_tokens, None
    try:
        plain = gen.generate(msgs, cfg).text
    finally:
        gen.prompt_lookup_tokens = saved
    assert fast == plain


def test_closing_a_stream_cancels_the_generation(gen):
    import time

    stream = gen.stream(QUESTION, GenerationConfig(max_new_tokens=400))
    next(p for p in stream if p)
    t0 = time.perf_counter()
    stream.close()
    # The model lock is released within a few tokens, not after the 400 asked for.
    assert gen.lock.acquire(timeout=20)
    gen.lock.release()
    assert time.perf_counter() - t0 < 20
