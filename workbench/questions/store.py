"""Named question sets stored as JSONL under settings.evals_dir/sets/<name>.jsonl."""
from __future__ import annotations

import json
from pathlib import Path

from workbench.names import check_name
from workbench.questions.question import Question, QuestionSetError
from workbench.settings import Settings


def sets_dir(settings: Settings) -> Path:
    return settings.evals_dir / "sets"


def save_set(settings: Settings, name: str, questions) -> Path:
    """Store a set under its name (replacing one of the same name); returns its path."""
    name = check_name(name, "question set", QuestionSetError)
    if not questions:
        raise QuestionSetError("a question set needs at least one valid question")
    d = sets_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.jsonl"
    tmp = d / f".{name}.jsonl.tmp"
    tmp.write_text("".join(json.dumps(q.to_json()) + "\n" for q in questions))
    tmp.replace(path)
    return path


def list_sets(settings: Settings) -> list[str]:
    d = sets_dir(settings)
    return sorted(p.stem for p in d.glob("*.jsonl")) if d.is_dir() else []


def load_set(settings: Settings, name: str) -> list[Question]:
    name = check_name(name, "question set", QuestionSetError)
    path = sets_dir(settings) / f"{name}.jsonl"
    if not path.is_file():
        raise QuestionSetError(f"no question set named {name!r}")
    return [Question.from_json(json.loads(ln)) for ln in path.read_text().splitlines() if ln.strip()]


def delete_set(settings: Settings, name: str) -> None:
    name = check_name(name, "question set", QuestionSetError)
    path = sets_dir(settings) / f"{name}.jsonl"
    path.unlink(missing_ok=True)
