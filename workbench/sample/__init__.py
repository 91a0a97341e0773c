"""The sample workspace shipped in the repository: where its files are (nothing here imports upwards)."""
from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"


def kb_dir() -> Path:
    return DATA / "kb"


def kb_files() -> list[Path]:
    """The knowledge-base documents, sorted by name."""
    return sorted(p for p in kb_dir().iterdir() if p.is_file() and not p.name.startswith("."))


def behaviour_path() -> Path:
    return DATA / "behaviour.jsonl"


def eval_path() -> Path:
    return DATA / "eval.jsonl"


def freshness_path() -> Path:
    return DATA / "freshness.json"


def probe_path() -> Path:
    """The forgetting probe: general-knowledge and instruction-following items with checkable answers."""
    return DATA / "probe.jsonl"


def recipe_path() -> Path:
    """The prompt recipe for the sample's JSON answer style (saved as recipe "sample-json")."""
    return DATA / "recipe.json"


def arena_questions_path() -> Path:
    """The arena's suggested demo questions, with the measurement that chose them."""
    return DATA / "arena_questions.json"
