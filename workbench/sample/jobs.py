"""Loading the sample workspace, the sample knowledge base or the public benchmark as background jobs.

Each writes `{"messages": [...]}` (one line per part) to its `result.json`; a page finds the newest one
again by kind (`spec["key"]` is the same for every job of a kind: there is one sample workspace).
"""
from __future__ import annotations

from workbench import jobs
from workbench.jobs.results import reporter, write_result
from workbench.settings import Settings

WORKSPACE_KIND, SAMPLE_KB_KIND, PUBLIC_KIND = "sample_workspace", "sample_kb", "public_benchmark"
KEY = "sample"
HANDLERS = "workbench.sample.jobs"


def messages_from_json(d: dict) -> list[str]:
    return [str(m) for m in d["messages"]]


def submit_workspace(settings: Settings) -> jobs.JobStatus:
    """Queue the "Load sample workspace" action (every part's sample loader)."""
    return jobs.submit(settings, WORKSPACE_KIND, {"key": KEY}, handler=f"{HANDLERS}:run_workspace",
                       name="load the sample workspace")


def submit_sample_kb(settings: Settings) -> jobs.JobStatus:
    """Queue building (or topping up) collection "sample-kb" alone."""
    return jobs.submit(settings, SAMPLE_KB_KIND, {"key": KEY}, handler=f"{HANDLERS}:run_sample_kb",
                       name="load the sample knowledge base")


def submit_public(settings: Settings, n: int | None = None) -> jobs.JobStatus:
    """Queue building collection `halueval-qa` from the public benchmark's passages (`n` questions' worth)."""
    return jobs.submit(settings, PUBLIC_KIND, {"key": KEY, "n": n}, handler=f"{HANDLERS}:run_public",
                       name="load the public benchmark (HaluEval QA)")


def run_workspace(ctx: jobs.JobContext) -> dict:
    """Handler: every part's loader in turn; a cancel stops the part under way and skips the rest."""
    from workbench.sample.workspace import load_sample_workspace

    msgs = load_sample_workspace(ctx.settings, reporter(ctx), cancel=ctx.cancelled)
    write_result(ctx.dir, {"messages": msgs})
    return {"parts": len(msgs)}


def run_sample_kb(ctx: jobs.JobContext) -> dict:
    """Handler: collection "sample-kb" from the bundled documents (unchanged files are not re-embedded)."""
    from workbench.knowledge.sample import load

    progress = reporter(ctx)

    def report(f: float, m: str) -> None:
        ctx.check_cancel()  # raised through the loader before its next batch is written: the job ends cancelled
        progress(f, m)

    msg = load(ctx.settings, report)
    write_result(ctx.dir, {"messages": [msg]})
    return {}


def run_public(ctx: jobs.JobContext) -> dict:
    """Handler: collection `halueval-qa`; a cancel keeps the passages indexed before it."""
    from workbench.sample import public

    msg = public.load_public_benchmark(ctx.settings, ctx.spec.get("n"), progress=reporter(ctx), cancel=ctx.cancelled)
    write_result(ctx.dir, {"messages": [msg]})
    return {}
