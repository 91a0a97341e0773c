"""Optional LLM-judge scores, only when an OpenAI-compatible endpoint is configured; labelled as such.

Deterministic metrics stay the headline; a judge is a second opinion from another model, and its
scores are stored apart (judge.jsonl in the run folder) with the model that gave them.
"""
from __future__ import annotations

import re

from workbench.models.openai_client import ChatClient, EndpointError
from workbench.settings import Settings

JUDGE_PROMPT = (
    "You grade answers against a reference. Question: {question}\nReference answer: {reference}\n"
    "Candidate answer: {answer}\n\nIs the candidate's answer correct and consistent with the reference "
    "(for 'unknown' references: does it decline to answer)? Reply with one integer from 0 (wrong) to 10 "
    "(fully correct) and nothing else."
)


class JudgeError(RuntimeError):
    """The judge endpoint failed; the message is meant for the user."""


def configured(settings: Settings) -> bool:
    return bool(settings.endpoint_url and settings.endpoint_model)


def label(settings: Settings) -> str:
    return f"LLM judge ({settings.endpoint_model} at {settings.endpoint_url}; not deterministic)"


def ask(settings: Settings, prompt: str, timeout_s: float = 60.0) -> str:
    """One chat completion from the configured endpoint."""
    try:
        client = ChatClient.from_settings(settings, timeout_s=timeout_s)
        return client.chat(settings.endpoint_model, [{"role": "user", "content": prompt}], temperature=0)
    except EndpointError as e:
        raise JudgeError(f"the judge failed: {e}") from None


def parse_score(text: str) -> float | None:
    """The 0-10 grade in a judge reply as a fraction in [0, 1]; None when there is none."""
    m = re.search(r"\b(10|[0-9])\b", text)
    return int(m.group(1)) / 10 if m else None


def judge_run(settings: Settings, run_id: str, ctx) -> dict:
    """Grade every answer of a run not graded yet; appends to judge.jsonl. Returns counts."""
    from workbench.evaluation.runs import append_jsonl, load_run, run_dir

    if not configured(settings):
        raise JudgeError("no judge configured: set WORKBENCH_ENDPOINT_URL and WORKBENCH_ENDPOINT_MODEL")
    rec = load_run(settings, run_id)
    path = run_dir(settings, run_id) / "judge.jsonl"
    done = {(r["id"], r["setup"]) for r in load_judgements(settings, run_id)}
    items = {i.id: i for i in rec.items}
    todo = [r for r in rec.results if (r["id"], r["setup"]) not in done and not r.get("error")]
    for n, res in enumerate(todo, 1):
        if ctx.cancelled():
            break
        item = items[res["id"]]
        reply = ask(settings, JUDGE_PROMPT.format(question=item.question, reference=item.reference,
                                                  answer=res["text"]))
        append_jsonl(path, {"id": res["id"], "setup": res["setup"], "score": parse_score(reply),
                             "reply": reply[:200], "judge": label(settings)})
        ctx.progress(n, len(todo), f"judged {n}/{len(todo)}")
    return {"judged": len(done) + len(todo)}


def load_judgements(settings: Settings, run_id: str) -> list[dict]:
    from workbench.evaluation.runs import _read_jsonl, run_dir

    return _read_jsonl(run_dir(settings, run_id) / "judge.jsonl")


def judge_means(settings: Settings, run_id: str) -> dict[str, float]:
    """Mean judge score per setup (fractions), over the answers it graded."""
    by: dict[str, list[float]] = {}
    for r in load_judgements(settings, run_id):
        if r.get("score") is not None:
            by.setdefault(r["setup"], []).append(r["score"])
    return {s: sum(v) / len(v) for s, v in by.items()}


def run_job(ctx) -> dict:
    """Job handler: spec {"run_id": ...}."""
    return judge_run(ctx.settings, ctx.spec["run_id"], ctx)


def submit(settings: Settings, run_id: str):
    from workbench import jobs

    return jobs.submit(settings, "eval_judge", {"run_id": run_id}, name=f"judge {run_id}",
                       handler="workbench.evaluation.judge:run_job")
