"""Batched evaluation: answers per second of the sample evaluation, several answers at once vs one at a time.

    .venv/bin/python bench/eval_batch.py [--quick]

The same run spec (sample questions; base, prompted and RAG setups; 64 new tokens, greedy) is answered in one
process on the same questions, four ways on the workbench's engine and two on the transformers engine:

- one at a time, no prompt cache: how an evaluation run answered before (the baseline);
- one at a time, prompt cache: the part before the last user turn (the recipe's instructions and few-shot
  examples, the same ~560 tokens on every prompted and RAG question) is read once per slot;
- N at once, no prompt cache: the slots' tokens batched into one forward pass per step (continuous batching);
- N at once, prompt cache (setup by setup, so the slots hold one setup's prefix).

An evaluation run answers N at once (on 2 cores the batched steps gained nothing measurable); the prompt cache is opt-in (WORKBENCH_PROMPT_CACHE=1: it changes some greedy answers of the bundled
model, see Settings.prompt_cache). The RESULT compares the fastest way a run can answer here, the prompt cache
at that width, with the baseline. The transformers engine one at a time is a reference row, and batched (greedy
questions that arrive together in one `generate`; the default on GPUs, not on CPU where it lost) another (not in
--quick).

Metrics: answers/s (wall time of the answering phase; retrieval is done once before and shared), the format /
fact rates pooled over setups, which must move less than 5 points against the baseline, and how many answer texts
differ from the baseline's (greedy: they part only where kernels round differently for another batch shape).

Last line: RESULT eval_batch_speedup=<answers/s of an evaluation run now over the baseline> target=3.0x ok|short
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import workbench  # noqa: E402,F401  (sets the OpenMP wait policy before torch loads)
from eval_sample import pooled_rate, sample_answers, scratch_settings  # noqa: E402
from workbench.models.generator import load_generator  # noqa: E402

TARGET = 3.0
SETUPS = ("base", "prompted", "rag")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="base and prompted, 4 questions, 24 new tokens, no reference")
    ap.add_argument("--limit", type=int, default=0, help="questions (0: all 53)")
    args = ap.parse_args()
    limit, max_new = (4, 24) if args.quick else (args.limit, 64)
    chosen = ("base", "prompted") if args.quick else SETUPS
    settings, scratch = scratch_settings("wb-bench-batch-")
    os.environ["WORKBENCH_STORAGE"] = str(settings.storage)
    try:
        gen = load_generator(settings)
        default_width, width = int(getattr(gen, "parallel", 1)), int(getattr(gen, "slots", 1))
        print(f"engine {getattr(gen, 'engine', '?')} ({gen.weights_note}), {width} parallel slots; an evaluation "
              f"run answers {default_width} at a time here", flush=True)
        sample_answers(settings, gen, ("base",), 2, 1, label="warm-up")  # loads the sample workspace once
        ways = [("one at a time, no cache", 1, False), ("one at a time, prompt cache", 1, True),
                (f"{width} at once, no cache", width, False), (f"{width} at once, prompt cache", width, True)]
        rows = {}
        for label, w, cache in ways:
            gen.parallel, gen.prompt_cache = w, cache
            gen.clear_cache()  # each row starts cold: no prompt states from the rows before (same questions)
            rows[label] = sample_answers(settings, gen, chosen, max_new, limit, label=label)
            print(f"  {label}: {rows[label][0].answers} answers in {rows[label][1]:.1f} s", flush=True)
        gen.parallel, gen.prompt_cache = default_width, False
        if not args.quick:
            ref = load_generator(replace(settings, engine="transformers"))
            default = ref.parallel  # on CPU 1: batching lost here (generator.BATCH_CPU); GPUs batch 8
            ref.parallel = 1
            rows["transformers, one at a time"] = sample_answers(settings, ref, chosen, max_new, limit,
                                                                 label="reference")
            ref.parallel = batch = default if default > 1 else width  # one batched generate per step
            rows[f"transformers, {batch} batched"] = sample_answers(settings, ref, chosen, max_new, limit,
                                                                    label="transformers batched")
            ref.parallel = default
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    labels = list(rows)
    baseline, now = labels[0], labels[3] if default_width > 1 else labels[1]  # `now`: a run here, with the cache
    texts = {label: {(r["id"], r["setup"]): r["text"] for r in rs.record.results} for label, (rs, _) in rows.items()}
    print(f"\n{platform.machine()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"setups {', '.join(chosen)}; max_new_tokens={max_new}")
    print(f"{'how':<30}{'answers':>8}{'wall s':>9}{'answers/s':>11}{'speedup':>9}{'format ok':>11}{'fact ok':>10}"
          f"{'texts differ':>14}")
    rate = {label: rs.answers / wall for label, (rs, wall) in rows.items()}
    for label, (rs, wall) in rows.items():
        f, c = pooled_rate(rs, "format_ok"), pooled_rate(rs, "fact_correct")
        differ = sum(texts[label].get(k) != t for k, t in texts[baseline].items())
        print(f"{label:<30}{rs.answers:>8}{wall:>9.1f}{rate[label]:>11.2f}{rate[label] / rate[baseline]:>8.2f}x"
              f"{f'{f[0]}/{f[1]}':>11}{f'{c[0]}/{c[1]}':>10}{differ:>14}")
    moved = []
    for key in ("format_ok", "fact_correct"):
        (k1, n1), (k0, n0) = pooled_rate(rows[now][0], key), pooled_rate(rows[baseline][0], key)
        moved.append(100.0 * (k1 / max(n1, 1) - k0 / max(n0, 1)))
    print(f"{now} minus the baseline (points): format {moved[0]:+.1f}, fact {moved[1]:+.1f}")
    speedup = rate[now] / rate[baseline]
    ok = speedup >= TARGET and all(abs(m) < 5 for m in moved)
    print(f"RESULT eval_batch_speedup={speedup:.2f}x target={TARGET}x {'ok' if ok else 'short'}")


if __name__ == "__main__":
    main()
