"""Prompt recipes: named, versioned system instructions, a format statement and few-shot examples.

A recipe is what "try prompt engineering first" means in numbers: the Prompted setup answers with it,
RAG adds passages to it, and the fine-tuned setups may use it too. Its cost is paid in prompt tokens
on every query, which the evaluation measures next to what it buys.

On disk: `storage/recipes/<name>/v0001.json`, `v0002.json`, ... Saving a changed recipe adds a
version; saving identical content returns the existing version, so a run that records "name v3"
can always be reproduced. Few-shot examples go into the prompt as real chat turns (user, then
assistant), before the question.
"""
from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from workbench.files import write_json_atomic
from workbench.names import check_name
from workbench.settings import Settings

MAX_EXAMPLES = 16  # each example costs prompt tokens on every query; 16 is far past where few-shot helps
MAX_TEXT_CHARS = 8_000  # per field: far beyond a real instruction, well below what stalls the tokenizer


class RecipeError(ValueError):
    """A recipe that cannot be saved or found; the message is meant for the user."""


@dataclass(frozen=True)
class Shot:
    """One few-shot example: what the user asked and what a good answer looks like."""

    user: str
    assistant: str


@dataclass(frozen=True)
class Recipe:
    """System instructions + a statement of the expected format + few-shot examples."""

    name: str
    instructions: str = "You are a helpful assistant."
    format: str = ""  # e.g. 'Answer with one line of JSON: {"answer": ..., ...}'
    shots: tuple[Shot, ...] = ()
    version: int = 0  # 0 until saved; then 1, 2, ... per name
    saved_at: float = 0.0
    note: str = field(default="", compare=False)  # where the shots came from, for people

    def __post_init__(self):
        object.__setattr__(self, "shots", tuple(s if isinstance(s, Shot) else Shot(**s) for s in self.shots))

    @property
    def ref(self) -> str:
        """"name v3": how runs and exports cite the recipe."""
        return f"{self.name} v{self.version}" if self.version else f"{self.name} (unsaved)"

    def system_prompt(self) -> str:
        """The system message: instructions, then the format statement."""
        return "\n\n".join(p.strip() for p in (self.instructions, self.format) if p.strip())

    def turns(self) -> list[dict]:
        """The few-shot examples as chat turns, oldest first."""
        out: list[dict] = []
        for s in self.shots:
            out += [{"role": "user", "content": s.user}, {"role": "assistant", "content": s.assistant}]
        return out

    def content(self) -> dict:
        """What the recipe says, without its version bookkeeping (two saves compare on this)."""
        return {"instructions": self.instructions, "format": self.format,
                "shots": [asdict(s) for s in self.shots]}

    def to_json(self) -> dict:
        return {"name": self.name, "version": self.version, "saved_at": self.saved_at, "note": self.note,
                **self.content()}

    @classmethod
    def from_json(cls, d: dict) -> "Recipe":
        """The recipe `d` describes; RecipeError when `d` is not one (a damaged or hand-edited file)."""
        try:
            if not isinstance(d, dict):
                raise TypeError(f"expected a JSON object, got {type(d).__name__}")
            shots = tuple(Shot(**s) for s in d.get("shots", ()))
            recipe = cls(name=d["name"], instructions=d.get("instructions", ""), format=d.get("format", ""),
                         shots=shots, version=int(d.get("version", 0)), saved_at=float(d.get("saved_at", 0.0)),
                         note=d.get("note", ""))
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as e:
            raise RecipeError(f"not a recipe ({type(e).__name__}: {str(e)[:200]})") from None
        texts = [recipe.name, recipe.instructions, recipe.format, recipe.note]
        if not all(isinstance(t, str) for t in texts + [t for s in shots for t in (s.user, s.assistant)]):
            raise RecipeError("not a recipe (its name, instructions, format, note and examples must be text)")
        return recipe


def validate(recipe: Recipe) -> Recipe:
    """The recipe with a checked name, or RecipeError saying what is wrong."""
    name = check_name(recipe.name, "recipe", RecipeError)
    if not recipe.system_prompt() and not recipe.shots:
        raise RecipeError("A recipe needs instructions, a format statement or at least one example.")
    if len(recipe.shots) > MAX_EXAMPLES:
        raise RecipeError(f"{len(recipe.shots)} examples; a recipe takes at most {MAX_EXAMPLES} "
                          "(each one is paid for in prompt tokens on every question).")
    texts = [recipe.instructions, recipe.format] + [t for s in recipe.shots for t in (s.user, s.assistant)]
    if any(len(t) > MAX_TEXT_CHARS for t in texts):
        raise RecipeError(f"A field of the recipe is longer than {MAX_TEXT_CHARS:,} characters.")
    for i, s in enumerate(recipe.shots, 1):
        if not s.user.strip() or not s.assistant.strip():
            raise RecipeError(f"Example {i} needs both a question and an answer.")
    return replace(recipe, name=name)


# --- the store -----------------------------------------------------------------------------------

def recipes_dir(settings: Settings) -> Path:
    return settings.storage / "recipes"


def _versions(settings: Settings, name: str) -> list[Path]:
    d = recipes_dir(settings) / name
    return sorted(d.glob("v[0-9][0-9][0-9][0-9].json")) if d.is_dir() else []


def save_recipe(settings: Settings, recipe: Recipe) -> Recipe:
    """Store `recipe` as the next version of its name; identical content returns the latest version."""
    recipe = validate(recipe)
    existing = _versions(settings, recipe.name)
    if existing:
        latest = _read(existing[-1], recipe.name)
        if latest.content() == recipe.content():
            return latest
    version = len(existing) + 1
    saved = replace(recipe, version=version, saved_at=time.time())
    path = recipes_dir(settings) / recipe.name / f"v{version:04d}.json"
    if path.exists():  # two saves at once: the other one took this number
        raise RecipeError(f"Recipe '{recipe.name}' was saved elsewhere just now; save again.")
    write_json_atomic(path, saved.to_json())
    return saved


def list_recipes(settings: Settings) -> list[str]:
    """Names of stored recipes, sorted."""
    d = recipes_dir(settings)
    return sorted(p.name for p in d.iterdir() if p.is_dir() and _versions(settings, p.name)) if d.is_dir() else []


def versions(settings: Settings, name: str) -> list[int]:
    """The saved version numbers of a recipe, oldest first."""
    return [int(p.stem[1:]) for p in _versions(settings, check_name(name, "recipe", RecipeError))]


def load_recipe(settings: Settings, name: str, version: int | None = None) -> Recipe:
    """A stored recipe: the given version, or the latest."""
    paths = _versions(settings, check_name(name, "recipe", RecipeError))
    if not paths:
        raise RecipeError(f"No recipe named '{name}'.")
    if version is None:
        path = paths[-1]
    else:
        path = recipes_dir(settings) / name / f"v{int(version):04d}.json"
        if not path.is_file():
            raise RecipeError(f"Recipe '{name}' has no version {version}.")
    return _read(path, name)


def _read(path: Path, name: str) -> Recipe:
    """One stored version; RecipeError naming the file when it is damaged (any way at all)."""
    try:
        return Recipe.from_json(json.loads(path.read_text()))
    except (ValueError, RecursionError, OSError) as e:  # RecipeError and UnicodeDecodeError are ValueErrors
        raise RecipeError(f"Recipe file {path.name} of '{name}' is damaged: {e}") from None


def delete_recipe(settings: Settings, name: str) -> None:
    """Remove a recipe and all its versions (runs keep their own copy of what they used)."""
    d = recipes_dir(settings) / check_name(name, "recipe", RecipeError)
    if not d.is_dir():
        raise RecipeError(f"No recipe named '{name}'.")
    shutil.rmtree(d)


def pick_shots(pairs: Sequence[tuple[str, str]], n: int, seed: int = 0) -> tuple[Shot, ...]:
    """`n` examples drawn (seeded) from (user, assistant) pairs, e.g. a training dataset's rows."""
    pairs = [p for p in pairs if p[0].strip() and p[1].strip()]
    chosen = random.Random(seed).sample(pairs, min(n, len(pairs)))
    return tuple(Shot(u, a) for u, a in chosen)
