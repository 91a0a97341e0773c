"""Generation speed against llama.cpp on the same GGUF, and answer quality against the transformers path.

    .venv/bin/python bench/generate.py [--quick]

Speed: the workbench's generator (what the arena and evaluation use: on CPU the llama.cpp engine serving the
bundled model from a q8_0 copy of its weights) next to llama.cpp as a user would run it (the `xllamacpp` wheel's server on
the bundled Q4_1 GGUF, default settings, the same thread count), same prompts in the same run, no prompt
cache on either side; plain transformers fp32 `generate` is a reference row. Prompts: bare questions (the
base setup) and RAG prompts of 600-900 tokens (sample questions with passages from their source document in
the RAG template), each also with a LoRA adapter (a PEFT adapter with random non-zero weights, the
workbench's default target modules; llama.cpp gets it as the GGUF LoRA the export writes). Greedy, 48 new
tokens at most. Each prompt runs through every row back to back, the order rotating, so load from other
processes hits all alike. Figures: time to first token (TTFT), decode tokens/s after the first token, answer
latency; medians per prompt kind, ratios workbench / llama.cpp (higher is better for the workbench).

Quality (full run only): the sample evaluation (53 questions; base, prompted and RAG setups, plus fine-tuned
and hybrid with --adapter-path; 64 new tokens) answered by the workbench's engine and by the transformers
engine (the reference path); format and fact rates pooled over setups must stay within 2 points. The format
difference is also given paired (the same answers: bootstrap interval, McNemar); --source-control adds llama.cpp
on the bundled GGUF as shipped, which separates the serving copy's effect from llama.cpp's own arithmetic.

Last line: RESULT generate_vs_llamacpp_min=<smallest ratio over phases, kinds, with/without adapter>
target=1.0x ok|short (short also when quality moved more than 2 points).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import workbench  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
from workbench.answering import build_messages  # noqa: E402
from workbench.models.generator import GenerationConfig, load_generator  # noqa: E402
from workbench.models.registry import bundled_gguf  # noqa: E402
from workbench.sample import eval_path, kb_dir  # noqa: E402
from workbench.settings import Settings  # noqa: E402
from workbench.types import Chunk, ScoredChunk  # noqa: E402

TARGET = 1.0
QUALITY_POINTS = 2.0
BARE = ["What is a vector database?", "Write two sentences about the sea.", "Explain what fine-tuning is.",
        "Give three tips for writing clear emails.", "What does a librarian do?", "Describe a rainy morning."]


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9$]+", text.lower()) if len(w) > 2}


def rag_prompts(n: int, count_tokens, lo: int = 600, hi: int = 900) -> list[list[dict]]:
    """Sample questions with their source document's best-matching paragraphs, to a 600-900-token RAG prompt."""
    out = []
    for line in eval_path().read_text().splitlines():
        row = json.loads(line)
        src = kb_dir() / (row.get("source_document") or "")
        if row.get("unanswerable") or src.suffix not in (".md", ".txt") or not src.is_file():
            continue
        paras = [p.strip() for p in re.split(r"\n\s*\n", src.read_text()) if len(p.strip()) > 40]
        q = _words(row["question"])
        ranked = sorted(paras, key=lambda p: -len(q & _words(p)))
        hits, msgs = [], None
        for i, p in enumerate(ranked):
            hits.append(ScoredChunk(Chunk(f"c{i}", "d", src.name, p, 0, len(p), i), 1.0, "overlap", i + 1))
            trial = build_messages("rag", row["question"], hits)
            if count_tokens(trial) > hi:
                break
            msgs = trial
            if count_tokens(trial) >= lo:
                break
        if msgs is not None and count_tokens(msgs) >= lo:
            out.append(msgs)
        if len(out) == n:
            break
    return out


def random_adapter(base_path: str, out: Path) -> Path:
    """A PEFT LoRA with the workbench's default targets and random non-zero B (speed does not depend on values)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from workbench.finetune.spec import ATTENTION

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=list(ATTENTION), task_type="CAUSAL_LM"))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    model.save_pretrained(out)
    return out


class LlamaCppBaseline:
    """llama.cpp as a user runs it: its server on the bundled GGUF (plus a GGUF LoRA), default settings."""

    def __init__(self, threads: int, lora: Path | None = None):
        import xllamacpp as x

        p = x.CommonParams()
        p.model.path = str(bundled_gguf())
        p.n_ctx = 4096
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = threads
        p.verbosity = -1
        if lora is not None:
            p.lora_adapters = [x.CommonAdapterLoraInfo(str(lora), 1.0)]
        self.server = x.Server(p)

    def run(self, prompt: str, max_new: int) -> tuple[str, float, float, int]:
        """(text, ttft, latency, new tokens), timed from the request as a streaming client sees it."""
        pieces, first, counts = [], [], {"n": 0, "pred": None}
        t0 = time.perf_counter()

        def on_chunk(chunk: dict) -> bool:
            if not first:
                first.append(time.perf_counter())
            text = (chunk.get("choices") or [{}])[0].get("text") or ""
            pieces.append(text)
            counts["n"] += 1
            if chunk.get("timings"):
                counts["pred"] = chunk["timings"].get("predicted_n")
            return False

        self.server.handle_completions({"prompt": prompt, "n_predict": max_new, "temperature": 0.0, "stream": True,
                                        "cache_prompt": False}, on_chunk)
        dt = time.perf_counter() - t0
        n = counts["pred"] if counts["pred"] is not None else counts["n"]
        return "".join(pieces), (first[0] - t0) if first else dt, dt, int(n)


def workbench_run(gen, msgs, max_new: int, adapter=None) -> tuple[str, float, float, int]:
    r = gen.generate(msgs, GenerationConfig(max_new_tokens=max_new), adapter=adapter)
    return r.text, r.stats.ttft_s or r.stats.latency_s, r.stats.latency_s, r.stats.completion_tokens


def transformers_run(tok, model, prompt: str, max_new: int) -> tuple[str, float, float, int]:
    """Plain fp32 `model.generate` with a streamer: the reference row."""
    import torch
    from transformers import TextIteratorStreamer

    inputs = tok(prompt, return_tensors="pt", add_special_tokens=False)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    out: dict = {}

    def go():
        with torch.inference_mode():
            out["ids"] = model.generate(**inputs, max_new_tokens=max_new, do_sample=False, streamer=streamer,
                                        pad_token_id=tok.eos_token_id)

    t0 = time.perf_counter()
    th = threading.Thread(target=go)
    th.start()
    first, text = None, []
    for piece in streamer:
        if first is None and piece:
            first = time.perf_counter()
        text.append(piece)
    th.join()
    dt = time.perf_counter() - t0
    return "".join(text), (first - t0) if first else dt, dt, int(out["ids"].shape[1] - inputs["input_ids"].shape[1])


def decode_rate(ttft: float, latency: float, n: int) -> float | None:
    return (n - 1) / (latency - ttft) if n > 1 and latency > ttft else None


def quality(max_new: int, limit: int, adapter_path: str | None, source_control: bool = False) -> dict:
    """Format and fact rates of the sample evaluation: the workbench's engine vs the transformers engine.

    With `source_control`, llama.cpp on the bundled GGUF as shipped answers too (the workbench's engine with
    WORKBENCH_GGUF_SERVING=source): what the serving copy changes, apart from llama.cpp's own arithmetic."""
    from dataclasses import replace

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from eval_sample import pooled_rate, sample_answers, scratch_settings

    from workbench.evaluation.stats import paired_difference

    settings, scratch = scratch_settings("wb-bench-generate-")
    os.environ["WORKBENCH_STORAGE"] = str(settings.storage)
    chosen = ("base", "prompted", "rag") + (("finetuned", "hybrid") if adapter_path else ())
    engines = {"auto": replace(settings, engine="auto")}
    if source_control:
        engines["llama.cpp, bundled file"] = replace(settings, engine="auto", gguf_serving="source")
    engines["transformers"] = replace(settings, engine="transformers")
    out, formats = {}, {}
    try:
        for label, engine_settings in engines.items():
            gen = load_generator(engine_settings)
            rs, wall = sample_answers(settings, gen, chosen, max_new, limit, label=f"engine {label}",
                                      adapter_path=adapter_path)
            out[label] = {k: pooled_rate(rs, k) for k in ("format_ok", "fact_correct")}
            out[label]["wall_s"] = wall
            out[label]["name"] = f"{getattr(gen, 'engine', '?')} ({gen.weights_note})"
            out[label]["per_setup"] = {s: tuple(getattr(sm, k).k if getattr(sm, k) else None
                                                for k in ("format_ok", "fact_correct"))
                                       for s, sm in rs.summaries.items()}
            formats[label] = {(r["id"], r["setup"]): bool(r.get("format_ok")) for r in rs.record.results}
            print(f"  quality, engine {out[label]['name']}: " + ", ".join(
                f"{k} {a}/{b}" for k, (a, b) in ((k, out[label][k]) for k in ("format_ok", "fact_correct")))
                  + f" ({wall:.0f} s); per setup (format, fact): {out[label]['per_setup']}", flush=True)
            del gen
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    ref = formats["transformers"]
    for label in (x for x in formats if x != "transformers"):
        keys = sorted(ref.keys() & formats[label].keys())
        c = paired_difference([ref[k] for k in keys], [formats[label][k] for k in keys])
        print(f"  format, {label} minus transformers, paired over {c.n} answers: {c.diff:+.1f} points "
              f"[{c.low:+.1f}, {c.high:+.1f}], {c.b01} gained / {c.b10} lost, McNemar p={c.p_value:.2f}", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 prompt per kind, no reference row, no quality run")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--quality-limit", type=int, default=0, help="questions in the quality run (0: all 53)")
    ap.add_argument("--no-quality", action="store_true", help="speed only (the RESULT then gates speed alone)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="CPU threads for both sides (default: every core, as llama.cpp's server does)")
    ap.add_argument("--source-control", action="store_true",
                    help="the quality run also answers with llama.cpp on the bundled GGUF as shipped")
    ap.add_argument("--adapter-path", help="a trained PEFT adapter: the quality run adds the fine-tuned and hybrid "
                                           "setups (bench/eval_sample.py --train makes one)")
    args = ap.parse_args()
    n_each, max_new = (1, 24) if args.quick else (4, 48)
    settings = Settings.from_env()
    from workbench.models.threads import configure_torch_threads

    threads = configure_torch_threads(args.threads)  # before the first model load: the process's count
    gen = load_generator(settings)
    if hasattr(gen, "prompt_cache"):
        gen.prompt_cache = False  # the rule: no prompt cache reuse on either side (prompt reading compared)
    engine = getattr(gen, "engine", "transformers")
    print(f"workbench engine: {engine} ({gen.weights_note}); llama.cpp baseline: {bundled_gguf().name}, "
          f"{threads} threads", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="wb-bench-gen-"))
    adapter = random_adapter(gen.path, tmp / "bench-lora")
    from workbench.finetune.gguf_export import write_lora

    lora_gguf = write_lora(adapter, tmp / "bench-lora.gguf", gen.config.to_dict(), "bench-lora")
    baselines = {False: LlamaCppBaseline(threads), True: LlamaCppBaseline(threads, lora_gguf)}
    ref = None
    if not args.quick:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        ref = (AutoTokenizer.from_pretrained(gen.path),
               AutoModelForCausalLM.from_pretrained(gen.path, dtype=torch.float32).eval())
    count = lambda msgs: gen.count_tokens(gen.render(msgs))  # noqa: E731
    prompts = [("rag", m) for m in rag_prompts(n_each, count)] + [("bare", build_messages("base", q))
                                                                   for q in BARE[:n_each]]
    rows = ["workbench", "llama.cpp"] + (["transformers fp32"] if ref else [])
    # Warm-up: each side's first request pays one-off costs (a thread pool, a repacked weight buffer).
    workbench_run(gen, prompts[0][1], 2)
    workbench_run(gen, prompts[0][1], 2, adapter)
    for b in baselines.values():
        b.run(gen.render(prompts[0][1]), 2)
    got: dict = {}  # (row, kind, lora) -> list of (ttft, latency, decode rate)
    same = total = 0
    for r in range(args.rounds):
        for i, (kind, msgs) in enumerate(prompts):
            for lora in (False, True):
                order = rows[(i + r) % len(rows):] + rows[:(i + r) % len(rows)]
                texts = {}
                for row in order:
                    if row == "workbench":
                        res = workbench_run(gen, msgs, max_new, adapter if lora else None)
                    elif row == "llama.cpp":
                        res = baselines[lora].run(gen.render(msgs), max_new)
                    elif lora:
                        continue  # the reference row runs the base model only
                    else:
                        res = transformers_run(*ref, gen.render(msgs), max_new)
                    text, ttft, lat, n = res
                    texts[row] = text.strip()
                    got.setdefault((row, kind, lora), []).append((ttft, lat, decode_rate(ttft, lat, n)))
                same += texts["workbench"] == texts["llama.cpp"]
                total += 1
                print(f"round {r + 1} {kind} {i + 1}{' +LoRA' if lora else ''}: " + ", ".join(
                    f"{row} TTFT {got[(row, kind, lora)][-1][0]:.3f}s" for row in order if (row, kind, lora) in got),
                    flush=True)
    print(f"\n{platform.machine()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"{len(prompts)} prompts x {args.rounds} rounds; max_new_tokens={max_new}")
    print(f"{'row':<20}{'kind':<6}{'LoRA':<6}{'n':>3}{'TTFT p50 s':>12}{'decode tok/s':>14}{'latency p50 s':>15}")
    med = {}
    for (row, kind, lora), vals in sorted(got.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        ttft = statistics.median(v[0] for v in vals)
        lat = statistics.median(v[1] for v in vals)
        rates = [v[2] for v in vals if v[2]]
        rate = statistics.median(rates) if rates else float("nan")
        med[(row, kind, lora)] = (ttft, rate, lat)
        spread = f" ({min(rates):.0f}-{max(rates):.0f})" if len(rates) > 1 else ""
        print(f"{row:<20}{kind:<6}{'yes' if lora else 'no':<6}{len(vals):>3}{ttft:>12.3f}{rate:>8.1f}{spread:<6}"
              f"{lat:>15.3f}")
    ratios = {}
    for kind in ("rag", "bare"):
        for lora in (False, True):
            w, b = med[("workbench", kind, lora)], med[("llama.cpp", kind, lora)]
            tag = f"{kind}{'+lora' if lora else ''}"
            ratios[f"ttft {tag}"] = b[0] / w[0]
            ratios[f"decode {tag}"] = w[1] / b[1]
            ratios[f"latency {tag}"] = b[2] / w[2]
    print("\nworkbench vs llama.cpp (x, higher is better): " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()))
    print(f"same greedy answer text as llama.cpp on the bundled file: {same}/{total} (the serving layout differs)")
    worst = min(ratios.values())
    ok = worst >= TARGET
    if not args.quick and not args.no_quality:
        q = quality(64, args.quality_limit, args.adapter_path, args.source_control)
        moved = {}
        for key in ("format_ok", "fact_correct"):
            (k1, n1), (k0, n0) = q["auto"][key], q["transformers"][key]
            moved[key] = 100.0 * (k1 / max(n1, 1) - k0 / max(n0, 1))
        print("quality, workbench engine minus transformers (points): "
              + ", ".join(f"{k} {v:+.1f}" for k, v in moved.items()))
        ok = ok and all(abs(v) <= QUALITY_POINTS for v in moved.values())
    print(f"RESULT generate_vs_llamacpp_min={worst:.2f}x target={TARGET}x {'ok' if ok else 'short'}")


if __name__ == "__main__":
    main()
