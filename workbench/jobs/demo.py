"""A small real handler ("demo" kind): counts with a pause per step. Smoke-tests the job machinery."""
from __future__ import annotations

import time

from workbench.jobs.context import JobContext


def count(ctx: JobContext) -> dict:
    """Spec: n (steps), sleep_s (per step), fail_at (raise at this step), out (file to write at the end),
    stubborn (ignore cancel requests, like a handler stuck in a long computation)."""
    n = int(ctx.spec.get("n", 5))
    sleep_s = float(ctx.spec.get("sleep_s", 0.1))
    fail_at = ctx.spec.get("fail_at")
    total = 0
    for i in range(1, n + 1):
        if not ctx.spec.get("stubborn"):
            ctx.check_cancel()
        time.sleep(sleep_s)
        if fail_at is not None and i == int(fail_at):
            raise RuntimeError(f"asked to fail at step {i}")
        total += i
        ctx.metric(step=i, value=total)
        ctx.progress(i, n, f"step {i}/{n}")
        ctx.log(f"step {i}: total {total}")
    (ctx.dir / ctx.spec.get("out", "out.txt")).write_text(str(total))
    return {"total": total}
