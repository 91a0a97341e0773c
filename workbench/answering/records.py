"""Answers and the passages they saw as flat JSON records (run folders, exports) and back."""
from __future__ import annotations

from workbench.types import Answer, Chunk, ScoredChunk


def passage_to_json(sc: ScoredChunk) -> dict:
    """A retrieved passage as stored: the chunk with its position, score, metric and rank."""
    c = sc.chunk
    return {"chunk_id": c.chunk_id, "doc_id": c.doc_id, "doc_name": c.doc_name, "page": c.page,
            "page_end": c.page_end, "start": c.start, "end": c.end, "index": c.index,
            "text": c.text, "score": float(sc.score), "rank": int(sc.rank), "metric": sc.metric}


def passage_from_json(p: dict) -> ScoredChunk:
    """A stored passage back as the ScoredChunk the answer path takes."""
    # Records written before page spans have no page_end: the passage reads as lying on its first page.
    chunk = Chunk(p["chunk_id"], p.get("doc_id", ""), p["doc_name"], p["text"], int(p.get("start", 0)),
                  int(p.get("end", len(p["text"]))), int(p.get("index", 0)), p.get("page"), p.get("page_end"))
    return ScoredChunk(chunk, float(p["score"]), p["metric"], int(p["rank"]))


def answer_record(question_id: str, a: Answer, seconds: float) -> dict:
    """One answer as a flat record: text, error, note, latency (`seconds` when it has no stats) and tokens."""
    st = a.stats
    return {"id": question_id, "setup": a.setup, "text": a.text, "error": a.error, "note": a.note,
            "latency_s": st.latency_s if st else seconds, "ttft_s": st.ttft_s if st else None,
            "prompt_tokens": st.prompt_tokens if st else None,
            "prompt_reused": st.prompt_reused if st else None,
            "completion_tokens": st.completion_tokens if st else None}
