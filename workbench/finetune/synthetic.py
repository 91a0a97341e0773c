"""Synthetic question/answer pairs from a collection's chunks, written by the local generator.

They let users try "fine-tuning on knowledge": the resulting examples ask the question closed-book
(no context in the prompt) and are labelled synthetic, so the evaluation can show what an adapter
trained on them does and does not learn compared with retrieval.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench.finetune.datasets import Example
from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT

INSTRUCTION = (
    "Read the passage and write one question that it answers, then the answer, in this form:\n"
    "Question: ...\nAnswer: ...\n\nPassage:\n{passage}"
)
QA_RE = re.compile(r"Q(?:uestion)?\s*[:.]\s*(?P<q>.+?)\s*\n+\s*A(?:nswer)?\s*[:.]\s*(?P<a>.+)", re.S | re.I)


@dataclass(frozen=True)
class SyntheticResult:
    examples: tuple[Example, ...]
    n_chunks: int  # chunks the generator was asked about
    n_failed: int  # outputs that did not contain a usable question and answer


def parse_qa(text: str) -> tuple[str, str] | None:
    """(question, answer) from generator output, or None when it is not in the asked-for form."""
    m = QA_RE.search(text)
    if not m:
        return None
    q = next(iter(m.group("q").strip().splitlines()), "").strip()
    a = next(iter(m.group("a").strip().splitlines()), "").strip()
    if len(q) < 8 or not a or q.lower() == a.lower():
        return None
    return q, a


def parse_question(text: str) -> str | None:
    """The question line of generator output (after "Question:", or a first line ending in "?")."""
    m = re.search(r"Q(?:uestion)?\s*[:.]\s*(.+)", text, re.I)
    line = m.group(1).strip() if m else next(iter(text.strip().splitlines()), "").strip()
    return line if len(line) >= 8 and line.endswith("?") else None


def build_qa(chunks, generator, max_chunks: int = 20, seed: int = 0, max_new_tokens: int = 64,
             progress: Callable[[int, int], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> SyntheticResult:
    """Ask the generator for one QA pair per chunk (a seeded sample of at most `max_chunks`)."""
    from workbench.models.generator import GenerationConfig

    pool = [c for c in chunks if len(c.text.strip()) >= 80]  # headings and scraps make no questions
    random.Random(seed).shuffle(pool)
    pool = pool[:max_chunks]
    from workbench.answering.prompts import Passage, chat_messages

    cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    out, failed = [], 0
    for i, chunk in enumerate(pool):
        if cancelled and cancelled():
            break
        msgs = [{"role": "user", "content": INSTRUCTION.format(passage=chunk.text.strip())}]
        text = generator.generate(msgs, cfg).text
        qa = parse_qa(text)
        question = parse_question(text) if qa is None else None
        if question:
            # Small models often stop after "Answer:"; answering with the passage as context works better.
            answer = generator.generate(chat_messages(question, [Passage(chunk.text, chunk.doc_name)]), cfg).text
            answer = next(iter(answer.strip().splitlines()), "").strip()
            qa = (question, answer) if answer else None
        if qa is None:
            failed += 1
        else:
            out.append(Example((("system", DEFAULT_SYSTEM_PROMPT), ("user", qa[0]), ("assistant", qa[1])), i + 1))
        if progress:
            progress(i + 1, len(pool))
    return SyntheticResult(tuple(out), len(pool), failed)


def run_job(ctx) -> dict:
    """Job handler "synthetic_qa": spec {collection, dataset, max_chunks, seed} -> a stored synthetic dataset."""
    from workbench.finetune.datasets import save_dataset
    from workbench.knowledge import KnowledgeBase
    from workbench.models.generator import load_generator

    spec = ctx.spec
    collection = KnowledgeBase(ctx.settings).get(spec["collection"])
    chunks = collection.chunks()
    ctx.log(f"{len(chunks)} chunks in collection '{spec['collection']}'")
    gen = load_generator(ctx.settings)
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
