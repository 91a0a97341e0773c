"""The synthetic-question generator: one question (and, on request, its answer) per sampled chunk.

The retrieval lab uses the questions with their chunk's span as gold; the fine-tune data builder
uses question + answer pairs. Both come from the one prompt and the one cleaner below.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from workbench.questions.question import Question, QuestionSet

# Of the two prompts this workbench had (this one, and "Write one question that a reader could answer
# using only this passage. Reply with the question only." with the system prompt), this one gave a
# usable question for 15 of 15 passages (14 sample-workspace paragraphs and a bakery note) with
# SmolLM2-135M and greedy decoding, the other for 9: it kept echoing "What is the answer to this question".
SYNTH_PROMPT = (
    "Read the passage and write one question that it answers, then the answer, in this form:\n"
    "Question: ...\nAnswer: ...\n\nPassage:\n{passage}"
)
MIN_CHARS = 80  # a heading or a scrap of a chunk makes no question
PASSAGE_CHARS = 800  # keeps the prompt short (CPU time grows with it) and still holds a fact or two
ANSWER_TOKENS = 64  # for the second call, when the reply to SYNTH_PROMPT held no answer
_ASKS = re.compile(r"^(what|how|when|where|which|who|whom|whose|why|is|are|does|do|did|can|could|should|will|"
                   r"would|was|were|has|have|in what|on what|for how)\b", re.IGNORECASE)
_LABEL = re.compile(r"^(q(uestion)?\s*\d*\s*[:.)-]\s*|\d+[.)]\s*)", re.IGNORECASE)


def clean_question(text: str) -> str | None:
    """The first line as a question, or None when it is not one (a restated passage, an echo of the prompt)."""
    line = text.strip().split("\n")[0].strip()
    # Small models often wrap the question: 'What if the answer to this question is: "How ...?"'.
    quoted = re.search(r'"([^"]{8,}\?)"', line)
    line = (quoted.group(1) if quoted else line).strip().strip('"').strip()
    line = _LABEL.sub("", line).strip()
    if "?" in line:
        line = line[: line.index("?") + 1]
    if not _ASKS.match(line) or "answer to this question" in line.lower():
        return None
    if len(line.split()) < 4 or len(line) > 300:
        return None
    return line if line.endswith("?") else line + "?"


def clean_answer(text: str) -> str | None:
    """The first non-empty line of a reply, without an 'Answer:' label; None when there is none."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    line = re.sub(r"^a(nswer)?\s*[:.]\s*", "", line, flags=re.IGNORECASE).strip()
    return line or None


def parse_reply(text: str) -> tuple[str, str | None] | None:
    """(question, the answer written after it or None) from a reply to SYNTH_PROMPT; None without a question."""
    q = clean_question(text)
    if q is None:
        return None
    m = re.search(r"^\s*a(nswer)?\s*[:.][ \t]*(?P<a>.*)$", text, re.IGNORECASE | re.MULTILINE)
    answer = clean_answer(m.group("a")) if m else None
    return q, (answer if answer and answer.lower() != q.lower() else None)


@dataclass(frozen=True)
class Synthesis:
    """Generated questions (synthetic, span = their chunk) and one message per chunk that gave none."""

    questions: tuple[Question, ...]
    n_chunks: int  # chunks sampled to ask about
    n_asked: int  # of those, chunks the generator was asked about before the end or a cancel
    failures: tuple[str, ...]
    cancelled: bool = False


def synthesize(chunks, generator, n: int = 10, seed: int = 0, answers: bool = False, max_new_tokens: int = 64,
               progress: Callable[[int, int, str], None] | None = None,
               cancel: Callable[[], bool] | None = None) -> Synthesis:
    """Ask the generator for one question per chunk of a seeded sample of `n`; with `answers`, keep the answer
    its reply gave or, when it gave none, answer the question with the chunk as context (a training pair)."""
    from workbench.answering.prompts import Passage, chat_messages
    from workbench.models.generator import GenerationConfig

    usable = [c for c in chunks if len(c.text.strip()) >= MIN_CHARS]
    picked = random.Random(seed).sample(usable, min(n, len(usable)))
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    answer_cfg = GenerationConfig(max_new_tokens=ANSWER_TOKENS, temperature=0.0, seed=seed)
    out, failures, cancelled, asked = [], [], False, 0
    if not picked:
        failures.append(f"no chunk has enough text ({MIN_CHARS}+ characters) to ask a question about")
    for i, c in enumerate(picked):
        if cancel is not None and cancel():
            failures.append(f"cancelled after {i} of {len(picked)} chunks")
            cancelled = True
            break
        asked += 1
        msgs = [{"role": "user", "content": SYNTH_PROMPT.format(passage=" ".join(c.text[:PASSAGE_CHARS].split()))}]
        parsed = parse_reply(generator.generate(msgs, cfg).text)
        q, answer = parsed if parsed else (None, None)
        if q is None:
            failures.append(f"chunk {c.chunk_id}: the generator gave no usable question")
        elif answers and not answer:
            # Small models often stop after "Answer:"; answering with the passage as context works better.
            reply = generator.generate(chat_messages(q, [Passage(c.text, c.doc_name)]), answer_cfg).text
            answer = clean_answer(reply)
            if not answer:
                failures.append(f"chunk {c.chunk_id}: the generator gave no answer to {q!r}")
        if q is not None and (answer or not answers):
            out.append(Question(f"syn{i + 1}", q, answer if answers else "", source_document=c.doc_name,
                                source_page=c.page, span=(c.start, c.end), synthetic=True))
        if progress:
            progress(i + 1, len(picked), f"chunk {i + 1} of {len(picked)} ({c.doc_name})")
    return Synthesis(tuple(out), len(picked), asked, tuple(failures), cancelled)


def synthetic_question_set(chunks, generator, n: int = 10, seed: int = 0, max_new_tokens: int = 40,
                           progress: Callable[[float, str], None] | None = None,
                           cancel: Callable[[], bool] | None = None) -> QuestionSet:
    """Synthetic questions for retrieval evaluation (gold = the chunk each was written from)."""
    res = synthesize(chunks, generator, n, seed, answers=False, max_new_tokens=max_new_tokens,
                     progress=(lambda i, total, msg: progress(i / total, msg)) if progress else None, cancel=cancel)
    if progress:
        progress(1.0, "done")
    name = f"synthetic ({getattr(generator, 'name', 'generator')}, {len(res.questions)} questions)"
    return QuestionSet(name, res.questions, synthetic=True, notes=res.failures)
