"""Question sets for retrieval evaluation: loading CSV/JSONL with row checks, gold matching, synthesis."""
from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from workbench.types import Chunk

QUESTION_KEYS = ("question", "query", "q")
ANSWER_KEYS = ("answer", "expected_answer", "reference", "gold_answer")
SOURCE_KEYS = ("source_document", "source", "document", "doc", "doc_name")
PAGE_KEYS = ("source_page", "page")


@dataclass(frozen=True)
class Question:
    """One question and what counts as its gold passage (answer text, source document/page, or span)."""

    qid: str
    question: str
    answer: str | None = None
    source: str | None = None  # document file name
    page: int | None = None
    span: tuple[int, int] | None = None  # character range in the source document (synthetic questions)
    synthetic: bool = False


@dataclass(frozen=True)
class QuestionSet:
    """Questions that passed validation, plus one message per rejected row."""

    name: str
    questions: tuple[Question, ...]
    errors: tuple[str, ...] = ()
    synthetic: bool = False
    notes: tuple[str, ...] = field(default=())


def _first(row: dict, keys) -> object:
    for k in keys:
        v = row.get(k)
        if v is not None and str(v).strip() != "":
            return v
    return None


def _row_to_question(row: dict, n: int) -> tuple[Question | None, str | None]:
    if not isinstance(row, dict):
        return None, f"row {n}: not an object with named fields"
    row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    if str(row.get("unanswerable", "")).strip().lower() in ("true", "1", "yes"):
        return None, None  # no gold passage exists, so retrieval cannot be scored on it
    q = _first(row, QUESTION_KEYS)
    if q is None:
        return None, f"row {n}: no question (expected a 'question' column)"
    answer, source, page = _first(row, ANSWER_KEYS), _first(row, SOURCE_KEYS), _first(row, PAGE_KEYS)
    if answer is None and source is None:
        return None, f"row {n}: needs an expected answer text or a source document to know the gold passage"
    if page is not None:
        try:
            page = int(float(page))
        except (TypeError, ValueError):
            return None, f"row {n}: page {page!r} is not a number"
        if page < 1:
            return None, f"row {n}: page must be 1 or more"
    span = row.get("span")
    if span is not None:
        try:
            span = (int(span[0]), int(span[1]))
        except (TypeError, ValueError, IndexError, KeyError):
            return None, f"row {n}: span must be [start, end] character offsets"
    qid = str(_first(row, ("id", "qid")) or f"q{n}")
    synthetic = str(row.get("synthetic", "")).strip().lower() in ("true", "1", "yes")
    return Question(qid, str(q).strip(), str(answer).strip() if answer is not None else None,
                    str(source).strip() if source is not None else None, page, span, synthetic), None


def parse_question_set(name: str, data: bytes) -> QuestionSet:
    """Questions from CSV or JSONL bytes (chosen by the file extension); bad rows are reported, not fatal."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return QuestionSet(name, (), (f"{name}: not UTF-8 text",))
    rows: list[tuple[int, object]] = []
    errors: list[str] = []
    lower = name.lower()
    if lower.endswith((".jsonl", ".json", ".ndjson")):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                errors.append(f"line {n}: not valid JSON ({e.msg})")
    elif lower.endswith((".csv", ".tsv")):
        try:
            reader = csv.DictReader(io.StringIO(text), delimiter="\t" if lower.endswith(".tsv") else ",")
            rows = [(n, r) for n, r in enumerate(reader, 2)]
        except csv.Error as e:
            return QuestionSet(name, (), (f"{name}: not readable as CSV ({e})",))
    else:
        return QuestionSet(name, (), (f"{name}: unsupported file type; upload .csv or .jsonl",))
    questions = []
    for n, row in rows:
        q, err = _row_to_question(row, n)
        if err:
            errors.append(err)
        elif q is not None:
            questions.append(q)
    if not questions and not errors:
        errors.append(f"{name}: no questions found")
    return QuestionSet(name, tuple(questions), tuple(errors))


def load_question_file(path) -> QuestionSet:
    from pathlib import Path

    p = Path(path)
    return parse_question_set(p.name, p.read_bytes())


def sample_question_set() -> QuestionSet:
    """The sample workspace's evaluation set (questions with reference answers and source documents)."""
    from workbench.sample import eval_path

    qs = load_question_file(eval_path())
    return QuestionSet("sample workspace eval set", qs.questions, qs.errors)


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: '$49 per-month' -> '49 per month'."""
    return " ".join(re.sub(r"[^\w]+", " ", text.lower()).split())


def _overlaps(chunk: Chunk, span: tuple[int, int]) -> bool:
    shared = min(chunk.end, span[1]) - max(chunk.start, span[0])
    # Half of the shorter of the two: a chunk holding most of the span, or mostly inside it.
    return shared > 0 and shared >= 0.5 * min(chunk.end - chunk.start, span[1] - span[0])


def relevance_fn(q: Question, all_chunks: list[Chunk]) -> tuple[Callable[[Chunk], bool], int, str]:
    """A test for 'is this chunk gold for q', how many chunks of the collection pass it, and how it matched."""
    def doc_ok(c: Chunk) -> bool:
        if q.source and c.doc_name != q.source:
            return False
        return q.page is None or c.page is None or c.page == q.page

    if q.span is not None:
        def by_span(c: Chunk) -> bool:
            return c.doc_name == q.source and _overlaps(c, q.span)
        return by_span, sum(by_span(c) for c in all_chunks), "span"
    if q.answer:
        ans = normalise(q.answer)

        def by_answer(c: Chunk) -> bool:
            return doc_ok(c) and ans in normalise(c.text)
        n = sum(by_answer(c) for c in all_chunks)
        if n:
            return by_answer, n, "answer text" + (" + source" if q.source else "")
    if q.source:
        # The answer is worded differently in the document (or absent): fall back to the source.
        return doc_ok, sum(doc_ok(c) for c in all_chunks), "source document" + (" + page" if q.page else "")
    return (lambda c: False), 0, "answer text not found in the collection"


# Chosen by trying three phrasings on the sample documents with SmolLM2-135M: this one gave a usable
# question for 6 of 6 passages; a worked example in the prompt was copied verbatim instead.
SYNTH_PROMPT = (
    "Here is a passage from a document:\n\n{passage}\n\n"
    "Write one question that a reader could answer using only this passage. Reply with the question only."
)
_ASKS = re.compile(r"^(what|how|when|where|which|who|whom|whose|why|is|are|does|do|did|can|could|should|will|"
                   r"would|was|were|has|have|in what|on what|for how)\b", re.IGNORECASE)


def _clean_question(text: str) -> str | None:
    """The first line as a question, or None when it is not one (a restated passage, an echo of the prompt)."""
    line = text.strip().split("\n")[0].strip()
    # Small models often wrap the question: 'What if the answer to this question is: "How ...?"'.
    quoted = re.search(r'"([^"]{8,}\?)"', line)
    line = (quoted.group(1) if quoted else line).strip().strip('"').strip()
    line = re.sub(r"^(question\s*\d*\s*[:.)-]\s*|\d+[.)]\s*)", "", line, flags=re.IGNORECASE).strip()
    if "?" in line:
        line = line[: line.index("?") + 1]
    if not _ASKS.match(line) or "answer to this question" in line.lower():
        return None
    if len(line.split()) < 4 or len(line) > 300:
        return None
    return line if line.endswith("?") else line + "?"


def synthesize_questions(chunks: list[Chunk], generator, n: int = 10, seed: int = 0,
                         max_new_tokens: int = 40, progress=None, cancel=None) -> QuestionSet:
    """Ask the generator for one question per sampled chunk; the chunk's span becomes the gold."""
    from workbench.models.generator import GenerationConfig
    from workbench.prompts import chat_messages

    usable = [c for c in chunks if len(c.text.strip()) >= 80]  # a heading alone makes no question
    rng = random.Random(seed)
    picked = rng.sample(usable, min(n, len(usable)))
    cfg = GenerationConfig(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)
    out, errors = [], []
    if not picked:
        errors.append("no chunk has enough text (80+ characters) to ask a question about")
    for i, c in enumerate(picked):
        if cancel is not None and cancel():
            errors.append(f"cancelled after {i} of {len(picked)} questions")
            break
        if progress:
            progress(i / max(1, len(picked)), f"question {i + 1} of {len(picked)} ({c.doc_name})")
        # 800 characters keep the prompt short (CPU time grows with it) and still hold a fact or two.
        msgs = chat_messages(SYNTH_PROMPT.format(passage=" ".join(c.text[:800].split())), None)
        q = _clean_question(generator.generate(msgs, cfg).text)
        if q is None:
            errors.append(f"chunk {c.chunk_id}: the generator gave no usable question")
            continue
        out.append(Question(f"syn{i + 1}", q, None, c.doc_name, c.page, (c.start, c.end), synthetic=True))
    if progress:
        progress(1.0, "done")
    name = f"synthetic ({getattr(generator, 'name', 'generator')}, {len(out)} questions)"
    return QuestionSet(name, tuple(out), tuple(errors), synthetic=True)


def to_jsonl(qs: QuestionSet) -> str:
    """The set as JSONL (synthetic spans included) so it can be saved and uploaded again."""
    lines = []
    for q in qs.questions:
        row = {"id": q.qid, "question": q.question, "answer": q.answer, "source_document": q.source,
               "source_page": q.page, "synthetic": q.synthetic}
        if q.span:
            row["span"] = list(q.span)
        lines.append(json.dumps(row))
    return "\n".join(lines) + "\n"
