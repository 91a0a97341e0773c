"""Datasets, spec and the loop's pure parts: parsing with row-level errors, rendering, splitting, batching."""
from __future__ import annotations

import csv
import io
import json
import random

import pytest

from tests.conftest import SHARED_MODELS
from workbench.finetune import datasets as ds
from workbench.finetune.spec import PRESETS, SpecError, TrainSpec, preset
from workbench.finetune.train import batch_order, collate, lr_factor, prepare, total_steps


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(SHARED_MODELS / "SmolLM2-135M-Instruct")


def jsonl(*rows) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows).encode()


def test_three_shapes_parse_and_bad_rows_get_line_numbers_and_reasons():
    data = jsonl(
        {"prompt": "Capital of France?", "completion": "Paris"},
        {"instruction": "Translate", "input": "bonjour", "output": "hello"},
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        "{not json",
        {"prompt": "no answer"},
        {"messages": [{"role": "user", "content": "hi"}]},
        {"question": "?", "answer": "!"},
        "",
        [1, 2],
    )
    r = ds.parse_dataset("mixed.jsonl", data)
    assert len(r.examples) == 3 and r.n_rows == 8
    assert r.shapes == {"prompt/completion": 1, "alpaca": 1, "chat": 1}
    errors = {e.line: e.reason for e in r.errors}
    assert set(errors) == {4, 5, 6, 7, 9}
    assert "not valid JSON" in errors[4]
    assert "completion" in errors[5]
    assert "assistant" in errors[6]
    assert "unknown shape" in errors[7]
    assert "expected an object" in errors[9]
    alpaca = r.examples[1]
    assert alpaca.messages[-2] == ("user", "Translate\n\nbonjour") and alpaca.completion == "hello"
    assert all(ex.messages[0][0] == "system" for ex in r.examples)


def test_json_array_and_csv_files():
    arr = json.dumps([{"prompt": "a", "completion": "b"}, {"prompt": "", "completion": "x"}]).encode()
    r = ds.parse_dataset("d.json", arr)
    assert len(r.examples) == 1 and r.errors[0].line == 2 and "prompt" in r.errors[0].reason
    csv_bytes = b'prompt,completion\n"Why, though?",Because\nonly prompt,\n'
    r = ds.parse_dataset("d.csv", csv_bytes)
    assert [ex.completion for ex in r.examples] == ["Because"]
    assert r.errors[0].line == 3
    msgs = json.dumps([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}])
    buf = io.StringIO()
    csv.writer(buf).writerows([["messages"], [msgs]])
    r = ds.parse_dataset("c.csv", buf.getvalue().encode())
    assert r.examples[0].completion == "a"


def test_unusable_files_give_clear_errors():
    assert ds.parse_dataset("empty.jsonl", b"").examples == ()
    with pytest.raises(ds.DatasetError, match="not UTF-8"):
        ds.parse_dataset("x.jsonl", b"\xff\xfe\x00bad")
    with pytest.raises(ds.DatasetError, match="unsupported file type"):
        ds.parse_dataset("x.parquet", b"PAR1")
    with pytest.raises(ds.DatasetError, match="not valid JSON"):
        ds.parse_dataset("x.json", b"[{]")
    with pytest.raises(ds.DatasetError, match="limit"):
        ds.parse_dataset("x.jsonl", b"x" * 100, max_bytes=10)


def test_store_list_load_delete(settings):
    r = ds.parse_dataset("d.jsonl", jsonl({"prompt": "p1", "completion": "c1"}, {"prompt": "p2", "completion": "c2"}))
    with pytest.raises(ds.DatasetError, match="no usable examples"):
        ds.save_dataset(settings, "empty", [], source="x")
    with pytest.raises(ds.DatasetError, match="not a valid dataset name"):
        ds.save_dataset(settings, "../evil", r.examples, source="x")
    info = ds.save_dataset(settings, "mine", r.examples, source="d.jsonl", shapes=r.shapes)
    assert [d.name for d in ds.list_datasets(settings)] == ["mine"] and info.n_examples == 2
    assert ds.load_examples(settings, "mine") == [ex for ex in r.examples]
    with pytest.raises(ds.DatasetError, match="exists"):
        ds.save_dataset(settings, "mine", r.examples, source="d.jsonl")
    ds.delete_dataset(settings, "mine")
    assert ds.list_datasets(settings) == []


def test_split_is_seeded_and_disjoint():
    exs = [ds.Example((("user", f"q{i}"), ("assistant", "a")), i) for i in range(50)]
    tr, va = ds.split(exs, 0.2, seed=1)
    assert len(va) == 10 and len(tr) == 40 and not set(tr) & set(va)
    assert ds.split(exs, 0.2, seed=1) == (tr, va)
    assert ds.split(exs, 0.2, seed=2) != (tr, va)
    assert ds.split(exs, 0.0, seed=1)[1] == []


def test_chat_template_rendering_and_completion_only_labels(tokenizer):
    ex = ds.parse_dataset("d.jsonl", jsonl({"prompt": "What is 2+2?", "completion": '{"answer": "4"}'})).examples[0]
    prompt, completion = ds.render(tokenizer, ex)
    assert prompt.endswith("<|im_start|>assistant\n") and "What is 2+2?" in prompt
    assert completion.startswith('{"answer": "4"}<|im_end|>')
    enc = ds.encode(tokenizer, ex, max_len=512)
    assert tokenizer.decode(enc.input_ids[enc.n_prompt:]).startswith('{"answer": "4"}<|im_end|>')
    cut = ds.encode(tokenizer, ex, enc.n_prompt + 2, "truncate")
    assert cut.truncated and len(cut.input_ids) == enc.n_prompt + 2
    assert ds.encode(tokenizer, ex, enc.n_prompt, "truncate") is None  # no answer left to learn
    ids, mask, labels = collate([enc, cut], tokenizer.pad_token_id)
    assert (labels[0, : enc.n_prompt] == -100).all()
    assert (labels[0, enc.n_prompt: len(enc.input_ids)] == ids[0, enc.n_prompt: len(enc.input_ids)]).all()
    assert int(mask[1].sum()) == enc.n_prompt + 2 and (labels[1, enc.n_prompt + 2:] == -100).all()


def test_overlong_examples_are_truncated_or_dropped_and_counted(tokenizer):
    rows = [{"prompt": "short?", "completion": "yes"}] * 6 + [{"prompt": "long " * 300, "completion": "ok"}] * 4
    exs = ds.parse_dataset("d.jsonl", jsonl(*rows)).examples
    lengths = ds.token_lengths(tokenizer, exs)
    assert sum(n > 64 for n in lengths) == 4
    spec = TrainSpec(dataset="d", adapter_name="a", max_seq_len=64, val_fraction=0.0, overlong="drop")
    p = prepare(tokenizer, exs, spec)
    assert p.n_dropped == 4 and len(p.train) == 6
    # A prompt longer than the limit leaves no answer to learn from: dropped even when truncating.
    p = prepare(tokenizer, exs, spec.with_(overlong="truncate"))
    assert p.n_dropped == 4
    few = ds.parse_dataset("d.jsonl", jsonl({"prompt": "q " * 20, "completion": "a " * 40})).examples
    p = prepare(tokenizer, few, spec.with_(overlong="truncate", max_seq_len=48))
    assert p.n_truncated == 1 and len(p.train[0].input_ids) == 48
    with pytest.raises(ValueError, match="No training examples left"):
        prepare(tokenizer, exs[6:], spec)


def test_spec_round_trip_and_every_impossible_value_reported():
    spec = preset("Quick CPU demo", "sample-behaviour", "demo")
    assert TrainSpec.from_json(json.dumps(spec.to_json())) == spec
    with pytest.raises(SpecError) as e:
        TrainSpec(dataset="d", adapter_name="a", lora_r=0, learning_rate=-1, batch_size=0, max_seq_len=4,
                  lr_schedule="wavy", target_modules=())
    msg = str(e.value)
    for part in ("LoRA r", "learning rate", "batch size", "max sequence length", "schedule", "target module"):
        assert part in msg
    with pytest.raises(SpecError, match="Unknown spec field"):
        TrainSpec.from_json({**spec.to_json(), "lr": 1})
    with pytest.raises(SpecError, match="Unknown preset"):
        preset("Turbo", "d", "a")
    assert set(PRESETS) == {"Quick CPU demo", "GPU standard"}


def test_bucketed_batches_cover_everything_once_with_less_padding():
    rng = random.Random(0)
    lengths = [rng.randint(40, 200) for _ in range(101)]

    def padded(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    bucketed, plain = batch_order(lengths, 8, 0, True), batch_order(lengths, 8, 0, False)
    for batches in (bucketed, plain):
        assert sorted(i for b in batches for i in b) == list(range(101))
    assert padded(bucketed) < 0.8 * padded(plain)
    assert batch_order(lengths, 8, 0, True) == bucketed and batch_order(lengths, 8, 1, True) != bucketed


def test_schedule_and_step_count():
    assert lr_factor(0, 10, 2, "cosine") == 0.5 and lr_factor(1, 10, 2, "cosine") == 1.0
    assert lr_factor(9, 10, 0, "linear") == pytest.approx(0.1)
    assert lr_factor(5, 10, 0, "constant") == 1.0
    assert lr_factor(10, 10, 0, "cosine") == pytest.approx(0.0)
    spec = TrainSpec(dataset="d", adapter_name="a", batch_size=4, grad_accum=2, epochs=2.0)
    assert total_steps(spec, 17) == 6  # 5 micro-batches -> 3 steps per epoch
    assert total_steps(spec.with_(max_steps=7), 17) == 7


def test_plots_overlay_two_runs_and_mark_the_length_limit():
    from workbench.finetune.figures import length_histogram, training_curves

    a = [{"step": 1, "loss": 2.0, "lr": 1e-3}, {"step": 2, "loss": 1.0, "lr": 5e-4, "val_loss": 1.2}]
    b = [{"step": 1, "loss": 3.0, "lr": 1e-3}]
    fig = training_curves({"run A": a, "run B": b})
    names = [t.name for t in fig.data]
    assert "run A: training loss" in names and "run A: validation loss" in names and "run B: training loss" in names
    val = next(t for t in fig.data if t.name == "run A: validation loss")
    assert list(val.x) == [2] and list(val.y) == [1.2]
    hist = length_histogram([10, 50, 300, 400], 256)
    assert "(2 over)" in hist.layout.annotations[0].text


def test_sample_behaviour_dataset_loads_in_one_call(settings):
    from workbench.finetune import sample

    steps = []
    msg = sample.load(settings, lambda f, m: steps.append(f))
    info = ds.get_dataset(settings, sample.SAMPLE_NAME)
    assert msg == f"{info.n_examples} examples as dataset '{sample.SAMPLE_NAME}'" and info.n_examples >= 150
    assert info.shapes == {"prompt/completion": info.n_examples} and steps[-1] == 1.0
    first = ds.load_examples(settings, sample.SAMPLE_NAME)[0]
    assert json.loads(first.completion).keys() == {"answer", "confidence", "source"}
    assert sample.load(settings).startswith(str(info.n_examples))  # loading again replaces, never fails
