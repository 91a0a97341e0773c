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


class LoadCancelled(Exception):
    """Raised from a part's progress report once the user cancelled: the part stops at that point."""


def load_sample_workspace(settings: Settings, progress: Progress | None = None,
                          cancel: Callable[[], bool] | None = None) -> list[str]:
    """Run every part's sample loader; returns one message per part (a part's failure included, never raised).

    `cancel`: checked between parts and at each progress report of a part (its loader then stops there,
    as at any failure, with nothing half-written); the parts not reached are named as not loaded.
    """
    messages = []
    for i, (label, loader) in enumerate(LOADERS):
        if cancel is not None and cancel():
            messages += [f"{lb}: not loaded (cancelled)" for lb, _ in LOADERS[i:]]
            break

        def report(f: float, m: str, i=i) -> None:
            if cancel is not None and cancel():
                raise LoadCancelled()
            if progress:
                progress(min(1.0, (i + f) / len(LOADERS)), m)
        try:
            messages.append(f"{label}: {loader(settings, report)}")
        except LoadCancelled:
            messages.append(f"{label}: stopped (cancelled)")
        except Exception as e:  # one failing part must not stop the others
            messages.append(f"{label}: failed: {e}")
    if progress:
        progress(1.0, "done")
    return messages
