"""Public retrieval development sets (SQuADShifts NYT and Amazon reviews from shared/retrieval-dev, HaluEval QA)
as documents plus questions with exact gold spans, and the fixed tune/held-out split of their questions."""
from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path

from workbench.questions import Question

DEV_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "retrieval-dev"
SQUADSHIFTS = {"nyt": "squadshifts_nyt_v1.0.json.gz", "amazon": "squadshifts_amazon_reviews_v1.0.json.gz"}


def held_out(question_id: str) -> bool:
    """The fixed split: a question is held out when the first byte of sha1(id) is odd, whatever else is drawn."""
    return hashlib.sha1(question_id.encode()).digest()[0] % 2 == 1


def split(questions: list[Question]) -> tuple[list[Question], list[Question]]:
    """(tune, held out): half and half, decided by each question's id alone."""
    return [q for q in questions if not held_out(q.id)], [q for q in questions if held_out(q.id)]


def _doc_name(title: str) -> str:
    # NYT titles are article URLs: the slug is what a user's saved file would be called.
    slug = title.rstrip("/").rsplit("/", 1)[-1].removesuffix(".html")
    return f"{slug[:120]}.txt"


def squadshifts_available(which: str, root: Path = DEV_DIR) -> bool:
    return (root / SQUADSHIFTS[which]).is_file()


def squadshifts_set(which: str, n_docs: int, n_questions: int, seed: int = 0,
                    root: Path = DEV_DIR) -> tuple[list, list[Question], dict]:
    """`n_docs` articles drawn with `seed` (each one document, paragraphs joined by blank lines) and up to
    `n_questions` of their questions, each with the span of its first answer in the parsed text."""
    from workbench.knowledge.parsing import parse

    path = root / SQUADSHIFTS[which]
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the SQuADShifts development sets live in shared/retrieval-dev/")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        articles = json.load(fh)["data"]
    rng = random.Random(seed)
    picked = rng.sample(range(len(articles)), min(n_docs, len(articles)))
    docs, questions, skipped = [], [], 0
    for a in (articles[i] for i in picked):
        name = _doc_name(a["title"])
        raw = "\n\n".join(p["context"] for p in a["paragraphs"])
        doc = parse(name, raw.encode("utf-8"))
        pos = 0
        for p in a["paragraphs"]:
            base = doc.text.find(p["context"].strip()[:200], pos)
            if base < 0:
                skipped += len(p["qas"])
                continue
            base -= len(p["context"]) - len(p["context"].lstrip())
            pos = base
            for qa in p["qas"]:
                ans = qa["answers"][0]
                s = base + ans["answer_start"]
                e = s + len(ans["text"])
                if doc.text[s:e] != ans["text"]:  # the parser changed the text here: no exact gold
                    skipped += 1
                    continue
                questions.append(Question(f"{which}-{qa['id']}", qa["question"].strip(), ans["text"],
                                          source_document=name, span=(s, e)))
        docs.append(doc)
    rng.shuffle(questions)
    info = {"name": f"SQuADShifts {which}", "file": path.name, "articles": len(articles),
            "skipped": skipped, "drawn": len(questions)}
    return docs, questions[:n_questions], info


def halueval_dev_set(n: int, seed: int = 0) -> tuple[list, list[Question], dict]:
    """HaluEval QA (one passage per question, ten to a file), as workbench.sample.public draws it."""
    from workbench.sample.public import halueval_set

    return halueval_set(n, seed)
