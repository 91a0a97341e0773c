"""CPU threads for torch: one rule, decided once per process.

The rule (`free_cores`): the cores other processes leave free, i.e. os.cpu_count() minus the 1-minute
load average after taking this process's own recent CPU use out of it, rounded, at least 1; every core
where there is no load average (Windows). Why: torch's OpenMP threads on an oversubscribed CPU wait on
each other and each step runs several times slower than with one thread: decoding in bench/RESULTS.md,
and a training step on this project's shared 2-core machine (load average ~12) took 4-5x longer with 2
threads than with 1.

When (`configure_torch_threads`): once per process, as it loads its first model (the app's generator
or embedder, a job worker's) or starts a training job. torch's count is process-wide (each new thread,
such as a Streamlit session's or a generation's, starts from it), so it is never changed around single
calls while other sessions run torch code. A long-lived app keeps the count it decided at start.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque

_CPU_SAMPLES: deque = deque()  # (monotonic s, this process's CPU s): its own share of the load
_CPU_WINDOW_S = 60.0  # the 1-minute load average remembers about this long
_decided: int | None = None
_lock = threading.Lock()


def own_cpu_load() -> float:
    """Cores this process kept busy on average over about the last minute (all its threads)."""
    now, cpu = time.monotonic(), time.process_time()
    _CPU_SAMPLES.append((now, cpu))
    while len(_CPU_SAMPLES) > 2 and now - _CPU_SAMPLES[1][0] >= _CPU_WINDOW_S:
        _CPU_SAMPLES.popleft()
    t0, c0 = _CPU_SAMPLES[0]
    if now - t0 < 5.0:  # too short a window: average since the process started
        try:
            import psutil

            age = max(1.0, time.time() - psutil.Process().create_time())
        except Exception:
            return 0.0
        return cpu / age
    return (cpu - c0) / (now - t0)


def free_cores(own_recent: float = 0.0) -> int:
    """Cores not busy with other processes' work (1-minute load average minus our own share), at least 1."""
    n = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (OSError, AttributeError):  # no load average (Windows): use every core
        return n
    others = max(0.0, load - max(own_recent, own_cpu_load()))
    return max(1, min(n, int(n - others + 0.5)))


def configure_torch_threads(threads: int | None = None) -> int:
    """Decide torch's CPU thread count for this process the first time (`threads`, else `free_cores()`).

    A process that knows its count (a benchmark's child, a command line) passes it before loading any
    model, so the first model load does not override it; later calls return the decided count.
    """
    global _decided
    with _lock:
        if _decided is None:
            import torch

            _decided = max(1, int(threads)) if threads else free_cores()
            torch.set_num_threads(_decided)
        return _decided

