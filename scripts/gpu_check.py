"""`make gpu-check`: the workbench end to end on one CUDA GPU, in at most 8 minutes.

    .venv/bin/python scripts/gpu_check.py             # needs CUDA; without it, stops at once (exit 2)
    --steps N         optimiser steps of the "GPU standard" preset (default 30)
    --questions N     evaluation questions, each answered by all five setups (default 10)
    --device cpu      a dry run of the same steps on the CPU (tests use it so the script cannot rot);
                      its verdict is always "short": a CPU run never passes as a GPU check
    --batch-size N    override the preset's batch (the dry run uses a small one); --storage DIR keeps storage
    --skip-distributed  leave out the torchrun leg (for the test suite's dry run: tests/test_finetune_distributed.py
                      covers that path); a GPU run that skips it never reports ok

In scratch storage (the user's ./storage is never touched; the converted bundled model is shared read
only): load the sample workspace; train the "GPU standard" LoRA preset on the sample behaviour dataset in
this process, as a job worker would; train a few steps more through torchrun (one rank per GPU, nccl), the
data-parallel path; generate with and without the adapter (decode tokens/s); run the questions through all
five setups (workbench.evaluation.runs, in process), `parallel` answers at once; then up to 4 of them through
base and prompted, batched and one at a time (the figure eval_batch_speedup). Last line:
RESULT gpu_decode_tokens_per_s=<v> train_step_s=<v> target=<targets> ok|short
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Targets for one GPU, not yet measured on one (bench/RESULTS.md): decoding must beat the 2-core CPU's best
# (57 tok/s with int4 weights; eager `generate` of a 135M model is bound by kernel launches on a GPU, so a
# higher floor would be a guess); the step ceiling is generous for 32 short examples of a 135M model.
MIN_DECODE_TOKENS_PER_S = 60.0
MAX_TRAIN_STEP_S = 1.0
MAX_WALL_S = 480.0
NO_CUDA_EXIT = 2
PROMPTS = ("What is the capital of France? Answer in one sentence.",
           "List three uses of a paperclip.",
           "Explain in two sentences what a LoRA adapter is.")


def say(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cuda_problem() -> str | None:
    """Why this machine cannot run the GPU check, or None when torch sees a CUDA device."""
    import torch

    if torch.version.cuda is None:
        return (f"gpu-check needs a CUDA GPU, and this torch ({torch.__version__}) is a CPU-only build: "
                f"install a CUDA build of torch {torch.__version__.split('+')[0]} into .venv on the GPU machine.")
    if not torch.cuda.is_available():
        return (f"gpu-check needs a CUDA GPU: torch {torch.__version__} (CUDA {torch.version.cuda}) sees none "
                "(check the driver with nvidia-smi, and CUDA_VISIBLE_DEVICES).")
    return None


class StepClock:
    """A Reporter that keeps the time of every step's metric and the losses; says the log lines."""

    def __init__(self):
        self.times, self.losses = [], []

    def log(self, msg): say(f"  {msg}")
    def progress(self, *a, **k): pass
    def cancelled(self): return False

    def metric(self, step=None, **values):
        self.times.append(time.perf_counter())
        self.losses.append(values["loss"])

    def step_s(self) -> float:
        """Median seconds per optimiser step, the first one (warm-up, allocator) left out."""
        gaps = [b - a for a, b in zip(self.times, self.times[1:])]
        return statistics.median(gaps) if gaps else float("nan")


def train(settings, args, out: Path):
    """The GPU standard preset for `args.steps` steps on the sample dataset; (adapter path, clock, spec, device)."""
    from workbench.finetune.adapters import AdapterRegistry
    from workbench.finetune.sample import SAMPLE_NAME
    from workbench.finetune.spec import preset
    from workbench.finetune.train import fit

    overrides = dict(max_steps=args.steps, processes=1)
    if args.batch_size:
        overrides.update(batch_size=args.batch_size, grad_accum=1, max_val_examples=args.batch_size)
    spec = preset("GPU standard", SAMPLE_NAME, "gpu-check", **overrides)
    clock = StepClock()
    result = fit(settings, spec, out, clock)
    say(f"trained {result['steps']} steps on {result['device']}: loss {clock.losses[0]:.3f} -> "
        f"{clock.losses[-1]:.3f}, {result['examples_per_s']:.1f} examples/s, {result['tokens_per_s']:.0f} tokens/s")
    info = AdapterRegistry(settings).register(out / "adapter", spec, result)
    return str(info.path), clock, spec, result["device"]


def train_data_parallel(settings, spec, out: Path, nproc: int) -> float:
    """A few steps through torchrun, one rank per GPU (nccl; gloo in the CPU dry run); returns seconds."""
    from workbench.finetune.distributed import train_in_ranks

    t0 = time.perf_counter()
    clock = StepClock()
    result = train_in_ranks(settings, spec.with_(max_steps=min(3, spec.max_steps), processes=nproc,
                                                 adapter_name="gpu-check-ddp"), out, clock, nproc)
    if not (out / "adapter" / "adapter_model.safetensors").is_file():
        raise RuntimeError("the data-parallel run saved no adapter")
    say(f"data-parallel: {nproc} rank(s), {result['steps']} steps, loss {clock.losses[-1]:.3f}, "
        f"{time.perf_counter() - t0:.0f} s with torchrun start and model loads")
    return time.perf_counter() - t0


def adapter_is_trained(path: str) -> bool:
    """LoRA's B matrices start at zero: any non-zero one means training changed the model."""
    from safetensors.torch import load_file

    return any(float(t.abs().max()) > 0 for k, t in load_file(str(Path(path) / "adapter_model.safetensors")).items()
               if "lora_B" in k)


def generate(settings, adapter_path: str, max_new_tokens: int) -> tuple[float, int, str]:
    """Greedy answers to PROMPTS without and with the adapter; (decode tokens/s, answers changed, device)."""
    from workbench import resources
    from workbench.models.generator import GenerationConfig

    gen = resources.generator(settings)
    cfg = GenerationConfig(max_new_tokens=max_new_tokens)
    gen.generate([{"role": "user", "content": "Hello"}], cfg)  # warm-up: kernels, allocator
    tokens, seconds, changed = 0, 0.0, 0
    for prompt in PROMPTS:
        msgs = [{"role": "user", "content": prompt}]
        plain = gen.generate(msgs, cfg)
        tuned = gen.generate(msgs, cfg, adapter=adapter_path)
        changed += plain.text != tuned.text
        for r in (plain, tuned):
            tokens += r.stats.completion_tokens
            seconds += r.stats.latency_s - (r.stats.ttft_s or 0.0)
        say(f"  {prompt!r}\n    base:    {plain.text[:100]!r}\n    adapter: {tuned.text[:100]!r}")
    rate = tokens / seconds if seconds > 0 else 0.0
    precision = str(getattr(gen, "dtype", "")).removeprefix("torch.")  # the llama.cpp engine names its GGUF instead
    say(f"generator on {gen.device}, {gen.engine} engine ({gen.weights_note}{', ' + precision if precision else ''}): {tokens} tokens decoded at "
        f"{rate:.1f} tokens/s; the adapter changed {changed}/{len(PROMPTS)} answers")
    return rate, changed, str(gen.device)


def evaluate(settings, adapter_path: str, n_questions: int, max_new_tokens: int,
             chosen: tuple[str, ...] | None = None) -> tuple[int, int, float]:
    """n questions through all five setups (or `chosen`) in this process; (answers without error, expected, seconds)."""
    from workbench.answering import setups
    from workbench.answering.recipes import load_recipe
    from workbench.answering.sample import SAMPLE_RECIPE
    from workbench.evaluation import runs
    from workbench.evaluation.sample import SAMPLE_SET
    from workbench.knowledge.sample import SAMPLE_COLLECTION
    from workbench.questions import load_set

    items = load_set(settings, SAMPLE_SET)
    ids = tuple(i.id for i in items)[:n_questions]
    spec = runs.RunSpec(set_name=SAMPLE_SET, setups=chosen or setups.keys(), collection=SAMPLE_COLLECTION,
                        adapter_path=adapter_path, recipe=load_recipe(settings, SAMPLE_RECIPE).to_json(),
                        question_ids=ids, max_new_tokens=max_new_tokens, probe=False, label="gpu-check")
    run_id = runs.create_run(settings, spec, items)
    t0 = time.perf_counter()
    runs.execute(settings, run_id, runs.PlainContext())
    seconds = time.perf_counter() - t0
    results = runs.load_run(settings, run_id).results
    good = [r for r in results if not r.get("error")]
    for r in results:
        if r.get("error"):
            say(f"  {r['id']} {r['setup']}: ERROR {r['error']}")
    by_setup = {k: sum(1 for r in good if r["setup"] == k) for k in setups.keys()}
    say(f"evaluation: {len(good)}/{len(ids) * len(spec.setups)} answers without error in {seconds:.0f} s "
        f"({', '.join(f'{k} {n}' for k, n in by_setup.items())})")
    return len(good), len(ids) * len(spec.setups), seconds


def batch_speedup(settings, adapter_path: str, n_questions: int, max_new_tokens: int) -> tuple[float, int]:
    """What batching the evaluation's answers gains on this device: (answers/s batched over one at a time, width).

    The same questions both ways through two setups without an adapter or passages (one batch key; the CPU dry
    run stays short)."""
    from workbench import resources

    gen = resources.generator(settings)
    plain = ("base", "prompted")
    _, expected, batched_s = evaluate(settings, adapter_path, n_questions, max_new_tokens, plain)
    width, gen.parallel = gen.parallel, 1
    try:
        good_one, _, one_s = evaluate(settings, adapter_path, n_questions, max_new_tokens, plain)
    finally:
        gen.parallel = width
    gain = one_s / batched_s if batched_s > 0 else 0.0
    say(f"evaluation {width} at a time: {gain:.2f}x the answers per second of one at a time "
        f"({batched_s:.1f} s vs {one_s:.1f} s; {good_one}/{expected} answers one at a time)")
    return gain, width


def check(args, settings) -> bool:
    """Every step above; prints the figures and the RESULT line; True when the GPU check passed."""
    import torch

    from workbench.sample.workspace import load_sample_workspace

    t_start = time.perf_counter()
    on_gpu = settings.device == "cuda"
    if on_gpu:
        say(f"GPU: {torch.cuda.get_device_name(0)} ({torch.cuda.device_count()} visible), torch {torch.__version__}, "
            f"CUDA {torch.version.cuda}")
    else:
        say("CPU DRY RUN: the same steps on the CPU; this is not a GPU check and never reports ok")
    say("loading the sample workspace")
    messages = load_sample_workspace(settings)
    for m in messages:
        say(f"  {m}")
    failed = [m for m in messages if "failed" in m]
    adapter_path, clock, spec, train_device = train(settings, args, settings.storage / "gpu-check-train")
    trained = adapter_is_trained(adapter_path)
    nproc = torch.cuda.device_count() if on_gpu else 1
    if args.skip_distributed:
        ddp_s = None
        say("data-parallel: skipped (--skip-distributed)")
    else:
        ddp_s = train_data_parallel(settings, spec, settings.storage / "gpu-check-ddp", nproc)
    decode, changed, gen_device = generate(settings, adapter_path, args.max_new_tokens)
    good, expected, eval_s = evaluate(settings, adapter_path, args.questions, args.max_new_tokens)
    batch_gain, width = batch_speedup(settings, adapter_path, min(args.questions, 4), args.max_new_tokens)
    wall = time.perf_counter() - t_start
    step_s = clock.step_s()
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if on_gpu else "n/a"
    ddp = "skipped" if ddp_s is None else f"{ddp_s:.0f}"
    print(f"figures: train_step_s={step_s:.3f} (median of {len(clock.times) - 1}) decode_tokens_per_s={decode:.1f} "
          f"adapter_changed_answers={changed}/{len(PROMPTS)} eval_answers={good}/{expected} eval_s={eval_s:.0f} "
          f"eval_batch_width={width} eval_batch_speedup={batch_gain:.2f} "
          f"ddp_s={ddp} peak_gpu_memory={peak} wall_s={wall:.0f}", flush=True)
    problems = [f"sample workspace: {m}" for m in failed]
    if not on_gpu:
        problems.append("CPU dry run (not a GPU check)")
    else:
        if not gen_device.startswith("cuda"):
            problems.append(f"the generator ran on {gen_device}, not on the GPU")
        if not train_device.startswith("GPU"):
            problems.append(f"training ran on {train_device}, not on the GPU")
    if ddp_s is None and on_gpu:
        problems.append("the data-parallel leg was skipped (--skip-distributed)")
    if not trained:
        problems.append("the adapter's LoRA B matrices are all zero (training changed nothing)")
    if decode < MIN_DECODE_TOKENS_PER_S:
        problems.append(f"decode {decode:.1f} tokens/s < {MIN_DECODE_TOKENS_PER_S:.0f}")
    if not step_s <= MAX_TRAIN_STEP_S:
        problems.append(f"train step {step_s:.3f} s > {MAX_TRAIN_STEP_S}")
    if good < expected:
        problems.append(f"{expected - good} evaluation answers failed")
    if wall > MAX_WALL_S:
        problems.append(f"took {wall:.0f} s > {MAX_WALL_S:.0f}")
    for p in problems:
        say(f"short: {p}")
    target = (f"decode>={MIN_DECODE_TOKENS_PER_S:.0f},step<={MAX_TRAIN_STEP_S},answers={expected}/{expected},"
              f"wall<={MAX_WALL_S:.0f}")
    print(f"RESULT gpu_decode_tokens_per_s={decode:.1f} train_step_s={step_s:.3f} target={target} "
          f"{'short' if problems else 'ok'}", flush=True)
    return not problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--questions", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=0)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--storage")
    ap.add_argument("--skip-distributed", action="store_true",
                    help="leave out the torchrun (data-parallel) leg; the test suite's CPU dry run uses it because "
                         "tests/test_finetune_distributed.py covers that path; a GPU run that skips it never "
                         "reports ok")
    args = ap.parse_args(argv)
    if args.device == "cuda" and (problem := cuda_problem()):
        print(problem, file=sys.stderr, flush=True)
        return NO_CUDA_EXIT

    from workbench.settings import Settings

    shared_models = Settings.from_env().models_dir  # the converted bundled model, read only
    scratch = Path(args.storage) if args.storage else Path(tempfile.mkdtemp(prefix="wb-gpu-check-"))
    settings = Settings(storage=scratch.resolve(), models_root=shared_models, device=args.device).ensure_dirs()
    os.environ["WORKBENCH_STORAGE"] = str(settings.storage)
    os.environ["WORKBENCH_MODELS_DIR"] = str(shared_models)
    os.environ["WORKBENCH_DEVICE"] = args.device
    say(f"scratch storage {settings.storage}")
    try:
        return 0 if check(args, settings) or args.device == "cpu" else 1
    finally:
        if not args.storage:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
