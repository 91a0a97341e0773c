"""The chunk-setting sweep: chunk, index in a scratch Chroma collection and score every configuration."""
from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from workbench.knowledge.chunking import index_text
from workbench.questions import Question
from workbench.retrieval.config import RetrievalSettings
from workbench.retrieval.corpus import forget
from workbench.retrieval.evaluate import evaluate, summarize
from workbench.retrieval.scratch import ScratchCollection
from workbench.types import Document

Progress = Callable[[float, str], None]
# Texts per embedding call in a sweep: cancel and progress between calls (a few seconds each on 2 CPU
# cores with MiniLM), still large enough that sentence-transformers' length sorting saves padding.
MEMO_BATCH = 128


class SweepCancelled(Exception):
    """Raised inside a sweep's embedding when the user cancelled; the sweep ends with what it finished."""


@dataclass(frozen=True)
class SweepGrid:
    """strategies x sizes x overlaps x ks; overlaps are fractions of the size when <= 0.5, else absolute."""

    strategies: tuple[str, ...] = ("recursive",)
    sizes: tuple[int, ...] = (400, 800)
    overlaps: tuple[float, ...] = (0, 100)
    ks: tuple[int, ...] = (4,)
    unit: str = "chars"

    def configs(self, base) -> tuple[list, list[str]]:
        """Valid CollectionConfigs for the grid, and one message per combination that is not valid."""
        from workbench.knowledge.config import CollectionConfig, ConfigError

        out, skipped, seen = [], [], set()
        for strat, size, ov in itertools.product(self.strategies, self.sizes, self.overlaps):
            overlap = int(round(ov * size)) if 0 < ov <= 0.5 else int(ov)
            try:
                cfg = CollectionConfig(embedding_model=base.embedding_model if base else CollectionConfig().embedding_model,
                                       strategy=strat, chunk_size=int(size), chunk_overlap=overlap, unit=self.unit)
            except ConfigError as e:
                skipped.append(f"{strat} {size}/{overlap}: {e}")
                continue
            if cfg.chunking_key() not in seen:
                seen.add(cfg.chunking_key())
                out.append(cfg)
        return out, skipped

    @property
    def size(self) -> int:
        return len(self.strategies) * len(self.sizes) * len(self.overlaps) * len(self.ks)

    def to_json(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_json(cls, d: dict) -> "SweepGrid":
        return cls(tuple(d["strategies"]), tuple(int(x) for x in d["sizes"]), tuple(float(x) for x in d["overlaps"]),
                   tuple(int(x) for x in d["ks"]), d.get("unit", "chars"))


@dataclass(frozen=True)
class SweepRow:
    strategy: str
    chunk_size: int
    chunk_overlap: int
    unit: str
    k: int
    n_chunks: int
    hit_at_k: float
    mrr: float
    ndcg: float
    seconds: float  # chunk + embed + index + evaluate for this chunking (shared by its k values)


@dataclass(frozen=True)
class SweepResult:
    rows: tuple[SweepRow, ...]
    mode: str
    skipped: tuple[str, ...] = ()
    cancelled: bool = False
    texts_embedded: int = 0  # chunk texts that went through the model
    texts_reused: int = 0  # chunk texts served from the cache (identical text seen before)
    scratch_created: int = 0
    scratch_dropped: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {**{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()},
                "rows": [asdict(r) for r in self.rows]}

    @classmethod
    def from_json(cls, d: dict) -> "SweepResult":
        return cls(tuple(SweepRow(**r) for r in d["rows"]), d["mode"], tuple(d.get("skipped", ())),
                   bool(d.get("cancelled", False)), int(d.get("texts_embedded", 0)), int(d.get("texts_reused", 0)),
                   int(d.get("scratch_created", 0)), int(d.get("scratch_dropped", 0)), tuple(d.get("notes", ())))

    def best(self, metric: str = "mrr") -> SweepRow | None:
        """The top row by `metric`, ties broken by hit@k then fewer chunks (a smaller index)."""
        if not self.rows:
            return None
        return max(self.rows, key=lambda r: (getattr(r, metric), r.hit_at_k, -r.n_chunks, -r.k))


class EmbeddingMemo:
    """Embeds each distinct text once: in memory for this sweep, and through `backing` (the knowledge
    base's persistent (model, text) cache) when given, so texts the collection already holds are free."""

    def __init__(self, embedder, backing: Callable[[list[str]], np.ndarray] | None = None):
        self.embedder = embedder
        self.backing = backing
        self.cancel: Callable[[], bool] | None = None  # checked before each embedding call
        self.on_batch: Callable[[int, int], None] | None = None  # (texts done, texts to embed) after each call
        self.store: dict[str, np.ndarray] = {}
        self.embedded = 0  # texts that went through the model
        self.reused = 0  # texts answered from the memo or the persistent cache

    def count_model_calls(self, n: int) -> None:
        """Counter for the backing cache: how many texts it actually sent to the model."""
        self.embedded += n

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        missing = list(dict.fromkeys(t for t in texts if t not in self.store))
        for i in range(0, len(missing), MEMO_BATCH):
            if self.cancel is not None and self.cancel():
                raise SweepCancelled()
            part = missing[i:i + MEMO_BATCH]
            if self.backing is not None:
                before = self.embedded
                vecs = self.backing(part)
                fresh = self.embedded - before
            else:
                vecs = self.embedder.embed_batch(part)
                fresh = len(part)
                self.embedded += fresh
            self.store.update(zip(part, np.asarray(vecs, dtype=np.float32)))
            self.reused += len(part) - fresh
            if self.on_batch is not None:
                self.on_batch(i + len(part), len(missing))
        self.reused += len(texts) - len(missing)
        return np.stack([self.store[t] for t in texts])


def run_sweep(documents: Sequence[Document], questions: Sequence[Question], grid: SweepGrid, embedder,
              base_config=None, rs: RetrievalSettings = RetrievalSettings(), progress: Progress | None = None,
              cancel: Callable[[], bool] | None = None, memo: EmbeddingMemo | None = None) -> SweepResult:
    """Score every grid configuration on `questions`; scratch collections are dropped even on error or cancel."""
    from workbench.knowledge.chunking import chunk_document

    configs, skipped = grid.configs(base_config)
    memo = memo or EmbeddingMemo(embedder)
    memo.cancel = cancel
    ks = sorted(set(grid.ks))
    rows: list[SweepRow] = []
    created = dropped = 0
    cancelled = False
    for ci, cfg in enumerate(configs):
        if cancel is not None and cancel():
            cancelled = True
            break
        label = f"{cfg.strategy} {cfg.chunk_size}/{cfg.chunk_overlap} {cfg.unit}"
        head = f"configuration {ci + 1} of {len(configs)}: {label}"
        if progress:
            progress(ci / max(1, len(configs)), head)
            memo.on_batch = lambda done, n, ci=ci, head=head: progress(
                (ci + 0.8 * done / max(1, n)) / max(1, len(configs)), f"{head}: embedded {done} of {n} new texts")
        t0 = time.perf_counter()
        try:
            chunks = [c for d in documents for c in chunk_document(d, cfg, embedder, embed=memo)]
            vecs = memo([index_text(c) for c in chunks])
        except SweepCancelled:
            cancelled = True
            break
        scratch = ScratchCollection(embedder, cfg, list(documents), label=f"sweep{ci}")
        created += 1
        try:
            scratch.add(chunks, vecs)
            # One evaluation at the largest k; the smaller ks are scored from the same rankings.
            ev = evaluate(scratch, questions, [rs.mode], rs.with_(doc_ids=(), threshold=None), k=max(ks),
                          cancel=cancel, chunks=chunks)
            cancelled = ev.cancelled
            if not cancelled:
                for k in ks:
                    s = summarize(ev.rows, rs.mode, k)
                    rows.append(SweepRow(cfg.strategy, cfg.chunk_size, cfg.chunk_overlap, cfg.unit, k, len(chunks),
                                         s.hit_at_k if s else 0.0, s.mrr if s else 0.0, s.ndcg if s else 0.0,
                                         time.perf_counter() - t0))
        finally:
            scratch.drop()
            forget(scratch.name)
            dropped += 1
        if cancelled:
            break
    if progress:
        progress(1.0, "cancelled" if cancelled else "done")
    return SweepResult(tuple(rows), rs.mode, tuple(skipped), cancelled, memo.embedded, memo.reused,
                       created, dropped)


def apply_config(base_config, row: SweepRow):
    """The collection config with the winning row's chunking (embedding model kept)."""
    return replace(base_config, strategy=row.strategy, chunk_size=row.chunk_size, chunk_overlap=row.chunk_overlap,
                   unit=row.unit)
