"""The LoRA training loop: setup, fit with periodic validation, save; and the job handler around it.

Two things make it faster than a plain `transformers.Trainer` on CPU (bench/train.py measures it):
length-bucketed batches padded only to their own longest example, and logits computed only at
completion positions (the loss is on completions only, so the 49k-wide vocabulary projection of
every prompt token is wasted work).
"""
from __future__ import annotations

import math
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from workbench.finetune.datasets import Encoded, encode, examples_hash, load_examples, split
from workbench.finetune.distributed import SINGLE, Ranks, process_count, train_in_ranks
from workbench.finetune.model import load_for_training
from workbench.finetune.spec import TrainSpec
from workbench.settings import Settings


class Reporter(Protocol):
    """What the loop reports to: a JobContext in the app, something quieter in benchmarks."""

    def log(self, msg: str) -> None: ...
    def metric(self, step: int | None = None, **values) -> None: ...
    def progress(self, step: int, total: int, message: str = "") -> None: ...
    def cancelled(self) -> bool: ...


class Cancelled(Exception):
    """The user cancelled; the last checkpoint has been saved."""


@dataclass(frozen=True)
class Prepared:
    train: list[Encoded]
    val: list[Encoded]
    n_truncated: int
    n_dropped: int
    dataset_hash: str


def prepare(tokenizer, examples, spec: TrainSpec) -> Prepared:
    """Split, tokenise and apply the over-length policy; raises ValueError when nothing is left."""
    train_ex, val_ex = split(examples, spec.val_fraction, spec.seed)
    val_ex = val_ex[: spec.max_val_examples]
    out, truncated, dropped = [], 0, 0
    for part in (train_ex, val_ex):
        enc = []
        for ex in part:
            e = encode(tokenizer, ex, spec.max_seq_len, spec.overlong)
            if e is None:
                dropped += 1
            else:
                truncated += e.truncated
                enc.append(e)
        out.append(enc)
    if not out[0]:
        raise ValueError(f"No training examples left: {dropped} of {len(examples)} are longer than "
                         f"max_seq_len={spec.max_seq_len} tokens")
    return Prepared(out[0], out[1], truncated, dropped, examples_hash(examples))


def batch_order(lengths: list[int], batch_size: int, seed: int, bucketing: bool) -> list[list[int]]:
    """Index batches for one epoch. Bucketing sorts by length (ties shuffled), then shuffles batches."""
    rng = random.Random(seed)
    idx = list(range(len(lengths)))
    rng.shuffle(idx)
    if bucketing:
        idx.sort(key=lambda i: lengths[i])  # stable: equal lengths keep their shuffled order
    batches = [idx[i:i + batch_size] for i in range(0, len(idx), batch_size)]
    rng.shuffle(batches)
    return batches


def collate(items: list[Encoded], pad_id: int):
    """(input_ids, attention_mask, labels) padded on the right to the longest item only."""
    import torch

    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), -100, dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        mask[row, :n] = 1
        labels[row, e.n_prompt:n] = ids[row, e.n_prompt:n]
    return ids, mask, labels


def completion_loss_sum(model, ids, mask, labels):
    """(sum of token cross-entropies over completion tokens, their count), logits only where needed."""
    import torch.nn.functional as F

    base = model.get_base_model()
    hidden = base.model(input_ids=ids, attention_mask=mask).last_hidden_state
    target = labels[:, 1:]
    keep = target != -100  # position t predicts token t+1
    h = hidden[:, :-1][keep]
    logits = base.get_output_embeddings()(h).float()
    return F.cross_entropy(logits, target[keep], reduction="sum"), int(keep.sum())


def lr_factor(step: int, total: int, warmup: int, schedule: str) -> float:
    """Multiplier on the peak LR at optimiser step `step` (0-based)."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    if schedule == "linear":
        return max(0.0, 1.0 - progress)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def total_steps(spec: TrainSpec, n_train: int) -> int:
    if spec.max_steps:
        return spec.max_steps
    per_epoch = math.ceil(math.ceil(n_train / spec.batch_size) / spec.grad_accum)
    return max(1, math.ceil(per_epoch * spec.epochs))


def save_adapter(model, folder: Path) -> None:
    """Save the PEFT adapter so the folder is either the old checkpoint or the new one."""
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)


def evaluate(model, data: list[Encoded], batch_size: int, pad_id: int, device: str, autocast) -> float | None:
    """Mean completion-token loss over `data`; None when there is no validation data."""
    import torch

    if not data:
        return None
    model.eval()
    total, n = 0.0, 0
    with torch.no_grad(), torch.autocast(device, dtype=autocast, enabled=autocast is not None):
        for b in batch_order([len(e.input_ids) for e in data], batch_size, 0, True):
            ids, mask, labels = (t.to(device) for t in collate([data[i] for i in b], pad_id))
            s, k = completion_loss_sum(model, ids, mask, labels)
            total, n = total + float(s), n + k
    model.train()
    return total / max(1, n)


class _StopNow(Exception):
    """Raised inside the forward pass when a cancel arrives, so a long micro-batch stops early."""


def _cancel_hooks(model, rep: Reporter) -> list:
    """Check for a cancel before every decoder layer: on a slow CPU a micro-batch can take a minute."""
    def hook(_module, _args):
        if rep.cancelled():
            raise _StopNow()

    layers = model.get_base_model().model.layers
    return [layer.register_forward_pre_hook(hook) for layer in layers]


def fit(settings: Settings, spec: TrainSpec, out_dir: Path, rep: Reporter, examples=None,
        ranks: Ranks = SINGLE) -> dict:
    """Train a LoRA adapter; writes `out_dir/checkpoint` periodically and `out_dir/adapter` at the end.

    With `ranks` (one of several torchrun processes) it trains on its share of every batch and sums the
    gradients with the others; only rank 0 validates and saves (workbench.finetune.distributed)."""
    import torch

    t_setup = time.time()
    examples = load_examples(settings, spec.dataset) if examples is None else examples
    model, tok, device, autocast, device_label, base_path = load_for_training(settings, spec)
    data = prepare(tok, examples, spec)
    steps = total_steps(spec, len(data.train))
    trainable, total_params = model.get_nb_trainable_parameters()
    rep.log(f"device: {device_label}; base model {spec.base_model} ({base_path})")
    rep.log(f"data: {len(data.train)} train / {len(data.val)} validation examples, "
            f"{data.n_truncated} truncated, {data.n_dropped} dropped (max_seq_len {spec.max_seq_len})")
    rep.log(f"LoRA r={spec.lora_r} alpha={spec.lora_alpha} on {', '.join(spec.target_modules)}: "
            f"{trainable:,} trainable of {total_params:,} parameters; {steps} optimiser steps")
    params = [p for p in model.parameters() if p.requires_grad]
    if ranks.world > 1:
        ranks.broadcast(params)
        torch.manual_seed(spec.seed + ranks.rank)  # LoRA dropout: different masks on each rank's examples
    opt = torch.optim.AdamW(params, lr=spec.learning_rate, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: lr_factor(s, steps, spec.warmup_steps, spec.lr_schedule))
    scaler = torch.amp.GradScaler("cuda", enabled=autocast == torch.float16)
    pad_id = tok.pad_token_id
    lengths = [len(e.input_ids) for e in data.train]
    # Several ranks must stop at the same collective, so they agree on it once per step instead.
    stop_hooks = _cancel_hooks(model, rep) if ranks.world == 1 else []
    model.train()
    queue: list[list[int]] = []
    epoch, seen_examples, seen_tokens = 0, 0, 0
    last_loss = last_val = None
    t0, cpu0 = time.time(), time.process_time()
    rep.log(f"setup took {t0 - t_setup:.1f} s")
    rep.progress(0, steps, "training")
    completed = 0
    try:
        for step in range(steps):
            micro = []
            for _ in range(spec.grad_accum):
                if not queue:
                    queue = batch_order(lengths, spec.batch_size, spec.seed + epoch, spec.length_bucketing)
                    epoch += 1
                micro.append(ranks.shard([data.train[i] for i in queue.pop(0)]))
            batches = [collate(m, pad_id) for m in micro if m]
            n_tokens = sum(int((lab[:, 1:] != -100).sum()) for _, _, lab in batches)
            n_examples = sum(len(m) for m in micro)
            n_seen = sum(int(mask.sum()) for _, mask, _ in batches)
            if ranks.world > 1:  # global counts, so the summed gradient is the token mean of the whole batch
                stop, n_tokens, n_examples, n_seen = ranks.sum(
                    [float(rep.cancelled()), n_tokens, n_examples, n_seen], device)
                if stop:
                    raise _StopNow()
            loss_sum = 0.0
            for ids, mask, labels in batches:
                if ranks.world == 1 and rep.cancelled():
                    raise _StopNow()
                ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
                with torch.autocast(device, dtype=autocast, enabled=autocast is not None):
                    s, _ = completion_loss_sum(model, ids, mask, labels)
                scaler.scale(s / max(1, n_tokens)).backward()
                loss_sum += float(s.detach())
            loss_sum = ranks.sum_grads(params, loss_sum)
            seen_tokens += int(n_seen)
            lr = opt.param_groups[0]["lr"]
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
            completed = step + 1
            seen_examples += int(n_examples)
            last_loss = loss_sum / max(1, n_tokens)
            elapsed = time.time() - t0
            rec = dict(loss=last_loss, lr=lr, epoch=round(seen_examples / len(data.train), 3),
                       examples_per_s=seen_examples / elapsed, tokens_per_s=seen_tokens / elapsed)
            due = (spec.val_interval and completed % spec.val_interval == 0) or completed == steps
            if ranks.lead and data.val and due:
                last_val = evaluate(model, data.val, spec.batch_size, pad_id, device, autocast)
                rec["val_loss"] = last_val
                save_adapter(model, out_dir / "checkpoint")
            rep.metric(step=completed, **rec)
            rep.progress(completed, steps, f"step {completed}/{steps}, loss {last_loss:.3f}")
            rep.log(f"step {completed}/{steps} loss {last_loss:.4f} lr {lr:.2e}"
                    + (f" val_loss {last_val:.4f}" if "val_loss" in rec else ""))
    except _StopNow:
        # Half-accumulated gradients are dropped: the checkpoint holds the last completed step.
        for h in stop_hooks:
            h.remove()
        opt.zero_grad(set_to_none=True)
        if ranks.lead:
            save_adapter(model, out_dir / "checkpoint")
        rep.log(f"cancelled after step {completed}; checkpoint saved")
        raise Cancelled(completed) from None
    for h in stop_hooks:
        h.remove()
    train_s, train_cpu_s = time.time() - t0, time.process_time() - cpu0
    if ranks.lead:
        save_adapter(model, out_dir / "adapter")
        shutil.rmtree(out_dir / "checkpoint", ignore_errors=True)
    return dict(final_loss=last_loss, final_val_loss=last_val, train_seconds=round(train_s, 1),
                train_cpu_seconds=round(train_cpu_s, 1), steps=steps,
                examples_per_s=seen_examples / train_s, tokens_per_s=seen_tokens / train_s,
                n_train=len(data.train), n_val=len(data.val), n_truncated=data.n_truncated,
                n_dropped=data.n_dropped, dataset_hash=data.dataset_hash, device=device_label,
                base_path=base_path, processes=ranks.world)


def run_job(ctx) -> dict:
    """Job handler for kind "finetune": train, then register the adapter under the spec's name."""
    from workbench.finetune.adapters import AdapterRegistry
    from workbench.jobs.context import JobCancelled

    spec = TrainSpec.from_json(ctx.spec)
    nproc = process_count(ctx.settings, spec)
    try:
        if nproc > 1:
            result = train_in_ranks(ctx.settings, spec, ctx.dir, ctx, nproc)
        else:
            result = fit(ctx.settings, spec, ctx.dir, ctx)
    except Cancelled as e:
        raise JobCancelled(str(e)) from None
    info = AdapterRegistry(ctx.settings).register(ctx.dir / "adapter", spec, result, job_id=ctx.job_id)
    ctx.log(f"adapter registered as '{info.name}' ({info.size_mb:.1f} MB)")
    out = {**{k: v for k, v in result.items() if k != "base_path"}, "adapter": info.name}
    from workbench import tracking  # MLflow, when WORKBENCH_MLFLOW_URI is set; never fails the job

    tracking.track_training(ctx.settings, ctx.dir, out, log=ctx.log)
    return out
