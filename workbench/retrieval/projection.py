"""A 2-D map of a collection's chunk embeddings (PCA, or UMAP when installed), sampled when large."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workbench.types import Chunk

MAX_POINTS = 3000  # plotly scatter stays fluid in the browser well past this, UMAP on 2 cores does not


@dataclass(frozen=True)
class Projection:
    """2-D coordinates for (a sample of) the chunks, plus the query's point when one was given."""

    xy: np.ndarray  # (n_shown, 2)
    chunks: tuple[Chunk, ...]
    method: str  # "PCA" or "UMAP"
    n_total: int
    query_xy: np.ndarray | None = None

    @property
    def sampled(self) -> bool:
        return len(self.chunks) < self.n_total

    @property
    def notice(self) -> str | None:
        if not self.sampled:
            return None
        return (f"Showing a random sample of {len(self.chunks):,} of {self.n_total:,} chunks "
                f"(retrieved chunks always included) to keep the map responsive.")


def umap_available() -> bool:
    try:
        import umap  # noqa: F401
    except ImportError:
        return False
    return True


def sample_rows(n: int, keep: set[int], max_points: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted row indices: all of `keep` plus a seeded random sample, at most max(max_points, len(keep))."""
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(np.arange(n), np.fromiter(keep, dtype=int, count=len(keep)))
    extra = rng.choice(rest, size=max(0, max_points - len(keep)), replace=False)
    return np.sort(np.concatenate([np.fromiter(keep, dtype=int, count=len(keep)), extra]))


def project(chunks: list[Chunk], vectors: np.ndarray, query_vec: np.ndarray | None = None,
            keep_ids: set[str] = frozenset(), method: str = "PCA", max_points: int = MAX_POINTS,
            seed: int = 0) -> Projection:
    """Project `vectors` (rows aligned with `chunks`) to 2-D; the query lands in the same space."""
    n = len(chunks)
    if n == 0:
        return Projection(np.zeros((0, 2)), (), method, 0, None)
    keep = {i for i, c in enumerate(chunks) if c.chunk_id in keep_ids}
    rows = sample_rows(n, keep, max_points, seed)
    X = np.asarray(vectors, dtype=np.float32)[rows]
    if method == "UMAP" and umap_available() and len(rows) >= 10:
        import umap

        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, len(rows) - 1))
        xy = reducer.fit_transform(X)
        q = reducer.transform(query_vec[None, :].astype(np.float32))[0] if query_vec is not None else None
    else:
        method = "PCA"
        mean = X.mean(axis=0)
        Xc = X - mean
        if len(rows) >= 2:
            # Eigenvectors of the (dim x dim) covariance: the same axes as an SVD of the sample, at a
            # fraction of the cost.
            from threadpoolctl import threadpool_limits

            # One BLAS thread: this problem is small, and spinning worker threads on a busy 2-core
            # machine made it 50x slower than single-threaded.
            with threadpool_limits(limits=1):
                cov = Xc.T.astype(np.float64) @ Xc.astype(np.float64)
                _, vecs = np.linalg.eigh(cov)
            axes = vecs[:, ::-1][:, :2].astype(np.float32)
        else:
            axes = np.eye(X.shape[1], 2, dtype=np.float32)
        xy = Xc @ axes
        q = (query_vec.astype(np.float32) - mean) @ axes if query_vec is not None else None
    return Projection(np.asarray(xy), tuple(chunks[i] for i in rows), method, n, q)
