"""Retrieval modes over one collection: dense (Chroma), BM25, hybrid (weighted RRF) and MMR."""
from __future__ import annotations

import numpy as np

from workbench.retrieval.config import RetrievalSettings
from workbench.retrieval.corpus import Corpus, corpus_for
from workbench.types import ScoredChunk

RRF_K = 60  # the constant from Cormack et al. (2009); damps the gap between rank 1 and rank 2
COSINE = "cosine similarity"
BM25 = "BM25"
RRF = "fused rank (RRF)"
MMR = "cosine similarity (MMR order)"
METRICS = {"dense": COSINE, "bm25": BM25, "hybrid": RRF, "mmr": MMR}


def _pool(k: int) -> int:
    """How many candidates each ranking contributes before fusing or re-ranking."""
    return max(4 * k, 50)


def _renumber(results: list[ScoredChunk]) -> list[ScoredChunk]:
    return [ScoredChunk(r.chunk, r.score, r.metric, i + 1, r.details) for i, r in enumerate(results)]


def dense(collection, qvec: np.ndarray, k: int, doc_ids=()) -> list[ScoredChunk]:
    """Top-k by cosine similarity from the collection's Chroma index."""
    hits = collection.query_vector(qvec, k, doc_ids=list(doc_ids) or None)
    return _renumber([ScoredChunk(h.chunk, float(h.score), COSINE, 0, {"cosine": float(h.score)})
                      for h in hits])


def bm25(corpus: Corpus, query: str, k: int, doc_ids=()) -> list[ScoredChunk]:
    """Top-k chunks by BM25 score; chunks sharing no term with the query are never returned."""
    scores = corpus.bm25_scores(query, tuple(doc_ids))
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0:
        return []
    if positive.size > k:  # argpartition keeps this O(n) at 100k chunks
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    top = positive[np.argsort(-scores[positive], kind="stable")]
    return [ScoredChunk(corpus.chunks[i], float(scores[i]), BM25, r + 1, {"bm25": float(scores[i])})
            for r, i in enumerate(top)]


def fuse(dense_hits: list[ScoredChunk], sparse_hits: list[ScoredChunk], k: int, weight: float) -> list[ScoredChunk]:
    """Weighted reciprocal rank fusion: weight/(60+dense rank) + (1-weight)/(60+BM25 rank)."""
    table: dict[str, dict] = {}
    for hits, w, name in ((dense_hits, weight, "dense"), (sparse_hits, 1.0 - weight, "bm25")):
        for h in hits:
            row = table.setdefault(h.chunk.chunk_id, {"chunk": h.chunk, "score": 0.0, "details": {}})
            row["score"] += w / (RRF_K + h.rank)
            row["details"][f"{name}_rank"] = h.rank
            row["details"][name if name == "bm25" else "cosine"] = h.score
    ranked = sorted(table.values(), key=lambda r: -r["score"])[:k]
    return [ScoredChunk(r["chunk"], r["score"], RRF, i + 1, r["details"]) for i, r in enumerate(ranked)]


def mmr_select(qvec: np.ndarray, cand: np.ndarray, k: int, lam: float) -> list[int]:
    """Indices into `cand` picked greedily by lam*sim(query) - (1-lam)*max sim(already picked)."""
    if len(cand) == 0:
        return []
    rel = cand @ qvec
    picked: list[int] = []
    max_sim = np.full(len(cand), -np.inf, dtype=np.float32)
    for _ in range(min(k, len(cand))):
        penalty = np.where(np.isfinite(max_sim), max_sim, 0.0)
        obj = lam * rel - (1.0 - lam) * penalty
        obj[picked] = -np.inf
        best = int(np.argmax(obj))
        picked.append(best)
        max_sim = np.maximum(max_sim, cand @ cand[best])
    return picked


def mmr(collection, corpus: Corpus, qvec: np.ndarray, k: int, lam: float, doc_ids=()) -> list[ScoredChunk]:
    """Maximal marginal relevance over the dense top candidates: relevant but not redundant."""
    pool = dense(collection, qvec, _pool(k), doc_ids)
    if not pool:
        return []
    rows = [corpus.row_of.get(h.chunk.chunk_id) for h in pool]
    keep = [i for i, r in enumerate(rows) if r is not None]
    pool = [pool[i] for i in keep]
    cand = corpus.vectors[[rows[i] for i in keep]]
    order = mmr_select(np.asarray(qvec, dtype=np.float32), cand, k, lam)
    return [ScoredChunk(pool[i].chunk, pool[i].score, MMR, r + 1,
                        {"cosine": pool[i].score, "dense_rank": pool[i].rank})
            for r, i in enumerate(order)]


def apply_threshold(results: list[ScoredChunk], threshold: float | None) -> list[ScoredChunk]:
    """Only results whose raw score reaches `threshold` (all of them when it is None)."""
    if threshold is None:
        return results
    return [r for r in results if r.score >= threshold]


def embed_query(collection, query: str) -> np.ndarray:
    return np.asarray(collection.embedder.embed_batch([query])[0], dtype=np.float32)


def retrieve(collection, query: str, rs: RetrievalSettings, qvec: np.ndarray | None = None) -> list[ScoredChunk]:
    """The top rs.k passages for `query` under rs (mode, filter, threshold), best first, ranks from 1."""
    if not query.strip() or collection.count() == 0:
        return []
    doc_ids = tuple(rs.doc_ids)
    if rs.mode == "bm25":
        return apply_threshold(bm25(corpus_for(collection), query, rs.k, doc_ids), rs.threshold)
    if qvec is None:
        qvec = embed_query(collection, query)
    if rs.mode == "dense":
        out = dense(collection, qvec, rs.k, doc_ids)
    elif rs.mode == "hybrid":
        pool = _pool(rs.k)
        out = fuse(dense(collection, qvec, pool, doc_ids),
                   bm25(corpus_for(collection), query, pool, doc_ids), rs.k, rs.hybrid_weight)
    else:
        out = mmr(collection, corpus_for(collection), qvec, rs.k, rs.mmr_lambda, doc_ids)
    return apply_threshold(out, rs.threshold)
