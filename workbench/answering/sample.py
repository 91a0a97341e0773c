"""One-click sample: the prompt recipe for the sample's JSON answer style, stored as recipe "sample-json"."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

from workbench.answering.recipes import Recipe, RecipeError, save_recipe
from workbench.sample import recipe_path
from workbench.settings import Settings

SAMPLE_RECIPE = "sample-json"


def sample_recipe() -> Recipe:
    """The shipped recipe, unsaved (version 0)."""
    path = recipe_path()
    try:
        return replace(Recipe.from_json(json.loads(path.read_text())), name=SAMPLE_RECIPE, version=0, saved_at=0.0)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise RecipeError(f"The sample recipe ({path}) cannot be read: {e}") from None


def load(settings: Settings, progress: Callable[[float, str], None] | None = None) -> str:
    """Save the shipped recipe as SAMPLE_RECIPE (identical content keeps its version); returns a summary."""
    if progress:
        progress(0.0, "saving the sample prompt recipe")
    saved = save_recipe(settings, sample_recipe())
    if progress:
        progress(1.0, "prompt recipe stored")
    return f"recipe '{saved.name}' v{saved.version} ({len(saved.shots)} few-shot examples)"
