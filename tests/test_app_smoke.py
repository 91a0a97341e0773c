"""Every page renders through the router on a fresh, empty storage without an exception."""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest

from tests.pages import REPO, declared_pages

PAGES = declared_pages()


def test_router_declares_every_page_file():
    assert len(PAGES) >= 12
    for file, _ in PAGES:
        assert (REPO / file).is_file(), file
    files_on_disk = {f"pages/{p.name}" for p in (REPO / "pages").glob("*.py")}
    assert files_on_disk == {f for f, _ in PAGES}, "a page file is not routed (or vice versa)"


def test_prompting_is_the_first_section():
    """Prompt engineering is the first thing to try: its page comes right after Home."""
    assert [f for f, _ in PAGES][:2] == ["pages/home.py", "pages/prompt_recipes.py"]
    assert ("pages/prompt_recipes.py", "recipes") in PAGES


@pytest.mark.parametrize("page", [f for f, _ in PAGES])
def test_page_renders_on_empty_storage(page):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title, f"{page} shows no title"


def test_system_page_shows_models_and_versions():
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/system_overview.py")
    at.run()
    assert not at.exception
    assert at.title[0].value == "System"
    assert any("Load sample workspace" == b.label for b in at.button)
    frames = [df.value for df in at.dataframe]
    models = frames[0]
    assert {"embedder", "generator (GGUF)"} <= set(models["role"])
    assert models[models["role"] == "embedder"]["present"].all()
