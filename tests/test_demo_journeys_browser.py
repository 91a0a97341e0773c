"""Demo journeys in Chromium: R code shown exactly as stored in the Query lab, and a sweep of questions that
have no gold passage in the collection refused, with the reason, before any work."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from tests.servers import streamlit_app
from tests.test_browser import CHROMIUM, CHROMIUM_ARGS, SHOTS, wait_until_idle
from workbench import jobs
from workbench.knowledge import KnowledgeBase
from workbench.settings import Settings

pytestmark = pytest.mark.browser
COLLECTION = "r-notes"
R_NOTES = """# Cleaning survey data in R

Build the table with data.frame from two vectors:

x <- c(1, 2)
df <- data.frame(id = x, score = c(3, 4))
df$score -> best

The arrow a -> b assigns to the right; data.frame keeps every column as given.
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(settings, url, browser): one app on a storage holding a collection of R notes (ingested for real)."""
    from playwright.sync_api import sync_playwright

    storage = tmp_path_factory.mktemp("demo-storage")
    settings = replace(Settings.from_env(), storage=storage).ensure_dirs()
    col = KnowledgeBase(settings).create(COLLECTION)
    assert col.ingest([("r_notes.md", R_NOTES.encode())]).ok
    with streamlit_app(storage, tmp_path_factory.mktemp("log") / "streamlit.log") as url, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield settings, url, browser
        browser.close()


def open_page(browser, url: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url, wait_until="domcontentloaded")
    wait_until_idle(page)
    return page


def test_query_lab_shows_r_code_exactly(demo):
    """`<-` and `->` stay themselves (Markdown typography would draw ← and →), and the highlight marks
    `data.frame` whole, not "data . frame"."""
    _, url, browser = demo
    page = open_page(browser, f"{url}/query")
    try:
        page.get_by_label("Question").fill("How does data.frame use x <- c?")
        page.get_by_role("button", name="Search").click()
        cards = page.locator('[data-testid="stMain"] [data-testid="stHtml"]')
        cards.first.wait_for(timeout=90_000)
        wait_until_idle(page)
        text = cards.first.inner_text()
        cards.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "query-lab-r-code.png"))
        assert "x <- c(1, 2)" in text and "df$score -> best" in text and "a -> b" in text, text
        assert "←" not in text and "→" not in text, text
        marks = cards.first.locator("mark").all_inner_texts()
        # Every data.frame is one mark (a lone "data" in the heading is a word of its own, marked too).
        assert marks.count("data.frame") == text.count("data.frame") == 3 and not {"frame", "."} & set(marks), marks
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.first.inner_text()
    finally:
        page.close()


def test_sweep_of_questions_from_elsewhere_is_refused_before_any_work(demo):
    """The sample questions on a collection of R notes: the page says why it will not run, and nothing starts."""
    settings, url, browser = demo
    page = open_page(browser, f"{url}/sweep")
    try:
        error = page.locator('[data-testid="stAlertContentError"]')
        error.first.wait_for(timeout=60_000)
        reason = error.first.inner_text()
        page.screenshot(path=str(SHOTS / "sweep-refused.png"), full_page=True)
        assert "None of the" in reason and "gold passage" in reason and "employee_handbook.md" in reason, reason
        run = page.get_by_role("button", name="Run sweep")
        assert run.is_disabled()
        run.click(force=True)  # a click on the disabled button must not start anything either
        time.sleep(1.5)
        assert not jobs.list_jobs(settings), [j.kind for j in jobs.list_jobs(settings)]
    finally:
        page.close()
