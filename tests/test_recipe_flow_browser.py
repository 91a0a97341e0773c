"""The advice in a real browser: a recipe -> a five-setup run -> a report with its ladder and intervals.

The run is a real background job through the real bundled models (two questions, short answers).
"""
from __future__ import annotations

import os
import time

import pytest

from tests.servers import streamlit_app
from tests.test_browser import browser, wait_until_idle  # noqa: F401  (the module-scoped Chromium fixture)
from tests.test_generator_adapters import lora_adapter  # noqa: F401  (a small real LoRA adapter, as a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def sample_app(tmp_path_factory, lora_adapter):  # noqa: F811
    """The app over a storage holding the sample workspace (collection, dataset, recipe, question set) and an adapter."""
    import shutil

    from workbench.sample.workspace import load_sample_workspace
    from workbench.settings import Settings

    storage = tmp_path_factory.mktemp("recipe-flow-storage")
    settings = Settings.from_env({**os.environ, "WORKBENCH_STORAGE": str(storage)}).ensure_dirs()
    messages = load_sample_workspace(settings)
    assert not any("failed" in m for m in messages), messages
    shutil.copytree(lora_adapter, settings.adapters_dir / "demo-lora")
    with streamlit_app(storage, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url, settings


def text_of(page) -> str:
    return page.locator('[data-testid="stMainBlockContainer"]').inner_text()


def test_recipe_then_five_setup_run_then_report_with_intervals(sample_app, browser, tmp_path):  # noqa: F811
    from workbench.evaluation import run_index

    sample_app, settings = sample_app
    page = browser.new_page(viewport={"width": 1400, "height": 1800})
    try:
        page.goto(f"{sample_app}/recipes")
        wait_until_idle(page)
        body = text_of(page)
        # The sample recipe is open: its shots are shown as the chat turns the model gets.
        assert "What the model sees" in body and '"source": "NONE"' in body, body[:2000]
        assert page.locator('[data-testid="stException"]').count() == 0

        page.goto(f"{sample_app}/evaluate")
        wait_until_idle(page)
        setups_box = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Setups")
        chosen = setups_box.inner_text()
        for label in ("Base", "Prompted", "RAG", "Fine-tuned", "Hybrid"):  # all five by default
            assert label in chosen, chosen
        page.get_by_text("Forgetting probe").click()  # 208 more answers: the probe is tested elsewhere
        questions = page.get_by_role("spinbutton", name="Questions")
        questions.fill("2")
        page.get_by_role("spinbutton", name="Max new tokens").fill("24")
        page.get_by_role("button", name="Start the run").click()
        page.wait_for_selector("text=queued", timeout=30_000)
        deadline = time.time() + 240
        while time.time() < deadline and not ((e := run_index.entries(settings)) and e[0].ended):
            time.sleep(2)
        (entry,) = run_index.entries(settings)
        assert entry.ended and (entry.answers, entry.expected) == (10, 10), entry
        assert entry.setups == ("base", "prompted", "rag", "finetuned", "hybrid")

        page.goto(f"{sample_app}/report")
        wait_until_idle(page)
        body = text_of(page)
        assert "Prompted vs Base" in body and "Fine-tuned vs Prompted" in body and "95 % interval" in body, body[:3000]
        assert "2/2" in body  # rates as k/n
        assert page.locator('[data-testid="stException"]').count() == 0
        page.screenshot(path=str(tmp_path / "recipe-flow-report.png"), full_page=True)
    finally:
        page.close()
