"""Prompt recipes: validation, versions on disk, the messages they produce."""
from __future__ import annotations

import pytest

from workbench.answering.recipes import (
    MAX_EXAMPLES, Recipe, RecipeError, Shot, delete_recipe, list_recipes, load_recipe, pick_shots, save_recipe,
    versions,
)

JSON_FORMAT = 'Answer with one line of JSON: {"answer": "...", "confidence": "high|medium|low", "source": "..."}'


def recipe(**kw) -> Recipe:
    base = dict(name="json style", instructions="You are a support assistant.", format=JSON_FORMAT,
                shots=(Shot("What is 2+2?", '{"answer": "4", "confidence": "medium", "source": "none"}'),))
    return Recipe(**{**base, **kw})


def test_system_prompt_and_shots_as_real_chat_turns():
    r = recipe(shots=(Shot("q1", "a1"), Shot("q2", "a2")))
    assert r.system_prompt() == "You are a support assistant.\n\n" + JSON_FORMAT
    assert r.turns() == [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                         {"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]


def test_saving_adds_versions_and_identical_content_is_not_a_new_version(settings):
    v1 = save_recipe(settings, recipe())
    assert (v1.version, v1.ref) == (1, "json style v1")
    assert save_recipe(settings, recipe()).version == 1
    v2 = save_recipe(settings, recipe(format="Answer in one word."))
    assert v2.version == 2 and versions(settings, "json style") == [1, 2]
    assert load_recipe(settings, "json style").format == "Answer in one word."
    assert load_recipe(settings, "json style", 1).format == JSON_FORMAT
    assert load_recipe(settings, "json style", 1).shots == recipe().shots
    assert list_recipes(settings) == ["json style"]
    delete_recipe(settings, "json style")
    assert list_recipes(settings) == []


@pytest.mark.parametrize("bad, message", [
    (dict(name="../up"), "not a valid recipe name"),
    (dict(instructions="", format="", shots=()), "needs instructions"),
    (dict(shots=(Shot("q", ""),)), "Example 1 needs"),
    (dict(shots=tuple(Shot(f"q{i}", "a") for i in range(MAX_EXAMPLES + 1))), "at most"),
    (dict(format="x" * 9_000), "longer than"),
])
def test_bad_recipes_are_refused_with_a_message_and_nothing_is_written(settings, bad, message):
    with pytest.raises(RecipeError, match=message):
        save_recipe(settings, recipe(**bad))
    assert list_recipes(settings) == []


def test_missing_and_damaged_recipes_give_messages(settings):
    with pytest.raises(RecipeError, match="No recipe named"):
        load_recipe(settings, "nothing")
    save_recipe(settings, recipe())
    with pytest.raises(RecipeError, match="no version 7"):
        load_recipe(settings, "json style", 7)
    (settings.storage / "recipes" / "json style" / "v0001.json").write_text("{not json")
    with pytest.raises(RecipeError, match="damaged"):
        load_recipe(settings, "json style")


def test_pick_shots_is_seeded_and_skips_empty_pairs():
    pairs = [(f"q{i}", f"a{i}") for i in range(20)] + [("", "a"), ("q", " ")]
    a, b = pick_shots(pairs, 3, seed=1), pick_shots(pairs, 3, seed=1)
    assert a == b and len(a) == 3 and all(s.user and s.assistant.strip() for s in a)
    assert pick_shots(pairs, 3, seed=2) != a
    assert len(pick_shots(pairs[:2], 5)) == 2


def test_sample_recipe_is_saved_once_and_teaches_the_sample_format(settings):
    import json

    from workbench.answering.sample import SAMPLE_RECIPE, load, sample_recipe
    from workbench.evaluation.metrics import format_ok
    from workbench.evaluation.sample import SAMPLE_SCHEMA
    from workbench.finetune.sample import load as load_behaviour
    from workbench.finetune.datasets import load_examples

    assert load(settings) == "recipe 'sample-json' v1 (3 few-shot examples)"
    assert load(settings) == "recipe 'sample-json' v1 (3 few-shot examples)"  # idempotent: no new version
    assert list_recipes(settings) == [SAMPLE_RECIPE] and versions(settings, SAMPLE_RECIPE) == [1]
    r = load_recipe(settings, SAMPLE_RECIPE)
    assert r.content() == sample_recipe().content()
    for key in ('"answer"', '"confidence"', '"source"', '"high"', '"medium"', '"low"', '"unknown"', '"NONE"'):
        assert key in r.format
    # Its examples are rows of the behaviour dataset, in the sample's exact format: a bare general-knowledge
    # question, one with context, one nobody can know.
    load_behaviour(settings)
    rows = {(ex.messages[-2][1], ex.completion) for ex in load_examples(settings, "sample-behaviour")}
    assert all((s.user, s.assistant) in rows for s in r.shots)
    assert all(format_ok(s.assistant, json.dumps(SAMPLE_SCHEMA)) for s in r.shots)
    answers = [json.loads(s.assistant) for s in r.shots]
    assert [a["confidence"] for a in answers] == ["medium", "high", "low"]
    assert sum("Context:" in s.user for s in r.shots) == 1


def test_load_sample_workspace_includes_the_recipe(settings, monkeypatch):
    from workbench.sample import workspace

    monkeypatch.setattr(workspace, "LOADERS", [x for x in workspace.LOADERS if x[0] == "prompt recipe"])
    assert workspace.load_sample_workspace(settings) == ["prompt recipe: recipe 'sample-json' v1 (3 few-shot examples)"]
