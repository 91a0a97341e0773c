"""The sample workspace shipped in the repository, and the action that loads it into storage."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from workbench.settings import Settings

DATA = Path(__file__).resolve().parent / "data"

# Each part of the workbench contributes a loader `load(settings, progress) -> str`; a part whose
# module is missing is skipped, so the action keeps working while the product grows.
LOADERS: list[tuple[str, str]] = [
    ("knowledge base", "workbench.knowledge.sample:load"),
    ("behaviour dataset", "workbench.finetune.sample:load"),
    ("evaluation set", "workbench.evaluation.sample:load"),
]

Progress = Callable[[float, str], None]


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


def load_sample_workspace(settings: Settings, progress: Progress | None = None) -> list[str]:
    """Run every part's sample loader; returns one message per part (errors included, never raised)."""
    messages = []
    for i, (label, target) in enumerate(LOADERS):
        module_name, func_name = target.split(":")
        report = (lambda f, m: progress(min(1.0, (i + f) / len(LOADERS)), m)) if progress else None
        try:
            loader = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError):
            messages.append(f"{label}: not available in this build")
            continue
        try:
            messages.append(f"{label}: {loader(settings, report)}")
        except Exception as e:  # one failing part must not stop the others
            messages.append(f"{label}: failed: {e}")
    if progress:
        progress(1.0, "done")
    return messages
