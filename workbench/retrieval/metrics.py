"""Ranking metrics over one ranked list of relevance marks (True = a gold passage at that rank)."""
from __future__ import annotations

import math
from collections.abc import Sequence


def first_relevant_rank(rels: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant result, None when none is relevant."""
    for i, r in enumerate(rels):
        if r:
            return i + 1
    return None


def hit_at_k(rels: Sequence[bool], k: int) -> float:
    """1.0 when any of the first k results is relevant, else 0.0."""
    return 1.0 if any(rels[:k]) else 0.0


def reciprocal_rank(rels: Sequence[bool], k: int | None = None) -> float:
    """1 / rank of the first relevant result within the first k (0.0 when there is none)."""
    rank = first_relevant_rank(rels[:k] if k else rels)
    return 1.0 / rank if rank else 0.0


def ndcg_at_k(rels: Sequence[bool], k: int, n_relevant: int | None = None) -> float:
    """Binary-relevance nDCG@k; the ideal list holds min(k, n_relevant) relevant results."""
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rels[:k]) if r)
    ideal_n = min(k, n_relevant if n_relevant is not None else sum(bool(r) for r in rels))
    if ideal_n <= 0:
        return 0.0
    idcg = sum(1.0 / math.log2(i + 2) for i in range(ideal_n))
    return dcg / idcg


def label(metric: str, k: int | str = "k") -> str:
    """The display name of a ranking metric; hit@k is named for what it counts: the gold passage in the top k."""
    # The evaluation's "source document retrieved" is another metric (any passage of the source document).
    return {"hit_at_k": f"gold passage retrieved@{k}", "mrr": "MRR", "ndcg": f"nDCG@{k}"}[metric]


def mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def hit_within_budget(rels: Sequence[bool], lengths: Sequence[int], budget: int) -> float:
    """1.0 when a relevant result comes before the results' characters add up past `budget` (a context
    window of that size holds it), else 0.0: long chunks pay for their length, tiny ones get no free hits."""
    used = 0
    for rel, n in zip(rels, lengths):
        used += n
        if used > budget:
            return 0.0
        if rel:
            return 1.0
    return 0.0


def bootstrap_ci(values: Sequence[float], n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-question values (resampling questions)."""
    import numpy as np

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return 0.0, 0.0
    idx = np.random.default_rng(seed).integers(0, v.size, size=(n_boot, v.size))
    means = v[idx].mean(axis=1)
    tail = (1.0 - level) / 2 * 100
    return float(np.percentile(means, tail)), float(np.percentile(means, 100 - tail))
