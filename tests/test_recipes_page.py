"""The Prompt recipes page through AppTest: write a recipe, add examples from a dataset, versions, delete."""
from __future__ import annotations

import pytest

from tests.pages import app_page
from workbench.answering.recipes import list_recipes, load_recipe, versions
from workbench.ui import state


@pytest.fixture(autouse=True)
def fresh_settings(fresh_ui_caches):
    """st.cache_resource is process-wide: each test's own storage, not an earlier test's settings."""


def page():
    return app_page("pages/prompt_recipes.py", timeout=90).run()


def ok(at):
    assert not at.exception, [e.value for e in at.exception]
    return at


def gen(at) -> int:
    return at.session_state[state.RECIPE_DRAFT]["gen"]


def test_write_pick_examples_save_versions_and_delete(settings):
    from workbench.finetune.sample import load as load_behaviour

    load_behaviour(settings)
    at = ok(page())
    assert at.title[0].value == "Prompt recipes"
    assert at.selectbox(key=state.RECIPE_PICK).value == "(new recipe)"

    # Nothing to save without a name: the message says so and nothing is written.
    g = gen(at)
    at.text_area(key=f"recipe_{g}_format").set_value('Answer with JSON: {"answer": "..."}')
    ok(at.button(key="recipe_save").click().run())
    assert any("needs a name" in e.value for e in at.error), [e.value for e in at.error]
    assert list_recipes(settings) == []

    # Examples from the stored training dataset, then one typed in.
    at.text_input(key=f"recipe_{gen(at)}_name").set_value("json answers")
    at.number_input(key="recipe_dataset_n").set_value(2)
    ok(at.button(key="recipe_dataset_add").click().run())
    g = gen(at)
    assert at.text_input(key=f"recipe_{g}_name").value == "json answers"  # typed text survives the rebuild
    assert at.text_area(key=f"recipe_{g}_format").value == 'Answer with JSON: {"answer": "..."}'
    shots = at.session_state[state.RECIPE_DRAFT]["shots"]
    assert len(shots) == 2 and all(u and a.startswith('{"source"') for u, a in shots)
    ok(at.button(key=f"recipe_{g}_add").click().run())
    g = gen(at)
    at.text_area(key=f"recipe_{g}_user_2").set_value("Where is the <b>office</b>? $5 *not bold*")
    at.text_area(key=f"recipe_{g}_assistant_2").set_value('{"answer": "unknown", "confidence": "low"}')
    ok(at.run())

    # What the model sees: the messages as plain text (no Markdown), and the cost per question in tokens.
    codes = [c.value for c in at.code]
    assert "Where is the <b>office</b>? $5 *not bold*" in codes
    assert codes.index(shots[0][0]) < codes.index(shots[0][1]) < codes.index("What are your support hours?")
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Prompt tokens with the recipe"]) > int(metrics["Without (the Base setup)"]) + 20
    assert metrics["The recipe costs"].startswith("+")
    assert any("every question" in c.value and "fine-tune" in c.value for c in at.caption)

    ok(at.button(key="recipe_save").click().run())
    assert versions(settings, "json answers") == [1]
    assert any("Saved 'json answers' v1 (3 examples)" in s.value for s in at.success)
    assert at.selectbox(key=state.RECIPE_PICK).value == "json answers"
    v1 = load_recipe(settings, "json answers")
    assert len(v1.shots) == 3 and "sample-behaviour" in v1.note

    # Saving unchanged content is no new version; a change is v2; v1 stays readable.
    ok(at.button(key="recipe_save").click().run())
    assert versions(settings, "json answers") == [1]
    assert any("Nothing new" in i.value for i in at.info)
    g = gen(at)
    ok(at.button(key=f"recipe_{g}_remove_0").click().run())
    ok(at.button(key="recipe_save").click().run())
    assert versions(settings, "json answers") == [1, 2]
    assert len(load_recipe(settings, "json answers").shots) == 2
    assert at.selectbox(key="recipe_version__json answers").value == 2
    ok(at.selectbox(key="recipe_version__json answers").set_value(1).run())
    assert len(at.session_state[state.RECIPE_DRAFT]["shots"]) == 3  # the editor shows v1

    # An example with a question but no answer is refused with a message.
    g = gen(at)
    at.text_area(key=f"recipe_{g}_assistant_1").set_value("  ")
    ok(at.button(key="recipe_save").click().run())
    assert any("Example 2 needs both" in e.value for e in at.error)
    assert versions(settings, "json answers") == [1, 2]

    ok(at.button(key="recipe_delete").click().run())
    assert list_recipes(settings) == []
    assert at.selectbox(key=state.RECIPE_PICK).value == "(new recipe)"


def test_load_the_sample_recipe_from_the_empty_page(settings):
    at = ok(page())
    ok(next(b for b in at.button if b.label == "Load the sample recipe").click().run())
    assert list_recipes(settings) == ["sample-json"]
    assert at.selectbox(key=state.RECIPE_PICK).value == "sample-json"
    assert len(at.session_state[state.RECIPE_DRAFT]["shots"]) == 3
    assert any("Saved recipe 'sample-json' v1" in s.value for s in at.success)
