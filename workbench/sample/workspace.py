"""The "Load sample workspace" action: each part's sample loader, one after the other."""
from __future__ import annotations

from collections.abc import Callable

from workbench.answering.sample import load as load_prompt_recipe
from workbench.evaluation.sample import load as load_evaluation_set
from workbench.finetune.sample import load as load_behaviour_dataset
from workbench.knowledge.sample import load as load_knowledge_base
from workbench.settings import Settings

Progress = Callable[[float, str], None]

# Each loader is `load(settings, progress) -> str`, the one-line message the System page shows.
LOADERS: list[tuple[str, Callable[..., str]]] = [
    ("knowledge base", load_knowledge_base),
    ("behaviour dataset", load_behaviour_dataset),
    ("prompt recipe", load_prompt_recipe),
    ("evaluation set", load_evaluation_set),
]


def load_sample_workspace(settings: Settings, progress: Progress | None = None) -> list[str]:
    """Run every part's sample loader; returns one message per part (a part's failure included, never raised)."""
    messages = []
    for i, (label, loader) in enumerate(LOADERS):
        report = (lambda f, m: progress(min(1.0, (i + f) / len(LOADERS)), m)) if progress else None
        try:
            messages.append(f"{label}: {loader(settings, report)}")
        except Exception as e:  # one failing part must not stop the others
            messages.append(f"{label}: failed: {e}")
    if progress:
        progress(1.0, "done")
    return messages
