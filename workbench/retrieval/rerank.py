"""An optional cross-encoder stage that re-orders the first stage's candidates (WORKBENCH_RERANKER_MODEL)."""
from __future__ import annotations

import threading

from workbench.settings import Settings
from workbench.types import ScoredChunk

CROSS_ENCODER = "cross-encoder score"
# Candidates the cross-encoder reads per query: enough to lift a gold passage from rank 20, few enough
# that a MiniLM-sized cross-encoder stays under a second on two CPU cores.
RERANK_DEPTH = 20

_models: dict[str, object] = {}
_lock = threading.Lock()


def reranker_for(settings: Settings):
    """The configured cross-encoder (loaded once per process), or None when no reranker is set."""
    name = settings.reranker_model
    if not name:
        return None
    with _lock:
        model = _models.get(name)
        if model is None:
            from sentence_transformers import CrossEncoder

            from workbench.models.registry import pick_device, resolve_local

            path = resolve_local(name, settings, "reranker")
            device, _ = pick_device(settings)
            try:
                model = CrossEncoder(path, device=device)
            except Exception as e:  # a folder that is not a cross-encoder: say which setting is wrong
                raise ValueError(f"WORKBENCH_RERANKER_MODEL={name!r} could not be loaded as a cross-encoder: {e}") from e
            _models[name] = model
        return model


def rerank(model, query: str, hits: list[ScoredChunk], k: int, texts: list[str] | None = None) -> list[ScoredChunk]:
    """The best k of `hits` by cross-encoder score of (query, text); `texts` defaults to the passages shown."""
    if not hits:
        return []
    texts = texts if texts is not None else [h.chunk.text for h in hits]
    scores = model.predict([(query, t) for t in texts], show_progress_bar=False, convert_to_numpy=True)
    order = sorted(range(len(hits)), key=lambda i: (-float(scores[i]), hits[i].rank))[:k]
    return [ScoredChunk(hits[i].chunk, float(scores[i]), CROSS_ENCODER, r + 1,
                        {**hits[i].details, "first_stage_rank": hits[i].rank, "first_stage_score": hits[i].score})
            for r, i in enumerate(order)]
