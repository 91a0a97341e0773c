"""Synthetic question/answer pairs from a collection's chunks, written by the local generator.

They let users try "fine-tuning on knowledge": the resulting examples ask the question closed-book
(no context in the prompt) and are labelled synthetic, so the evaluation can show what an adapter
trained on them does and does not learn compared with retrieval. The questions and answers come
from `workbench.questions.synthesize`, the same generator the retrieval lab uses.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT
from workbench.finetune.datasets import Example
from workbench.questions import synthesize


@dataclass(frozen=True)
class SyntheticResult:
    examples: tuple[Example, ...]
    n_chunks: int  # chunks the generator was asked about
    n_failed: int  # of those, chunks that gave no usable question and answer


def build_qa(chunks, generator, max_chunks: int = 20, seed: int = 0, max_new_tokens: int = 40,
             progress: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> SyntheticResult:
    """One training example (system, question, answer) per usable chunk of a seeded sample of `max_chunks`."""
    res = synthesize(chunks, generator, max_chunks, seed, answers=True, max_new_tokens=max_new_tokens,
                     progress=(lambda i, n, _msg: progress(i, n)) if progress else None, cancel=cancelled)
    examples = tuple(Example((("system", DEFAULT_SYSTEM_PROMPT), ("user", q.question), ("assistant", q.reference)), n)
                     for n, q in enumerate(res.questions, 1))
    return SyntheticResult(examples, res.n_chunks, res.n_asked - len(examples))


def run_job(ctx) -> dict:
    """Job handler "synthetic_qa": spec {collection, dataset, max_chunks, seed} -> a stored synthetic dataset."""
    from workbench import resources
    from workbench.finetune.datasets import save_dataset
    from workbench.knowledge import KnowledgeBase

    spec = ctx.spec
    collection = KnowledgeBase(ctx.settings).get(spec["collection"])
    chunks = collection.chunks()
    ctx.log(f"{len(chunks)} chunks in collection '{spec['collection']}'")
    gen = resources.generator(ctx.settings)
    res = build_qa(chunks, gen, int(spec.get("max_chunks", 20)), int(spec.get("seed", 0)),
                   progress=lambda i, n: ctx.progress(i, n, f"chunk {i}/{n}"), cancelled=ctx.cancelled)
    ctx.log(f"{len(res.examples)} pairs from {res.n_chunks} chunks ({res.n_failed} unusable outputs)")
    if ctx.cancelled():
        return {"pairs": len(res.examples)}
    if not res.examples:
        raise ValueError(f"The generator wrote no usable question/answer pair from {res.n_chunks} chunk(s); "
                         "try more chunks or longer ones.")
    info = save_dataset(ctx.settings, spec["dataset"], res.examples,
                        source=f"synthetic from collection {spec['collection']}", synthetic=True,
                        shapes={"synthetic QA": len(res.examples)}, overwrite=bool(spec.get("overwrite")))
    return {"dataset": info.name, "pairs": len(res.examples), "failed": res.n_failed}


def submit(settings, collection: str, dataset: str, max_chunks: int = 20, overwrite: bool = True):
    """Queue a background job that builds dataset `dataset` from `collection` (kind "synthetic_qa")."""
    from workbench import jobs

    spec = {"collection": collection, "dataset": dataset, "max_chunks": int(max_chunks), "overwrite": overwrite}
    return jobs.submit(settings, "synthetic_qa", spec, handler="workbench.finetune.synthetic:run_job",
                       name=f"QA from {collection}")
