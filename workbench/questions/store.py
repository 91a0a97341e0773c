"""Named question sets stored as JSONL under settings.evals_dir/sets/<name>.jsonl."""
from __future__ import annotations

import json
import re
from pathlib import Path

from workbench.questions.question import Question, QuestionSetError
from workbench.settings import Settings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def sets_dir(settings: Settings) -> Path:
    return settings.evals_dir / "sets"


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise QuestionSetError("a set name uses letters, digits, spaces, '_', '.' or '-' (at most 64)")
    return name


def save_set(settings: Settings, name: str, questions) -> Path:
    """Store a set under its name (replacing one of the same name); returns its path."""
    name = check_name(name)
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
    path = sets_dir(settings) / f"{check_name(name)}.jsonl"
    if not path.is_file():
        raise QuestionSetError(f"no question set named {name!r}")
    return [Question.from_json(json.loads(ln)) for ln in path.read_text().splitlines() if ln.strip()]


def delete_set(settings: Settings, name: str) -> None:
    path = sets_dir(settings) / f"{check_name(name)}.jsonl"
    path.unlink(missing_ok=True)
