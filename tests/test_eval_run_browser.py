"""The Run evaluation page in Chromium: a run that ends while the page is open shows as finished, no reload."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.servers import streamlit_app
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, wait_until_idle
from workbench import jobs
from workbench.evaluation import runs
from workbench.evaluation.sample import sample_items
from workbench.settings import Settings

pytestmark = pytest.mark.browser
GO = "go"


def gated(ctx):
    """The run's real handler (with the fake models), started only once the test drops a `go` file."""
    from tests import fakes
    from workbench import resources
    from workbench.evaluation.runs import run_job

    while not (Path(ctx.dir) / GO).exists():
        ctx.check_cancel()
        time.sleep(0.1)
    resources.load_embedder = fakes.load_embedder_or_fake
    resources.load_generator = lambda settings, name=None: fakes.QuestionWriter()
    return run_job(ctx)


def cells(page) -> str:
    """The text of the runs table's cells (Streamlit draws tables on a canvas, with an accessible grid)."""
    return " ".join(page.locator('[data-testid="stDataFrame"] [role="gridcell"]').all_inner_texts())


def test_the_runs_table_follows_a_run_to_its_end(tmp_path):
    storage = tmp_path / "storage"
    settings = replace(Settings.from_env(), storage=storage).ensure_dirs()
    run_id = runs.submit_run(settings, runs.RunSpec(set_name="sample", setups=("base",)), sample_items()[:4],
                             handler="tests.test_eval_run_browser:gated")
    job_id = runs.load_run(settings, run_id).job_id
    try:
        text = watch_the_table(storage, tmp_path, settings, job_id)
    finally:  # never leave the gated worker waiting for its `go` file
        jobs.cancel(settings, job_id)
    assert "finished" in text and "running" not in text, text


def watch_the_table(storage, tmp_path, settings, job_id) -> str:
    """Open the page while the run waits, let it go, and return the runs table's text once it settles."""
    from playwright.sync_api import sync_playwright

    with streamlit_app(storage, tmp_path / "streamlit.log") as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/evaluate")
        wait_until_idle(page)
        deadline = time.time() + 30
        while time.time() < deadline and not cells(page):  # the grid draws after the page settles
            time.sleep(0.3)
        first = cells(page)
        assert "running" in first or "queued" in first, first
        (settings.jobs_dir / job_id / GO).touch()
        deadline = time.time() + 90
        while time.time() < deadline and "finished" not in cells(page):
            time.sleep(0.5)
        text = cells(page)
        page.screenshot(path=str(tmp_path / "run-page.png"))
        browser.close()
    return text
