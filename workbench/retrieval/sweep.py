"""The chunk-setting sweep: chunk, index in a scratch Chroma collection and rank every question under every
configuration, keeping per question where its gold passage ranked (workbench.retrieval.sweep_choice scores it)."""
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
from workbench.retrieval.gold import relevance_fn
from workbench.retrieval.scratch import ScratchCollection
from workbench.retrieval.search import retrieve
from workbench.types import Document

Progress = Callable[[float, str], None]
# Texts per embedding call in a sweep: cancel and progress between calls (a few seconds each on 2 CPU
# cores with MiniLM), still large enough that sentence-transformers' length sorting saves padding.
MEMO_BATCH = 128
FORMAT = 2  # of SweepResult's JSON: 2 keeps per-question ranks (held-out scores, ties); 1 kept averages only
NO_GOLD = -1  # a question's rank under a chunking none of whose chunks is gold for it


class SweepCancelled(Exception):
    """Raised inside a sweep's embedding when the user cancelled; the sweep ends with what it finished."""


class SweepFormatError(ValueError):
    """A saved sweep result from an older version: it holds no per-question ranks; re-run the sweep."""


@dataclass(frozen=True)
class SweepGrid:
    """strategies x sizes x overlaps x ks; overlaps are fractions of the size when <= 0.5, else absolute."""

    strategies: tuple[str, ...] = ("recursive",)
    sizes: tuple[int, ...] = (400, 800)
    overlaps: tuple[float, ...] = (0, 100)
    ks: tuple[int, ...] = (4,)
    unit: str = "chars"

    def configs(self, base) -> tuple[list, list[str]]:
        """Valid CollectionConfigs for the grid, then `base` (the collection's own chunking, the baseline every
        choice is compared with) when the grid lacks it; and one message per combination that is not valid."""
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
        if base is not None and base.chunking_key() not in seen:
            out.append(base)
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
class ChunkingRun:
    """One chunking, indexed and searched: per question (SweepResult.qids order) the 1-based rank of its first
    gold passage within the sweep's largest k (0 = not there, NO_GOLD = no chunk is gold), and the characters of
    the ranked chunks up to and including that passage (0 when not ranked): every k and budget is scored from them."""

    strategy: str
    chunk_size: int
    chunk_overlap: int
    unit: str
    n_chunks: int
    mean_chars: float  # mean characters of a chunk's displayed text: what a passage costs in the context
    seconds: float  # chunk + embed + index + rank the questions
    ranks: tuple[int, ...]
    chars: tuple[int, ...]
    current: bool = False  # the collection's own chunking when the sweep ran

    @property
    def label(self) -> str:
        return f"{self.strategy} {self.chunk_size}/{self.chunk_overlap} {self.unit}"


@dataclass(frozen=True)
class SweepConfig:
    """One configuration a sweep scores: a chunking and k (SweepRow and sweep_choice.ConfigScore extend it)."""

    strategy: str
    chunk_size: int
    chunk_overlap: int
    unit: str
    k: int

    @property
    def label(self) -> str:
        return f"{self.strategy} {self.chunk_size}/{self.chunk_overlap} {self.unit}, k {self.k}"


@dataclass(frozen=True)
class SweepRow(SweepConfig):
    """One chunking x k scored on all questions (the held-out view is sweep_choice's)."""

    n_chunks: int
    hit_at_k: float
    mrr: float
    seconds: float


@dataclass(frozen=True)
class SweepResult:
    chunkings: tuple[ChunkingRun, ...]
    qids: tuple[str, ...]  # the scored questions (answerable ones), in the order of every run's ranks
    ks: tuple[int, ...]
    mode: str
    current_k: int | None = None  # the collection's saved k (scored with the rest), None when unknown
    skipped: tuple[str, ...] = ()
    cancelled: bool = False
    texts_embedded: int = 0  # chunk texts that went through the model
    texts_reused: int = 0  # chunk texts served from the cache (identical text seen before)
    scratch_created: int = 0
    scratch_dropped: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict:
        return {"format": FORMAT, "chunkings": [{**asdict(c), "ranks": list(c.ranks), "chars": list(c.chars)}
                                                for c in self.chunkings],
                **{k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "chunkings"}}

    @classmethod
    def from_json(cls, d: dict) -> "SweepResult":
        if d.get("format") != FORMAT:
            raise SweepFormatError("This sweep result was saved by an earlier version that kept only averages over "
                                   "all questions (no held-out scores, no ties): re-run the sweep.")
        runs = tuple(ChunkingRun(**{**c, "ranks": tuple(int(x) for x in c["ranks"]),
                                    "chars": tuple(int(x) for x in c["chars"])}) for c in d["chunkings"])
        return cls(runs, tuple(d["qids"]), tuple(int(k) for k in d["ks"]), d["mode"],
                   None if d.get("current_k") is None else int(d["current_k"]), tuple(d.get("skipped", ())),
                   bool(d.get("cancelled", False)), int(d.get("texts_embedded", 0)), int(d.get("texts_reused", 0)),
                   int(d.get("scratch_created", 0)), int(d.get("scratch_dropped", 0)), tuple(d.get("notes", ())))

    @property
    def rows(self) -> tuple[SweepRow, ...]:
        """Every chunking x k with gold passage retrieved@k and MRR@k over all scored questions."""
        out = []
        for c in self.chunkings:
            scored = [r for r in c.ranks if r != NO_GOLD]
            n = max(1, len(scored))
            for k in self.ks:
                out.append(SweepRow(c.strategy, c.chunk_size, c.chunk_overlap, c.unit, k, c.n_chunks,
                                    sum(0 < r <= k for r in scored) / n,
                                    sum(1 / r for r in scored if 0 < r <= k) / n, c.seconds))
        return tuple(out)


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


def _question_vectors(embedder, questions: list[Question], cancel) -> np.ndarray:
    """Question vectors, once for the whole sweep (they do not depend on the chunking), cancellable per batch."""
    parts = []
    for i in range(0, len(questions), MEMO_BATCH):
        if cancel is not None and cancel():
            raise SweepCancelled()
        parts.append(np.asarray(embedder.embed_batch([q.question for q in questions[i:i + MEMO_BATCH]])))
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), dtype=np.float32)


def _rank_questions(scratch, chunks, questions, qvecs, rs: RetrievalSettings, cancel,
                    tick: Callable[[int], None]) -> tuple[list[int], list[int]] | None:
    """(rank of the first gold passage, characters through it) per question; None when cancelled."""
    ranks, chars = [], []
    for i, (q, v) in enumerate(zip(questions, qvecs)):
        if cancel is not None and cancel():
            return None
        fn, n, _ = relevance_fn(q, chunks)
        if not n:
            ranks.append(NO_GOLD)
            chars.append(0)
            continue
        used, rank = 0, 0
        for h in retrieve(scratch, q.question, rs, qvec=v):
            used += len(h.chunk.text)
            if fn(h.chunk):
                rank = h.rank
                break
        ranks.append(rank)
        chars.append(used if rank else 0)
        tick(i + 1)
    return ranks, chars


def run_sweep(documents: Sequence[Document], questions: Sequence[Question], grid: SweepGrid, embedder,
              base_config=None, rs: RetrievalSettings = RetrievalSettings(), progress: Progress | None = None,
              cancel: Callable[[], bool] | None = None, memo: EmbeddingMemo | None = None) -> SweepResult:
    """Rank every question under every grid chunking (and `base_config`'s, the baseline) at the largest k
    (rs.k, the collection's own, is scored too); scratch collections are dropped even on error or cancel."""
    from workbench.knowledge.chunking import chunk_document

    configs, skipped = grid.configs(base_config)
    base_key = base_config.chunking_key() if base_config is not None else None
    memo = memo or EmbeddingMemo(embedder)
    memo.cancel = cancel
    current_k = rs.k if base_config is not None else None
    ks = tuple(sorted(set(grid.ks) | ({current_k} if current_k else set())))
    search = rs.with_(k=max(ks), doc_ids=(), threshold=None)
    asked = [q for q in questions if not q.unanswerable]
    notes = [f"{len(questions) - len(asked)} unanswerable question(s) left out: no gold passage to rank"] \
        if len(asked) < len(questions) else []
    runs: list[ChunkingRun] = []
    created = dropped = 0
    cancelled = False
    try:
        qvecs = _question_vectors(embedder, asked, cancel)
    except SweepCancelled:
        configs, cancelled = [], True
    for ci, cfg in enumerate(configs):
        if cancel is not None and cancel():
            cancelled = True
            break
        label = f"{cfg.strategy} {cfg.chunk_size}/{cfg.chunk_overlap} {cfg.unit}"
        head = f"configuration {ci + 1} of {len(configs)}: {label}"
        span = 1 / max(1, len(configs))
        if progress:
            progress(ci * span, head)
            memo.on_batch = lambda done, n, ci=ci, head=head: progress(
                (ci + 0.8 * done / max(1, n)) * span, f"{head}: embedded {done} of {n} new texts")
        t0 = time.perf_counter()
        try:
            chunks = [c for d in documents for c in chunk_document(d, cfg, embedder, embed=memo)]
            vecs = memo([index_text(c) for c in chunks])
        except SweepCancelled:
            cancelled = True
            break
        scratch = ScratchCollection(embedder, cfg, list(documents), label=f"sweep{ci}")
        created += 1

        def tick(done, ci=ci, head=head):
            if progress and done % 25 == 0:
                progress((ci + 0.8 + 0.2 * done / max(1, len(asked))) * span, f"{head}: question {done} of {len(asked)}")
        try:
            scratch.add(chunks, vecs)
            got = _rank_questions(scratch, chunks, asked, qvecs, search, cancel, tick)
            if got is None:
                cancelled = True
            else:
                mean_chars = sum(len(c.text) for c in chunks) / max(1, len(chunks))
                runs.append(ChunkingRun(cfg.strategy, cfg.chunk_size, cfg.chunk_overlap, cfg.unit, len(chunks),
                                        round(mean_chars, 1), time.perf_counter() - t0, tuple(got[0]), tuple(got[1]),
                                        cfg.chunking_key() == base_key))
        finally:
            scratch.drop()
            forget(scratch.name)
            dropped += 1
        if cancelled:
            break
    if progress:
        progress(1.0, "cancelled" if cancelled else "done")
    return SweepResult(tuple(runs), tuple(q.id for q in asked), ks, rs.mode, current_k, tuple(skipped), cancelled,
                       memo.embedded, memo.reused, created, dropped, tuple(notes))


def apply_config(base_config, choice: SweepConfig):
    """The collection config with the chosen configuration's chunking (embedding model kept)."""
    return replace(base_config, strategy=choice.strategy, chunk_size=choice.chunk_size,
                   chunk_overlap=choice.chunk_overlap, unit=choice.unit)
