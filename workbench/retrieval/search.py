"""Retrieval modes over one collection: dense (Chroma), BM25, hybrid (weighted score fusion) and MMR, with an
optional cross-encoder reranking stage."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from workbench.knowledge.chunking import index_text
from workbench.retrieval.config import RetrievalSettings
from workbench.retrieval.corpus import Corpus, corpus_for
from workbench.retrieval.rerank import RERANK_DEPTH, rerank, reranker_for
from workbench.settings import Settings
from workbench.types import Chunk, ScoredChunk

COSINE = "cosine similarity"
BM25 = "BM25"
# Score fusion, not reciprocal rank fusion: on the three development sets (bench/RESULTS.md, 2026-11-30)
# min-max score fusion beat RRF by 0.03-0.06 MRR@10 on each, because it keeps how far ahead a top BM25
# match is, which RRF's rank-only view throws away.
FUSED = "fused score (dense + BM25)"
MMR = "cosine similarity (MMR order)"
METRICS = {"dense": COSINE, "bm25": BM25, "hybrid": FUSED, "mmr": MMR}


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


def bm25(corpus: Corpus, query: str, k: int, doc_ids=(), scores: np.ndarray | None = None) -> list[ScoredChunk]:
    """Top-k chunks by BM25 score; chunks sharing no term with the query are never returned."""
    if scores is None:
        scores = corpus.bm25_scores(query, tuple(doc_ids))
    positive = np.flatnonzero(scores > 0)
    if positive.size == 0:
        return []
    if positive.size > k:  # argpartition keeps this O(n) at 100k chunks
        positive = positive[np.argpartition(-scores[positive], k - 1)[:k]]
    top = positive[np.argsort(-scores[positive], kind="stable")]
    return [ScoredChunk(corpus.chunks[i], float(scores[i]), BM25, r + 1, {"bm25": float(scores[i])})
            for r, i in enumerate(top)]


def _minmax(x: np.ndarray) -> np.ndarray:
    """Scores scaled to 0-1 over the candidates. Equal scores (one candidate, or ties) are all as good as the
    best: 1 where positive (0 would read as irrelevant, and a fused threshold would drop them all)."""
    span = float(x.max() - x.min()) if x.size else 0.0
    return (x - x.min()) / span if span > 0 else (x > 0).astype(np.float64)


def fuse(dense_hits: list[ScoredChunk], sparse_hits: list[ScoredChunk], k: int, weight: float,
         cosine_of: Callable[[list[Chunk]], np.ndarray | None] | None = None,
         bm25_of: Callable[[list[Chunk]], np.ndarray | None] | None = None) -> list[ScoredChunk]:
    """Weighted score fusion over the union of both candidate lists: weight * min-max(cosine) +
    (1 - weight) * min-max(BM25). A candidate missing from one list gets its exact score from
    cosine_of / bm25_of, else that list's lowest score (it ranked below all of them there)."""
    table: dict[str, dict] = {}
    for hits, name in ((dense_hits, "dense"), (sparse_hits, "bm25")):
        for h in hits:
            row = table.setdefault(h.chunk.chunk_id, {"chunk": h.chunk, "details": {}})
            row[name] = h.score
            row["details"][f"{name}_rank"] = h.rank
    if not table:
        return []
    rows = list(table.values())
    for name, hits, exact in (("dense", dense_hits, cosine_of), ("bm25", sparse_hits, bm25_of)):
        missing = [r for r in rows if name not in r]
        got = exact([r["chunk"] for r in missing]) if missing and exact is not None else None
        floor = min((h.score for h in hits), default=0.0)
        for i, r in enumerate(missing):
            r[name] = float(got[i]) if got is not None and np.isfinite(got[i]) else floor
    cos = np.array([r["dense"] for r in rows], dtype=np.float64)
    bm = np.array([r["bm25"] for r in rows], dtype=np.float64)
    fused = weight * _minmax(cos) + (1.0 - weight) * _minmax(bm)
    order = sorted(range(len(rows)), key=lambda i: (-fused[i], rows[i]["details"].get("dense_rank", 1 << 30)))[:k]
    return [ScoredChunk(rows[i]["chunk"], float(fused[i]), FUSED, r + 1,
                        {**rows[i]["details"], "cosine": float(cos[i]), "bm25": float(bm[i])})
            for r, i in enumerate(order)]


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


def hybrid(collection, corpus: Corpus, query: str, qvec: np.ndarray, k: int, weight: float, doc_ids=()) -> list[ScoredChunk]:
    """Dense and BM25 candidates fused by score; each side's score is exact for the other side's candidates."""
    pool = _pool(k)
    scores = corpus.bm25_scores(query, doc_ids)
    qv = np.asarray(qvec, dtype=np.float32)

    def cosine_of(chunks: list[Chunk]) -> np.ndarray:
        rows = [corpus.row_of.get(c.chunk_id) for c in chunks]
        out = np.full(len(chunks), np.nan)
        known = [i for i, r in enumerate(rows) if r is not None]
        if known:
            out[known] = corpus.vectors[[rows[i] for i in known]] @ qv
        return out

    def bm25_of(chunks: list[Chunk]) -> np.ndarray:
        return np.array([scores[r] if (r := corpus.row_of.get(c.chunk_id)) is not None else np.nan for c in chunks])

    return fuse(dense(collection, qvec, pool, doc_ids), bm25(corpus, query, pool, doc_ids, scores), k, weight,
                cosine_of, bm25_of)


def retrieve(collection, query: str, rs: RetrievalSettings, qvec: np.ndarray | None = None,
             reranker=None) -> list[ScoredChunk]:
    """The top rs.k passages for `query` under rs (mode, filter, threshold), best first, ranks from 1.

    With a cross-encoder (`reranker`, else the one WORKBENCH_RERANKER_MODEL names when rs.rerank), the
    first stage fetches RERANK_DEPTH candidates, the threshold applies to their first-stage scores, and the
    cross-encoder picks the k it scores highest (MMR's diverse order is kept as it is)."""
    if not query.strip() or collection.count() == 0:
        return []
    if reranker is None and rs.rerank and rs.mode != "mmr":
        reranker = reranker_for(Settings.from_env())
    depth = max(rs.k, RERANK_DEPTH) if reranker is not None and rs.mode != "mmr" else rs.k
    doc_ids = tuple(rs.doc_ids)
    if rs.mode == "bm25":
        out = bm25(corpus_for(collection), query, depth, doc_ids)
    else:
        if qvec is None:
            qvec = embed_query(collection, query)
        if rs.mode == "dense":
            out = dense(collection, qvec, depth, doc_ids)
        elif rs.mode == "hybrid":
            out = hybrid(collection, corpus_for(collection), query, qvec, depth, rs.hybrid_weight, doc_ids)
        else:
            out = mmr(collection, corpus_for(collection), qvec, rs.k, rs.mmr_lambda, doc_ids)
    out = apply_threshold(out, rs.threshold)
    if reranker is not None and rs.mode != "mmr":
        out = rerank(reranker, query, out, rs.k, [index_text(h.chunk) for h in out])
    return out
