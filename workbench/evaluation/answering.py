"""Generating every (question, setup) answer of a run through the arena's answer path.

The arena's `stream_answer` builds the prompt (context only for RAG/hybrid) and picks the adapter
(only for fine-tuned/hybrid), so the evaluation measures exactly what the arena shows.
"""
from __future__ import annotations

import time
from collections.abc import Callable

from workbench.prompts import DEFAULT_SYSTEM_PROMPT
from workbench.types import Chunk, ScoredChunk


def to_scored(p: dict) -> ScoredChunk:
    """A stored passage (run folder JSON) back as the ScoredChunk the arena takes."""
    chunk = Chunk(p["chunk_id"], p.get("doc_id", ""), p["doc_name"], p["text"], int(p.get("start", 0)),
                  int(p.get("end", len(p["text"]))), int(p.get("index", 0)), p.get("page"))
    return ScoredChunk(chunk, float(p["score"]), p["metric"], int(p["rank"]))


def answer_all(generator, spec, todo: list, retrieved: dict, ctx, keep: Callable[[dict], None],
               start: int = 0, total: int | None = None) -> int:
    """Answer each (item, setup) in `todo` in order, handing each record to `keep`; returns how many.

    Answers stream, so a cancel stops waiting within one token; the cut answer is not recorded (a
    resumed run redoes it), and its generation finishes in its daemon thread or dies with the worker.
    """
    from workbench.arena import USES_RETRIEVAL, stream_answer
    from workbench.models.generator import GenerationConfig

    cfg = GenerationConfig(max_new_tokens=int(spec.max_new_tokens), temperature=float(spec.temperature),
                           top_p=float(spec.top_p), seed=int(spec.seed))
    system_prompt = DEFAULT_SYSTEM_PROMPT if spec.system_prompt is None else (spec.system_prompt or None)
    total = total or len(todo)
    n = 0
    for item, setup in todo:
        if ctx.cancelled():
            break
        passages = [to_scored(p) for p in retrieved.get(item.id, [])] if setup in USES_RETRIEVAL else []
        t0 = time.perf_counter()
        stream = stream_answer(setup, item.question, generator=generator, passages=passages,
                               adapter_path=spec.adapter_path, cfg=cfg, system_prompt=system_prompt)
        pieces = iter(stream)
        cut = False
        try:
            for _ in pieces:
                if ctx.cancelled():
                    pieces.close()
                    cut = True
                    break
        except Exception as e:  # anything the arena does not turn into Answer.error: recorded, the run goes on
            keep({"id": item.id, "setup": setup, "text": "", "error": f"{type(e).__name__}: {e}", "note": None,
                  "latency_s": time.perf_counter() - t0, "ttft_s": None, "prompt_tokens": None,
                  "completion_tokens": None})
        else:
            if cut:
                break
            a = stream.answer
            st = a.stats
            keep({"id": item.id, "setup": setup, "text": a.text, "error": a.error,
                  "note": getattr(a, "note", None),
                  "latency_s": st.latency_s if st else time.perf_counter() - t0,
                  "ttft_s": st.ttft_s if st else None, "prompt_tokens": st.prompt_tokens if st else None,
                  "completion_tokens": st.completion_tokens if st else None})
        n += 1
        ctx.progress(start + n, total, f"answered {start + n}/{total} ({setup}, {item.id})")
    return n
