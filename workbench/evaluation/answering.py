"""Generating every (question, setup) answer of a run with one generator and identical settings."""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

from workbench.prompts import DEFAULT_SYSTEM_PROMPT, Passage, chat_messages


def passages_for(setup: str, passages: list[dict] | None) -> list[Passage]:
    """The context a setup gets: the run's retrieved passages for rag/hybrid, nothing otherwise."""
    if setup not in ("rag", "hybrid") or not passages:
        return []
    return [Passage(p["text"], p["doc_name"], p.get("page")) for p in passages]


def messages_for(setup: str, question: str, passages: list[dict] | None, system_prompt: str | None) -> list[dict]:
    """The chat messages one setup sends for one question (the arena's prompt layout)."""
    sp = DEFAULT_SYSTEM_PROMPT if system_prompt is None else system_prompt
    return chat_messages(question, passages_for(setup, passages), system_prompt=sp or None)


class AdapterSwitch:
    """Attach a LoRA adapter to a loaded generator once, enable it per setup, detach at the end.

    peft injects the LoRA layers into the base model in place; `disable_adapter()` gives the plain
    base model back for base/RAG without a reload, and `unload()` removes the layers afterwards,
    so a generator shared with other users is left as it was found.
    """

    def __init__(self, generator, adapter_path: str | None):
        self.generator, self.path, self.peft = generator, adapter_path, None
        # Set when a generation was cut short: its thread still holds the model, so the adapter is
        # left attached (the worker process is about to end anyway).
        self.abandoned = False

    def __enter__(self):
        if self.path:
            from peft import PeftModel

            with self.generator.lock:
                self.base = self.generator.model
                self.peft = PeftModel.from_pretrained(self.base, self.path).eval()
                self.generator.model = self.peft
        return self

    def use(self, setup: str):
        """Context in which the generator answers as `setup` (adapter on for finetuned/hybrid only)."""
        if self.peft is None:
            if setup in ("finetuned", "hybrid"):
                raise RuntimeError("this setup needs an adapter, and none is attached")
            return contextlib.nullcontext()
        return contextlib.nullcontext() if setup in ("finetuned", "hybrid") else self.peft.disable_adapter()

    def __exit__(self, *exc):
        if self.peft is not None and not self.abandoned:
            with self.generator.lock:
                self.generator.model = self.peft.unload()
            self.peft = None
        return False


def _generate_cancellable(generator, msgs, cfg, ctx):
    """(text, stats) of one answer, or (partial text, None) when the run is cancelled meanwhile.

    Streaming lets a cancel stop waiting within one token instead of one whole answer; the
    abandoned generation finishes in its daemon thread (or dies with the worker process).
    Not under generator.lock: stream() takes it in its own thread, where an RLock held here blocks.
    """
    stats: list = []
    pieces = []
    stream = generator.stream(msgs, cfg, stats_out=stats)
    for piece in stream:
        pieces.append(piece)
        if ctx.cancelled():
            stream.close()
            return "".join(pieces), None
    return "".join(pieces).strip(), stats[0]


def answer_all(generator, spec, todo: list, retrieved: dict, ctx, keep: Callable[[dict], None],
               start: int = 0, total: int | None = None) -> int:
    """Answer each (item, setup) in `todo` in order, handing each record to `keep`; returns how many."""
    from workbench.models.generator import GenerationConfig

    cfg = GenerationConfig(max_new_tokens=int(spec.max_new_tokens), temperature=float(spec.temperature),
                           top_p=float(spec.top_p), seed=int(spec.seed))
    total = total or len(todo)
    n = 0
    needs_adapter = any(s in ("finetuned", "hybrid") for _, s in todo)
    with AdapterSwitch(generator, spec.adapter_path if needs_adapter else None) as adapters:
        for item, setup in todo:
            if ctx.cancelled():
                break
            msgs = messages_for(setup, item.question, retrieved.get(item.id), spec.system_prompt)
            rec = {"id": item.id, "setup": setup, "text": "", "latency_s": None, "ttft_s": None,
                   "prompt_tokens": None, "completion_tokens": None, "error": None}
            t0 = time.perf_counter()
            try:
                with adapters.use(setup):
                    text, stats = _generate_cancellable(generator, msgs, cfg, ctx)
                if stats is None:  # cancelled mid-answer: nothing is recorded, a resume redoes it
                    adapters.abandoned = True
                    break
                rec.update(text=text, latency_s=stats.latency_s, ttft_s=stats.ttft_s,
                           prompt_tokens=stats.prompt_tokens, completion_tokens=stats.completion_tokens)
            except Exception as e:  # one failing answer is recorded, the run goes on
                rec.update(error=f"{type(e).__name__}: {e}", latency_s=time.perf_counter() - t0)
            keep(rec)
            n += 1
            ctx.progress(start + n, total, f"answered {start + n}/{total} ({setup}, {item.id})")
    return n
