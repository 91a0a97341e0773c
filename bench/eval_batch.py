"""Batched evaluation: answers per second of the sample evaluation, several answers at once vs one at a time.

    .venv/bin/python bench/eval_batch.py [--quick]

The same run spec (sample questions; base, prompted and RAG setups; 64 new tokens, greedy) is answered three
ways in one process on the same questions: the workbench's engine one answer at a time (`parallel` = 1), the
same engine with its parallel slots (what an evaluation run does: llama.cpp batches the slots' tokens into one
forward pass per step), and, as the reference row, the transformers engine one at a time (the evaluation before
the llama.cpp engine). Metrics: answers/s (wall time of the answering phase; retrieval is done once before and
shared) and the format / fact rates pooled over setups, which must move less than 5 points (greedy answers
differ only where batched arithmetic rounds differently).

Last line: RESULT eval_batch_speedup=<batched answers/s over one at a time, same engine> target=3.0x ok|short
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
    ap.add_argument("--quick", action="store_true", help="base setup, 8 questions, 24 new tokens, no reference row")
    ap.add_argument("--limit", type=int, default=0, help="questions (0: all 53)")
    args = ap.parse_args()
    limit, max_new = (8, 24) if args.quick else (args.limit, 64)
    chosen = ("base",) if args.quick else SETUPS
    settings, scratch = scratch_settings("wb-bench-batch-")
    os.environ["WORKBENCH_STORAGE"] = str(settings.storage)
    try:
        gen = load_generator(settings)
        width = int(getattr(gen, "parallel", 1))
        print(f"engine {getattr(gen, 'engine', '?')} ({gen.weights_note}), {width} parallel slots", flush=True)
        sample_answers(settings, gen, ("base",), 2, 1, label="warm-up")  # loads the sample workspace once
        rows = {}
        for label, w in (("one at a time", 1), (f"{width} at once", width)):
            gen.parallel = w
            rs, wall = sample_answers(settings, gen, chosen, max_new, limit, label=label)
            rows[label] = (rs, wall)
            print(f"  {label}: {sum(s.n for s in rs.summaries.values())} answers in {wall:.1f} s", flush=True)
        gen.parallel = width
        if not args.quick:
            ref = load_generator(replace(settings, engine="transformers"))
            rows["transformers, one at a time"] = sample_answers(settings, ref, SETUPS, max_new, limit,
                                                                 label="reference")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{platform.machine()} {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
          f"setups {', '.join(chosen)}; max_new_tokens={max_new}")
    print(f"{'how':<30}{'answers':>8}{'wall s':>9}{'answers/s':>11}{'format ok':>12}{'fact ok':>12}")
    rate = {}
    for label, (rs, wall) in rows.items():
        n = sum(s.n for s in rs.summaries.values())
        rate[label] = n / wall
        f, c = pooled_rate(rs, "format_ok"), pooled_rate(rs, "fact_correct")
        print(f"{label:<30}{n:>8}{wall:>9.1f}{n / wall:>11.2f}{f'{f[0]}/{f[1]}':>12}{f'{c[0]}/{c[1]}':>12}")
    labels = list(rows)
    one, batched = rows[labels[0]][0], rows[labels[1]][0]
    moved = []
    for key in ("format_ok", "fact_correct"):
        (k1, n1), (k0, n0) = pooled_rate(batched, key), pooled_rate(one, key)
        moved.append(100.0 * (k1 / max(n1, 1) - k0 / max(n0, 1)))
    print("batched minus one at a time (points): format " + f"{moved[0]:+.1f}, fact {moved[1]:+.1f}")
    speedup = rate[labels[1]] / rate[labels[0]]
    if "transformers, one at a time" in rate:
        print(f"batched over the transformers engine one at a time: "
              f"{rate[labels[1]] / rate['transformers, one at a time']:.2f}x")
    ok = speedup >= TARGET and all(abs(m) < 5 for m in moved)
    print(f"RESULT eval_batch_speedup={speedup:.2f}x target={TARGET}x {'ok' if ok else 'short'}")


if __name__ == "__main__":
    main()
