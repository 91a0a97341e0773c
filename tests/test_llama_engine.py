"""The llama.cpp engine with the real bundled model: choice, streaming, cancel, adapters per request on one
base, the transformers fallback, a crashed request, and batched evaluation answers."""
from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import SHARED_MODELS
from workbench.models.generator import AdapterError, GenerationConfig, engine_for
from workbench.models.registry import ModelError
from workbench.settings import Settings

pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Name three colours."}]
CFG = GenerationConfig(max_new_tokens=8)


def test_engine_choice_follows_the_settings():
    s = Settings(models_root=SHARED_MODELS, device="cpu")
    assert engine_for(s) == "llama.cpp"
    assert engine_for(replace(s, engine="transformers")) == "transformers"
    assert engine_for(s, "/some/hf/folder") == "transformers"  # no GGUF for other models
    with pytest.raises(ModelError, match="bundled model only"):
        engine_for(replace(s, engine="llama.cpp"), "/some/hf/folder")
    with pytest.raises(ModelError, match="WORKBENCH_ENGINE"):
        engine_for(replace(s, engine="vllm"))


@pytest.fixture(scope="module")
def one_slot(real_generator, torch_generator, tmp_path_factory):
    """A second llama.cpp generator with a single slot (so a request that is not cancelled would block)."""
    from workbench.models.llama_engine import LlamaCppGenerator

    return LlamaCppGenerator(real_generator.name, real_generator.path, real_generator.gguf,
                             tmp_path_factory.mktemp("lora"), threads=2, fallback=lambda: torch_generator, slots=1)


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory, real_generator):
    from tests.test_generator_adapters import make_lora_adapter

    return make_lora_adapter(tmp_path_factory.mktemp("adapter") / "demo-lora", real_generator.path)


def test_default_generator_is_llama_cpp_and_streams_what_generate_returns(real_generator):
    assert real_generator.engine == "llama.cpp" and real_generator.gguf.name.endswith("-serving-q8_0.gguf")
    stats: list = []
    pieces = list(real_generator.stream(QUESTION, CFG, stats_out=stats))
    assert len(pieces) > 1
    r = real_generator.generate(QUESTION, CFG)
    assert "".join(pieces).strip() == r.text
    prompt_tokens = real_generator.count_tokens(real_generator.render(QUESTION))
    assert stats[0].prompt_tokens == prompt_tokens and 0 < stats[0].completion_tokens <= 8
    assert 0 < stats[0].ttft_s <= stats[0].latency_s


def test_closing_a_stream_frees_the_slot_at_once(one_slot):
    stream = one_slot.stream([{"role": "user", "content": "Write a very long story about the sea."}],
                             GenerationConfig(max_new_tokens=1500))
    for i, _ in enumerate(stream):
        if i == 3:
            break
    stream.close()
    t0 = time.perf_counter()
    r = one_slot.generate(QUESTION, CFG)  # one slot: waits for the long answer unless it was cancelled
    assert r.text and time.perf_counter() - t0 < 5


def test_adapter_per_request_on_one_base(one_slot, lora_adapter):
    before = one_slot.generate(QUESTION, CFG).text
    restarts = one_slot.restarts
    tuned = one_slot.generate(QUESTION, CFG, adapter=lora_adapter).text
    assert tuned != before
    assert one_slot.restarts == restarts + 1  # the server took the new adapter once
    assert one_slot.generate(QUESTION, CFG).text == before  # base again, same server
    assert one_slot.generate(QUESTION, CFG, adapter=lora_adapter).text == tuned
    assert one_slot.restarts == restarts + 1, "the adapter was loaded twice"
    got: dict[str, list[str]] = {"base": [], "tuned": []}

    def session(kind):
        for _ in range(2):
            got[kind].append(one_slot.generate(QUESTION, CFG, adapter=lora_adapter if kind == "tuned" else None).text)

    threads = [threading.Thread(target=session, args=(k,)) for k in ("base", "tuned")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == {"base": [before] * 2, "tuned": [tuned] * 2}


def test_adapter_for_another_base_is_refused(one_slot, lora_adapter, tmp_path):
    bad = tmp_path / "other"
    shutil.copytree(lora_adapter, bad)
    cfg = json.loads((bad / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = "meta-llama/Llama-3.1-8B"
    (bad / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(AdapterError, match="trained on"):
        one_slot.generate(QUESTION, CFG, adapter=bad)


def test_adapter_llama_cpp_cannot_take_is_answered_by_transformers_with_a_note(one_slot, lora_adapter, tmp_path):
    dora = tmp_path / "dora"
    shutil.copytree(lora_adapter, dora)
    cfg = json.loads((dora / "adapter_config.json").read_text())
    cfg["use_dora"] = True  # no GGUF LoRA for DoRA: the conversion refuses
    (dora / "adapter_config.json").write_text(json.dumps(cfg))
    prepared: list = []
    text = "".join(one_slot.stream(QUESTION, CFG, adapter=dora, prepared_out=prepared))
    assert text.strip()
    assert "transformers engine" in prepared[0].note and "DoRA" in prepared[0].note


def test_a_crashed_request_is_an_error_and_the_next_question_works(one_slot):
    class Dying:
        def handle_completions(self, req, cb):
            raise RuntimeError("server thread died")

    with one_slot.lock:
        one_slot._server = Dying()
    with pytest.raises(ModelError, match="server thread died"):
        one_slot.generate(QUESTION, CFG)
    assert one_slot.generate(QUESTION, CFG).text  # a fresh server answered


def test_evaluation_answers_side_by_side_as_one_at_a_time(real_generator):
    from workbench.evaluation import runs
    from workbench.questions import Question

    items = [Question(id=f"q{i}", question=q) for i, q in enumerate(
        ["What is 2 + 2?", "Name a colour.", "What is the capital of Italy?", "Say hello.", "Name a fruit.",
         "What is water made of?", "Name an ocean.", "What is a verb?"])]
    spec = runs.RunSpec(set_name="t", setups=("base",), collection="none", max_new_tokens=12)
    todo = [(i, s) for i in items for s in spec.setups]

    before = real_generator.parallel

    def answers(width):
        real_generator.parallel = width
        got = {}
        try:
            n = runs.answer_all(real_generator, spec, todo, {}, runs.PlainContext(),
                                lambda r: got.__setitem__((r["id"], r["setup"]), r))
        finally:
            real_generator.parallel = before
        assert n == len(todo) and not any(r.get("error") for r in got.values())
        return {k: r["text"] for k, r in got.items()}

    one, batched = answers(1), answers(4)
    assert one.keys() == batched.keys()
    same = sum(one[k] == batched[k] for k in one)
    assert same >= len(one) - 1, f"only {same}/{len(one)} answers agree between batched and one at a time"


def test_cancel_stops_a_batched_evaluation(real_generator):
    from workbench.evaluation import runs
    from workbench.questions import Question

    items = [Question(id=f"q{i}", question=f"Write a long story number {i}.") for i in range(8)]
    spec = runs.RunSpec(set_name="t", setups=("base",), collection="none", max_new_tokens=200)
    t0 = time.perf_counter()
    kept: list = []
    before, real_generator.parallel = real_generator.parallel, 4
    try:
        n = runs.answer_all(real_generator, spec, [(i, "base") for i in items], {},
                            runs.PlainContext(cancel_after=2), kept.append)
    finally:
        real_generator.parallel = before
    assert 2 <= n < 8 and len(kept) == n
    assert time.perf_counter() - t0 < 60


def test_a_shared_prompt_prefix_is_read_once_and_history_never_changes_an_answer(one_slot):
    """The prompt cache: a recipe's instructions (the same on every question) are read once per slot, and an
    answer is the same whatever was asked before, with the cache and without it (WORKBENCH_PROMPT_CACHE=0)."""
    system = ("You answer questions about a small company's handbook. Be brief and factual. " * 12).strip()
    questions = ["How many vacation days do new staff get?", "Who approves travel?", "When is payday?",
                 "What is the dress code?"]
    msgs = [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in questions]
    other = [{"role": "system", "content": "Answer in one word. " * 30}, {"role": "user", "content": "Colour?"}]
    cfg = GenerationConfig(max_new_tokens=16)

    def answer_all(order):
        out = {}
        for k in order:
            stats: list = []
            one_slot.generate(other, cfg)  # something else in the slot and the prompt cache in between
            text = "".join(one_slot.stream(msgs[k], cfg, stats_out=stats))
            out[k] = (text, stats[0])
        return out

    shared = len(one_slot.tokenizer(one_slot.tokenizer.apply_chat_template(msgs[0][:1], tokenize=False),
                                    add_special_tokens=False)["input_ids"])
    assert shared > 100
    before = one_slot.prompt_cache
    try:
        for cache in (False, True):
            one_slot.prompt_cache = cache  # a fresh server when it changes: nothing cached yet
            first, second = answer_all([0, 1, 2, 3]), answer_all([3, 1, 2, 0, 0])
            assert {k: t for k, (t, _) in first.items()} == {k: t for k, (t, _) in second.items()}, cache
            if not cache:
                assert all(s.prompt_reused == 0 for _, s in first.values())
            else:  # the head was found again (in the prompt cache: the slot held the other prompt meanwhile)
                assert first[0][1].prompt_reused < 16  # read fresh (bar the chat template's shared opening)
                for _, s in second.values():
                    assert shared - 2 <= s.prompt_reused < s.prompt_tokens, (s.prompt_reused, shared, s.prompt_tokens)
    finally:
        one_slot.prompt_cache = before
    assert all(t.strip() for t, _ in first.values())


def test_the_prompt_cache_never_carries_one_adapter_into_another(one_slot, lora_adapter):
    """A prompt's KV depends on the adapter (it changes k/v projections): a head read under one adapter is never
    served to another; each answer is the one that adapter gives from a clean cache."""
    msgs = [{"role": "system", "content": "You write short, plain answers for a help desk. " * 10},
            {"role": "user", "content": "Name three colours."}]
    before, one_slot.prompt_cache = one_slot.prompt_cache, True

    def ask(kind):
        stats: list = []
        text = "".join(one_slot.stream(msgs, CFG, stats_out=stats, adapter=lora_adapter if kind == "tuned" else None))
        return text, stats[0].prompt_reused

    try:
        one_slot.clear_cache()
        clean = {"tuned": ask("tuned")[0]}
        one_slot.clear_cache()
        clean["base"] = ask("base")[0]
        assert clean["base"] != clean["tuned"]
        text, reused = ask("tuned")  # the head is cached, but under the base weights: read again
        assert (text, reused) == (clean["tuned"], 0)
        text, reused = ask("tuned")  # now cached under this adapter
        assert text == clean["tuned"] and reused > 48
        assert ask("base")[0] == clean["base"]
    finally:
        one_slot.prompt_cache = before
