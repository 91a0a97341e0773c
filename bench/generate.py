"""Generation speed: the workbench's generation path next to plain fp32 `model.generate`, same prompts, same run.

    .venv/bin/python bench/generate.py [--quick]

Prompts are the arena's own: RAG prompts (sample evaluation questions with passages from their source
document, in the RAG template) and bare questions (base setup). Each prompt runs through every
variant back to back, the order rotating per prompt, so load from other processes hits all alike.
Greedy decoding; "identical" is the share of answers token-for-token equal to the baseline's. The full
run adds variants that take one part away (prompt lookup; the 4-bit weights) to show where the gain is.
Last line: RESULT generate_speedup=<x> target=2.0x ok|short
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import workbench  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
import torch  # noqa: E402
from transformers.generation.streamers import BaseStreamer  # noqa: E402

from workbench.answering import build_messages  # noqa: E402
from workbench.models.generator import PROMPT_LOOKUP_TOKENS, GenerationConfig, load_generator  # noqa: E402
from workbench.models.threads import configure_torch_threads  # noqa: E402
from workbench.sample import eval_path, kb_dir  # noqa: E402
from workbench.settings import Settings  # noqa: E402
from workbench.types import Chunk, ScoredChunk  # noqa: E402

TARGET = 2.0


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9$]+", text.lower()) if len(w) > 2}


def rag_prompts(n: int, n_passages: int = 3) -> list[list[dict]]:
    """Sample questions with the `n_passages` paragraphs of their source document sharing the most words with them."""
    out = []
    for line in eval_path().read_text().splitlines():
        row = json.loads(line)
        src = kb_dir() / (row.get("source_document") or "")
        if row.get("unanswerable") or src.suffix not in (".md", ".txt") or not src.is_file():
            continue
        paras = [p.strip() for p in re.split(r"\n\s*\n", src.read_text()) if len(p.strip()) > 40]
        q = _words(row["question"])
        best = sorted(paras, key=lambda p: -len(q & _words(p)))[:n_passages]
        hits = [ScoredChunk(Chunk(f"c{i}", "d", src.name, p, 0, len(p), i), 1.0, "overlap", i + 1)
                for i, p in enumerate(best)]
        out.append(build_messages("rag", row["question"], hits))
        if len(out) == n:
            break
    return out


BARE = ["What is a vector database?", "Write two sentences about the sea.", "Explain what fine-tuning is.",
        "Give three tips for writing clear emails."]


class _FirstToken(BaseStreamer):
    """Notes when the first generated token arrives (the first put() is the prompt)."""

    def __init__(self):
        self.puts, self.t = 0, None

    def put(self, value):
        self.puts += 1
        if self.puts == 2 and self.t is None:
            self.t = time.perf_counter()

    def end(self):
        pass


def plain_generate(gen, model, messages, cfg, threads: int, **extra):
    """The baseline: tokenizer + model.generate on a plain fp32 copy of the model, nothing else."""
    inputs = gen.tokenizer(gen.render(messages), return_tensors="pt", add_special_tokens=False)
    ft = _FirstToken()
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    with torch.inference_mode():
        ids = model.generate(**inputs, max_new_tokens=cfg.max_new_tokens, do_sample=False, streamer=ft,
                                 pad_token_id=gen.tokenizer.pad_token_id, **extra)
    dt = time.perf_counter() - t0
    new = ids[0, inputs["input_ids"].shape[1]:].tolist()
    return new, dt, (ft.t - t0) if ft.t else dt


def workbench_generate(gen, messages, cfg):
    """The arena's path: LocalGenerator.stream (prompt lookup, free-core threads, streaming thread)."""
    # The thread count the process decided at model load; the baseline's variant changes it in between.
    torch.set_num_threads(configure_torch_threads())
    r = gen.generate(messages, cfg)
    ids = gen.tokenizer(r.text, add_special_tokens=False)["input_ids"]
    return r.text, r.stats.latency_s, r.stats.ttft_s or r.stats.latency_s, r.stats.completion_tokens, ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 short prompts, 12 new tokens: about a minute")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    n_rag, n_bare, max_new, rounds = (1, 1, 12, 1) if args.quick else (6, 2, 48, 1)
    rounds = args.rounds or rounds
    default_threads = torch.get_num_threads()
    gen = load_generator(Settings.from_env())
    if gen.device != "cpu":
        print(f"note: running on {gen.device}; the target is stated for CPU")
    from transformers import AutoModelForCausalLM

    # The baseline's own fp32 weights: the workbench may hold the model in bf16 (WORKBENCH_CPU_DTYPE).
    fp32 = AutoModelForCausalLM.from_pretrained(gen.path, dtype=torch.float32).to(gen.device).eval()
    print(f"workbench generator: {str(gen.dtype).removeprefix('torch.')}, weights {gen.weights_note}, "
          f"prompt lookup {gen.prompt_lookup_tokens}; baseline: float32, dense")
    cfg = GenerationConfig(max_new_tokens=max_new)
    prompts = [("rag", m) for m in rag_prompts(n_rag, 1 if args.quick else 3)]
    prompts += [("bare", m) for m in build_bare(n_bare)]
    plain_generate(gen, fp32, prompts[0][1], GenerationConfig(max_new_tokens=2), default_threads)  # warm-up
    workbench_generate(gen, prompts[0][1], GenerationConfig(max_new_tokens=2))
    variants = ["baseline", "workbench"]
    extra_gens = {}
    if not args.quick:
        variants += ["workbench, no prompt lookup", "prompt lookup only (fp32)"]
        if gen.int4:  # what the 4-bit packing adds: the same path with dense bf16 weights
            from workbench.models.generator import LocalGenerator

            dense = LocalGenerator(gen.name, gen.path, gen.device, gen.dtype, "dense")
            extra_gens["workbench, dense weights"] = dense
            variants.append("workbench, dense weights")
            workbench_generate(dense, prompts[0][1], GenerationConfig(max_new_tokens=2))
    tot = {v: {"tok": 0, "s": 0.0, "ttft": [], "same": 0, "n": 0, "kind": {}} for v in variants}
    for r in range(rounds):
        for i, (kind, msgs) in enumerate(prompts):
            order = variants[(i + r) % len(variants):] + variants[:(i + r) % len(variants)]
            ref = None
            results = {}
            for v in order:
                if v == "workbench" or v in extra_gens:
                    text, dt, ttft, n, _ = workbench_generate(extra_gens.get(v, gen), msgs, cfg)
                elif v == "workbench, no prompt lookup":
                    saved, gen.prompt_lookup_tokens = gen.prompt_lookup_tokens, None
                    try:
                        text, dt, ttft, n, _ = workbench_generate(gen, msgs, cfg)
                    finally:
                        gen.prompt_lookup_tokens = saved
                else:
                    extra = {}
                    if v == "prompt lookup only (fp32)":
                        extra = {"prompt_lookup_num_tokens": PROMPT_LOOKUP_TOKENS}
                    ids, dt, ttft = plain_generate(gen, fp32, msgs, cfg, default_threads, **extra)
                    eos = gen.tokenizer.eos_token_id
                    n = len(ids)
                    text = gen.tokenizer.decode([t for t in ids if t != eos], skip_special_tokens=True)
                results[v] = (text.strip(), dt, ttft, n)
            torch.set_num_threads(default_threads)
            ref = results["baseline"][0]
            for v, (text, dt, ttft, n) in results.items():
                t = tot[v]
                t["tok"] += n
                t["s"] += dt
                t["ttft"].append(ttft)
                t["same"] += text == ref
                t["n"] += 1
                k = t["kind"].setdefault(kind, [0, 0.0])
                k[0] += n
                k[1] += dt
            print(f"round {r + 1} prompt {i + 1}/{len(prompts)} ({kind}): " + ", ".join(
                f"{v} {results[v][3] / results[v][1]:.1f} tok/s" for v in variants), flush=True)
    base = tot["baseline"]["tok"] / tot["baseline"]["s"]
    print(f"\n{platform.machine()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"device {gen.device}; {len(prompts)} prompts x {rounds} rounds; max_new_tokens={max_new}; "
          f"baseline threads {default_threads}")
    print(f"{'variant':<20}{'tok/s':>8}{'RAG tok/s':>11}{'bare tok/s':>12}{'TTFT p50 s':>12}{'speed-up':>10}"
          f"{'identical':>11}")
    for v, t in tot.items():
        rate = t["tok"] / t["s"]
        kinds = {k: (a / b if b else 0.0) for k, (a, b) in t["kind"].items()}
        ttft = sorted(t["ttft"])[len(t["ttft"]) // 2]
        print(f"{v:<20}{rate:>8.1f}{kinds.get('rag', 0):>11.1f}{kinds.get('bare', 0):>12.1f}{ttft:>12.2f}"
              f"{rate / base:>9.2f}x{t['same'] / t['n']:>10.0%}")
    speedup = tot["workbench"]["tok"] / tot["workbench"]["s"] / base
    same = tot["workbench"]["same"] / tot["workbench"]["n"]
    print(f"identical greedy answers (workbench vs baseline): {same:.0%}")
    print(f"RESULT generate_speedup={speedup:.2f}x target={TARGET}x {'ok' if speedup >= TARGET else 'short'}")


def build_bare(n: int) -> list[list[dict]]:
    return [build_messages("base", q) for q in BARE[:n]]


if __name__ == "__main__":
    main()
