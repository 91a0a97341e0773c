"""The setups a question can be answered under, in display order: the one definition every page and report uses."""
from __future__ import annotations

from dataclasses import dataclass

# Keys for code that means one particular setup (the decision rules); everything else iterates SETUPS.
BASE, PROMPTED, RAG, FINETUNED, HYBRID = "base", "prompted", "rag", "finetuned", "hybrid"


@dataclass(frozen=True)
class Setup:
    """One way of answering: which of retrieval, a LoRA adapter and a prompt recipe it uses, and its names."""

    key: str  # stored in run records, votes and exports: never rename
    label: str  # arena column header
    short_label: str  # tables, charts and the evaluation pages
    retrieves: bool  # the prompt carries passages retrieved from a collection
    adapter: bool  # generated with the chosen LoRA adapter (so never on an OpenAI-compatible endpoint)
    recipe: bool  # the prompt follows the chosen prompt recipe (adapter setups: when the run says so)
    color: str  # its colour in every evaluation chart


SETUPS: tuple[Setup, ...] = (
    Setup(BASE, "Base model", "Base", retrieves=False, adapter=False, recipe=False, color="#7f7f7f"),
    Setup(PROMPTED, "Prompted (recipe)", "Prompted", retrieves=False, adapter=False, recipe=True, color="#9467bd"),
    Setup(RAG, "RAG", "RAG", retrieves=True, adapter=False, recipe=True, color="#1f77b4"),
    Setup(FINETUNED, "Fine-tuned", "Fine-tuned", retrieves=False, adapter=True, recipe=False, color="#ff7f0e"),
    Setup(HYBRID, "Hybrid (fine-tuned + RAG)", "Hybrid", retrieves=True, adapter=True, recipe=False,
          color="#2ca02c"),
)
_BY_KEY = {s.key: s for s in SETUPS}


def keys() -> tuple[str, ...]:
    """Every setup key, in display order."""
    return tuple(_BY_KEY)


def setup(key: str) -> Setup:
    """The setup named `key`; ValueError for an unknown one."""
    try:
        return _BY_KEY[key]
    except KeyError:
        raise ValueError(f"Unknown setup {key!r}; expected one of {keys()}.") from None


def label(key: str) -> str:
    """Long name (arena column header)."""
    return setup(key).label


def short_label(key: str) -> str:
    """Short name (tables, charts); the key itself for a setup no longer defined (an old record)."""
    return _BY_KEY[key].short_label if key in _BY_KEY else key


def ordered(chosen) -> tuple[str, ...]:
    """The known keys among `chosen`, in display order."""
    return tuple(k for k in _BY_KEY if k in set(chosen))


def retrieving() -> tuple[str, ...]:
    """Keys of the setups that need a collection."""
    return tuple(s.key for s in SETUPS if s.retrieves)


def adapted() -> tuple[str, ...]:
    """Keys of the setups that need an adapter."""
    return tuple(s.key for s in SETUPS if s.adapter)


def needing_recipe() -> tuple[str, ...]:
    """Keys of the setups that cannot answer without a recipe (they would be another setup without one)."""
    return tuple(s.key for s in SETUPS if s.recipe and not s.retrieves and not s.adapter)


def uses_recipe(key: str, with_adapter: bool = False) -> bool:
    """Whether `key` answers with the recipe: setups defined with one, and adapter setups when asked."""
    s = setup(key)
    return s.recipe or (s.adapter and with_adapter)


def without_retrieval(key: str) -> str | None:
    """The setup that is `key` minus retrieval (same adapter and recipe), None when there is none."""
    s = setup(key)
    return next((o.key for o in SETUPS if not o.retrieves and (o.adapter, o.recipe) == (s.adapter, s.recipe)), None)
