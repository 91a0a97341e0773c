"""The sample's suggested arena questions: ones where the five setups visibly differ for the right reason."""
from __future__ import annotations

import json
from dataclasses import dataclass

from workbench.sample import arena_questions_path


@dataclass(frozen=True)
class Suggestion:
    question: str
    reference: str  # the fact a correct answer states, as in the source document
    why: str  # what the audience should see across the columns


def suggested_questions() -> list[Suggestion]:
    """The shipped suggestions in demo order; empty when the file is missing or unreadable (the arena still works)."""
    try:
        data = json.loads(arena_questions_path().read_text())
        return [Suggestion(q["question"], q["reference"], q["why"]) for q in data["questions"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
