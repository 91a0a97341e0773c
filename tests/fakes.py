"""Test doubles (a model-free embedder, an in-memory collection, a small job handler: the "demo" kind) and the
plain helpers tests share: polling until a condition holds, a job's final status, a tiny training dataset."""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass

import numpy as np

from workbench.jobs.context import JobContext
from workbench.models.embedder import load_embedder
from workbench.settings import Settings
from workbench.types import Chunk, Document, ScoredChunk

FAKE_MODEL = "fake"  # the embedding-model name that `load_embedder_or_fake` answers with FakeEmbedder
DEMO_HANDLER = "tests.fakes:count"  # the "demo" job kind: tests register it (the worker imports it by name)

_WORD = re.compile(r"\w+")


class FakeEmbedder:
    """Deterministic, model-free embedder for fast tests: hashed bag of words, L2-normalised."""

    def __init__(self, dim: int = 64, max_tokens: int = 128, name: str = FAKE_MODEL):
        self.name, self.dim, self.max_tokens = name, dim, max_tokens
        self.calls = 0
        self.texts_embedded = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(self.dim, dtype=np.float32)
        for w in _WORD.findall(text.lower()):
            h = int.from_bytes(hashlib.md5(w.encode()).digest()[:4], "little")
            v[h % self.dim] += 1.0
        n = np.linalg.norm(v)
        if n == 0:
            v[0] = 1.0
            n = 1.0
        return v / n

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vec(t) for t in texts])

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(_WORD.findall(t)) + 2 for t in texts]


def load_embedder_or_fake(settings: Settings, name: str | None = None):
    """`load_embedder`, except that the model named FAKE_MODEL is a FakeEmbedder (the `fake_embedding_model` fixture)."""
    name = name or settings.embedding_model
    return FakeEmbedder() if name == FAKE_MODEL else load_embedder(settings, name)


@dataclass(frozen=True)
class MemoryDocInfo:
    doc_id: str
    name: str
    n_chunks: int


class MemoryCollection:
    """Chunks and their vectors in numpy with the Collection surface retrieval needs; exact cosine search."""

    def __init__(self, name: str, embedder, docs: dict[str, str] | None = None, chunk_size: int = 0):
        self.name, self.embedder, self.config = name, embedder, None
        self._docs: dict[str, Document] = {}
        self._chunks: list[Chunk] = []
        self._vecs = np.zeros((0, embedder.dim), dtype=np.float32)
        for doc_name, text in (docs or {}).items():
            self.add_document(doc_name, text, chunk_size)

    def add_document(self, doc_name: str, text: str, chunk_size: int = 0, paragraphs: bool = True) -> Document:
        """Add a document split on blank lines (or fixed-size windows when chunk_size > 0)."""
        doc_id = hashlib.sha256(text.encode()).hexdigest()[:16]
        doc = Document(doc_id, doc_name, "txt", text)
        spans, pos = [], 0
        if chunk_size:
            spans = [(s, min(len(text), s + chunk_size)) for s in range(0, len(text), chunk_size)]
        else:
            for part in text.split("\n\n"):
                start = text.index(part, pos)
                pos = start + len(part)
                if part.strip():
                    spans.append((start, pos))
        chunks = [Chunk(f"{doc_id}-{i:05d}", doc_id, doc_name, text[s:e], s, e, i) for i, (s, e) in enumerate(spans)]
        self.add_chunks(chunks, self.embedder.embed_batch([c.text for c in chunks]))
        self._docs[doc_id] = doc
        return doc

    def add_chunks(self, chunks: list[Chunk], vectors: np.ndarray) -> None:
        self._chunks.extend(chunks)
        self._vecs = np.vstack([self._vecs, np.asarray(vectors, dtype=np.float32).reshape(len(chunks), -1)])

    def count(self) -> int:
        return len(self._chunks)

    def fingerprint(self) -> str:
        return f"{len(self._chunks)}:{len(self._docs)}"

    def documents(self) -> list[MemoryDocInfo]:
        return [MemoryDocInfo(d.doc_id, d.name, sum(c.doc_id == d.doc_id for c in self._chunks))
                for d in self._docs.values()]

    def get_document(self, doc_id: str) -> Document:
        return self._docs[doc_id]

    def chunks(self, doc_id: str | None = None) -> list[Chunk]:
        return [c for c in self._chunks if doc_id is None or c.doc_id == doc_id]

    def embeddings(self, doc_ids=None) -> tuple[list[Chunk], np.ndarray]:
        rows = [i for i, c in enumerate(self._chunks) if not doc_ids or c.doc_id in doc_ids]
        return [self._chunks[i] for i in rows], self._vecs[rows]

    def query_vector(self, vec, k: int, doc_ids=None) -> list[ScoredChunk]:
        chunks, vecs = self.embeddings(doc_ids)
        if not chunks:
            return []
        sims = vecs @ np.asarray(vec, dtype=np.float32)
        order = np.argsort(-sims, kind="stable")[:k]
        return [ScoredChunk(chunks[i], float(sims[i]), "cosine similarity", r + 1) for r, i in enumerate(order)]

    def query(self, text: str, k: int, doc_ids=None) -> list[ScoredChunk]:
        return self.query_vector(self.embedder.embed_batch([text])[0], k, doc_ids)


def count(ctx: JobContext) -> dict:
    """The "demo" job: counts with a pause per step. Spec: n (steps), sleep_s (per step), fail_at (raise at
    this step), out (file to write at the end), stubborn (ignore cancel requests, like a handler stuck in a
    long computation)."""
    n = int(ctx.spec.get("n", 5))
    sleep_s = float(ctx.spec.get("sleep_s", 0.1))
    fail_at = ctx.spec.get("fail_at")
    total = 0
    for i in range(1, n + 1):
        if not ctx.spec.get("stubborn"):
            ctx.check_cancel()
        time.sleep(sleep_s)
        if fail_at is not None and i == int(fail_at):
            raise RuntimeError(f"asked to fail at step {i}")
        total += i
        ctx.metric(step=i, value=total)
        ctx.progress(i, n, f"step {i}/{n}")
        ctx.log(f"step {i}: total {total}")
    (ctx.dir / ctx.spec.get("out", "out.txt")).write_text(str(total))
    return {"total": total}


class QuestionWriter:
    """A model-free generator for synthetic questions: asks about the first words of its passage."""

    name = "question-writer"

    def generate(self, messages, cfg):
        from types import SimpleNamespace

        words = _WORD.findall(messages[-1]["content"].split("Passage:", 1)[-1])[:4]
        return SimpleNamespace(text=f"Question: What does the text say about {' '.join(words)}?")


FAKE_MODELS_HANDLER = "tests.fakes:with_fake_models"


def with_fake_models(ctx: JobContext):
    """A job handler: the job's own handler (spec "_handler") in this worker process, with embedding model
    "fake" the FakeEmbedder and the generator a QuestionWriter (what `route_jobs_through_fakes` submits)."""
    from workbench import resources
    from workbench.jobs.context import resolve

    resources.load_embedder = load_embedder_or_fake
    resources.load_generator = lambda settings, name=None: QuestionWriter()
    return resolve(ctx.spec["_handler"])(ctx)


def route_jobs_through_fakes(monkeypatch) -> None:
    """Jobs the app submits during a test run their real handler under `with_fake_models` (worker processes
    do not see the test's monkeypatches), so a page's collection on model "fake" works in its jobs too."""
    from workbench import jobs

    real = jobs.submit

    def submit(settings, kind, spec, *, handler, **kw):
        return real(settings, kind, {**spec, "_handler": handler}, handler=FAKE_MODELS_HANDLER, **kw)

    monkeypatch.setattr(jobs, "submit", submit)


def submit_demo(settings: Settings, spec: dict, **kw):
    """A "demo" job (the `count` handler above) through the real jobs API."""
    from workbench import jobs

    return jobs.submit(settings, "demo", spec, handler=DEMO_HANDLER, **kw)


# A minute by default: a worker's start (imports, model loads) can take tens of seconds on a loaded 2-core box,
# and a generous limit only delays a failure, never a passing test.
def wait_for(pred, timeout: float = 60.0, every: float = 0.1):
    """`pred()`'s first truthy value, asked every `every` seconds; AssertionError after `timeout` seconds."""
    end = time.time() + timeout
    while time.time() < end:
        if value := pred():
            return value
        time.sleep(every)
    raise AssertionError(f"condition not reached in {timeout:g} s")


def final_status(settings: Settings, job_id: str, timeout: float = 60.0):
    """The job's status once it is final (succeeded, failed or cancelled), through the jobs API."""
    from workbench import jobs

    return wait_for(lambda: (s := jobs.get(settings, job_id)).is_final and s, timeout)


def tiny_dataset(settings: Settings, name: str = "tiny", n: int = 12):
    """A real saved fine-tuning dataset of `n` arithmetic prompts with JSON answers: a few seconds of training."""
    from workbench.finetune.datasets import parse_dataset, save_dataset

    rows = [{"prompt": f"What is {i} plus {i}?", "completion": json.dumps({"answer": str(2 * i)})} for i in range(n)]
    parsed = parse_dataset("tiny.jsonl", "\n".join(map(json.dumps, rows)).encode())
    return save_dataset(settings, name, parsed.examples, source="test")
