"""Data-parallel LoRA training through torchrun: the launcher (in the job's worker) and the rank side.

The worker runs `python -m torch.distributed.run ... -m workbench.finetune.distributed OUT_DIR` as a child in
its own session. Every rank loads the model and takes its share (items rank::world) of every batch of the
one-process batch order, so `batch_size` stays the global batch and N processes train the same adapter as
one, only faster; the LoRA gradients and the loss are summed across ranks once per optimiser step (a flat
all_reduce: a few MB even for the "GPU standard" preset). Backend nccl on CUDA (one GPU per rank), gloo on CPU.

Only rank 0 reports: it writes protocol lines on stdout that the launcher turns into the job's log, metrics
and progress (the worker stays the one writer of the job's status), and only rank 0 saves checkpoints and
the adapter. Cancel: the launcher touches `ranks/stop`; rank 0 sees it at the next optimiser step and every
rank agrees to stop through the same all_reduce that sums token counts; ranks still alive after
STOP_GRACE_S are killed. A crashed rank makes torchrun stop the others; its error (its own error file, else
torchrun's root-cause summary) fails the job. Ranks die with torchrun, and torchrun with the worker
(PR_SET_PDEATHSIG), so a SIGKILLed worker leaves no training processes behind.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from workbench.settings import REPO_ROOT, Settings

RANKS_DIR = "ranks"  # in the output folder: the spec the ranks read, the stop flag, error files
STOP_FILE = "stop"
STOP_GRACE_S = 15.0  # after a cancel: below the job runner's 30 s before it kills the worker
_MARK = "\x1ewb-rank0 "  # starts a protocol line from rank 0 (never in ordinary library output)
_PR_SET_PDEATHSIG = 1


class RankFailed(RuntimeError):
    """A training rank (or torchrun itself) failed; the message names the rank and its error."""


@dataclass(frozen=True)
class Ranks:
    """This process's place among the training processes; the one-process default makes every call a no-op."""

    rank: int = 0
    world: int = 1

    @property
    def lead(self) -> bool:
        return self.rank == 0

    def shard(self, items: list) -> list:
        """This rank's share of one batch (interleaved: length-bucketed batches split evenly)."""
        return items[self.rank::self.world] if self.world > 1 else items

    def sum(self, values: list[float], device) -> list[float]:
        """Element-wise sums over all ranks (token counts, the stop flag)."""
        if self.world == 1:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return t.tolist()

    def sum_grads(self, params: list, extra: float) -> float:
        """Sum every trainable parameter's gradient over all ranks in one all_reduce; returns the summed `extra`."""
        if self.world == 1:
            return extra
        import torch
        import torch.distributed as dist

        # A rank whose share of the step was empty has no gradients: it contributes zeros.
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads]
                         + [torch.tensor([extra], dtype=torch.float32, device=grads[0].device)])
        dist.all_reduce(flat)
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset:offset + n].view_as(p).to(p.dtype)
            offset += n
        return float(flat[-1])

    def broadcast(self, params: list) -> None:
        """Rank 0's values for `params` everywhere (the fresh LoRA weights start identical)."""
        if self.world == 1:
            return
        import torch.distributed as dist

        for p in params:
            dist.broadcast(p.data, src=0)


SINGLE = Ranks()


def process_count(settings: Settings, spec) -> int:
    """How many training processes the job runs: `spec.processes`, or with 0 one per CUDA GPU (at most batch_size)."""
    import torch

    gpus = torch.cuda.device_count() if settings.device in ("auto", "cuda") and torch.cuda.is_available() else 0
    if spec.processes == 0:
        return max(1, min(gpus, spec.batch_size))
    if gpus and spec.processes > gpus:
        raise ValueError(f"the spec asks for {spec.processes} training processes, but this machine has "
                         f"{gpus} GPU(s): one process per GPU at most (or 0 for one per GPU)")
    return spec.processes


# --- the launcher (in the job's worker) ----------------------------------------------------------

def _libc_prctl():
    import ctypes

    return ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: preexec_fn only calls it


def _rank_env(settings: Settings, threads: int) -> dict[str, str]:
    """The ranks' environment: these Settings (ranks build theirs with Settings.from_env) and one thread count."""
    env = dict(os.environ)
    env.update(WORKBENCH_STORAGE=str(settings.storage), WORKBENCH_DEVICE=settings.device,
               WORKBENCH_GENERATOR_MODEL=settings.generator_model, OMP_NUM_THREADS=str(threads),
               PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p))
    if settings.models_root:
        env["WORKBENCH_MODELS_DIR"] = str(settings.models_root)
    return env


def _kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL torchrun and every rank (ranks run in sessions of their own, so no process group covers them)."""
    import psutil

    try:
        parent = psutil.Process(proc.pid)
        victims = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        victims = []
    for p in victims:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=10)
    proc.wait()


def _root_cause(lines: list[str]) -> tuple[int | None, str]:
    """(rank, summary) from torchrun's "Root Cause" section (exit code, traceback), else (None, last lines)."""
    starts = [i for i, ln in enumerate(lines) if "Root Cause" in ln]
    if starts:
        fields = {}
        for ln in lines[starts[-1]:]:
            key, _, value = ln.strip().partition(":")
            if key.strip() in ("rank", "exitcode", "traceback") and key.strip() not in fields:
                fields[key.strip()] = " ".join(value.split())
        if "rank" in fields:
            rank = int(fields["rank"].split()[0]) if fields["rank"].split()[0].isdigit() else None
            return rank, "; ".join(f"{k} {fields[k]}" for k in ("exitcode", "traceback") if k in fields)
    return None, " | ".join(ln.strip() for ln in lines[-3:] if ln.strip()) or "no output"


def _failure(rdir: Path, returncode: int, tail: list[str]) -> str:
    """Why the ranks failed: the root-cause rank's own error when it wrote one, else what torchrun saw."""
    rank, summary = _root_cause(tail)
    errors = sorted(rdir.glob("error-*.txt"), key=lambda p: p.stat().st_mtime)
    own = rdir / f"error-{rank}.txt"
    if rank is not None:
        return f"training rank {rank} failed: {own.read_text().strip()[:500] if own.is_file() else summary}"
    if errors:  # the first rank to fail is the cause; others usually failed on its lost connection
        return f"training rank {errors[0].stem.removeprefix('error-')} failed: {errors[0].read_text().strip()[:500]}"
    return f"torchrun exited with code {returncode}: {summary}"


def train_in_ranks(settings: Settings, spec, out_dir: Path, rep, nproc: int, threads: int | None = None) -> dict:
    """Run `fit` in `nproc` torchrun ranks; rank 0's reports go to `rep`. Returns fit's result dict.

    Raises train.Cancelled once every rank has stopped after a cancel, RankFailed when a rank failed."""
    from workbench.finetune.train import Cancelled
    from workbench.models.threads import free_cores

    rdir = out_dir / RANKS_DIR
    rdir.mkdir(parents=True, exist_ok=True)
    for old in rdir.iterdir():
        old.unlink()
    (rdir / "spec.json").write_text(json.dumps(spec.to_json()))
    threads = threads or max(1, free_cores() // nproc)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
           f"--nproc-per-node={nproc}", "--max-restarts=0", "-m", "workbench.finetune.distributed", str(out_dir)]
    prctl, me = _libc_prctl(), os.getpid()

    def die_with_worker():
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # torchrun's SIGTERM handler then stops its ranks
        if os.getppid() != me:  # the worker died before the line above
            os._exit(1)

    rep.log(f"data-parallel training: {nproc} processes through torchrun, {threads} CPU thread(s) each")
    proc = subprocess.Popen(cmd, env=_rank_env(settings, threads), cwd=str(REPO_ROOT), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, errors="replace", bufsize=1, start_new_session=True,
                            preexec_fn=die_with_worker)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(ln) for ln in proc.stdout], daemon=True).start()
    tail: deque = deque(maxlen=60)
    result: dict | None = None
    cancelled_at: int | None = None
    stop_sent: float | None = None
    try:
        while True:
            done = proc.poll() is not None
            while True:  # drain what arrived (everything, once torchrun has exited)
                try:
                    line = lines.get(timeout=0.5 if done else 0)
                except queue.Empty:
                    break
                if line.startswith(_MARK):
                    msg = json.loads(line[len(_MARK):])
                    kind = msg.pop("kind")
                    if kind == "log":
                        rep.log(msg["msg"])
                    elif kind == "metric":
                        rep.metric(**msg)
                    elif kind == "progress":
                        rep.progress(msg["step"], msg["total"], msg["message"])
                    elif kind == "result":
                        result = msg["result"]
                    elif kind == "cancelled":
                        cancelled_at = msg["step"]
                else:
                    tail.append(line.rstrip("\n"))
                    print(line, end="", flush=True)  # in a job: the worker's stdout is log.txt
            if done:
                break
            if stop_sent is None and rep.cancelled():
                (rdir / STOP_FILE).touch()
                stop_sent = time.monotonic()
            elif stop_sent is not None and time.monotonic() - stop_sent > STOP_GRACE_S:
                rep.log(f"ranks did not stop within {STOP_GRACE_S:.0f} s of the cancel: killing them")
                _kill_tree(proc)
                break
            time.sleep(0.2)
    finally:
        if proc.poll() is None:  # an exception in this loop: no rank outlives the launcher
            _kill_tree(proc)
    if proc.returncode == 0 and result is not None:
        return result  # finished before the stop reached rank 0: the job still ends cancelled
    if stop_sent is not None or cancelled_at is not None:
        raise Cancelled(cancelled_at or 0)
    raise RankFailed(_failure(rdir, proc.returncode, list(tail)))


# --- the rank side (in each torchrun process) ----------------------------------------------------

class _Rank0Reporter:
    """Rank 0's Reporter: protocol lines to the launcher; cancelled once the launcher's stop file exists."""

    def __init__(self, stop: Path):
        self.stop = stop

    def _send(self, kind: str, **values) -> None:
        print(_MARK + json.dumps({"kind": kind, **values}), flush=True)

    def log(self, msg: str) -> None:
        self._send("log", msg=msg)

    def metric(self, step: int | None = None, **values) -> None:
        self._send("metric", step=step, **values)

    def progress(self, step: int, total: int, message: str = "") -> None:
        self._send("progress", step=step, total=total, message=message)

    def cancelled(self) -> bool:
        return self.stop.exists()


class _QuietReporter:
    """The other ranks: they report nothing; rank 0 decides about stopping."""

    def log(self, msg: str) -> None: ...
    def metric(self, step: int | None = None, **values) -> None: ...
    def progress(self, step: int, total: int, message: str = "") -> None: ...
    def cancelled(self) -> bool:
        return False


def rank_main(out_dir: Path) -> int:
    """One torchrun rank: join the group, train its share, rank 0 reports and saves."""
    import datetime

    _libc_prctl()(_PR_SET_PDEATHSIG, signal.SIGKILL)  # dies with torchrun, even a SIGKILLed one
    rdir = out_dir / RANKS_DIR
    rank = int(os.environ.get("RANK", "0"))  # set by torchrun, the launch protocol
    try:
        import torch
        import torch.distributed as dist

        from workbench.finetune.spec import TrainSpec
        from workbench.finetune.train import Cancelled, fit
        from workbench.models.registry import pick_device
        from workbench.models.threads import configure_torch_threads

        configure_torch_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        settings = Settings.from_env()
        spec = TrainSpec.from_json((rdir / "spec.json").read_text())
        device, _ = pick_device(settings)
        if device == "cuda":
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)  # "cuda" now means this rank's GPU, for the model and nccl
            dist.init_process_group("nccl", timeout=datetime.timedelta(minutes=30),
                                    device_id=torch.device("cuda", local))
        else:
            dist.init_process_group("gloo", timeout=datetime.timedelta(minutes=30))
        ranks = Ranks(dist.get_rank(), dist.get_world_size())
        rep = _Rank0Reporter(rdir / STOP_FILE) if ranks.lead else _QuietReporter()
        rep.log(f"rank 0 of {ranks.world}: backend {dist.get_backend()}")
        try:
            result = fit(settings, spec, out_dir, rep, ranks=ranks)
            if ranks.lead:
                rep._send("result", result=result)
        except Cancelled as e:
            if ranks.lead:
                rep._send("cancelled", step=int(e.args[0]) if e.args else 0)
        dist.destroy_process_group()
        return 0
    except BaseException as e:
        traceback.print_exc()
        (rdir / f"error-{rank}.txt").write_text(f"{type(e).__name__}: {e}")
        return 1


if __name__ == "__main__":
    sys.exit(rank_main(Path(sys.argv[1])))
