"""The real app in headless Chromium: every page opens with no exception box; screenshots are kept."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.pages import REPO, declared_pages
from tests.servers import streamlit_app

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO / "tests" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app as `make run` starts it, on a free loopback port with its own empty storage."""
    with streamlit_app(tmp_path_factory.mktemp("browser-storage"),
                       tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def wait_until_idle(page, timeout_s: float = 90) -> None:
    """Streamlit is done when it has not been 'Running' and the page has not grown for 2 s."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline = time.time() + timeout_s
    quiet_since, last_size = None, -1
    while time.time() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        size = page.locator('[data-testid="stMainBlockContainer"] *').count()
        if running or size != last_size:
            quiet_since, last_size = None, size
        elif quiet_since is None:
            quiet_since = time.time()
        elif time.time() - quiet_since > 2.0:
            return
        time.sleep(0.25)


def test_deep_link_on_a_fresh_server_uses_the_router(app_url, browser):
    """A first visit straight to a page must get the sectioned navigation, not the pages/ folder list.

    Streamlit runs a fresh server in the old pages-directory mode until app.py calls st.navigation;
    workbench.ui.serve switches that off before the server starts, and url paths differ from file
    stems as a second guard.
    """
    stems = {Path(f).stem for f, _ in declared_pages()}
    assert not stems & {u for _, u in declared_pages()}
    page = browser.new_page()
    try:
        page.goto(f"{app_url}/evaluate", wait_until="domcontentloaded")
        wait_until_idle(page)
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert "Fine-tune" in nav and "Knowledge" in nav, nav
        assert "Page not found" not in page.content()
    finally:
        page.close()


@pytest.mark.parametrize("page_file,url_path", declared_pages())
def test_page_opens_without_exception(app_url, browser, page_file, url_path):
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/{url_path}", wait_until="domcontentloaded")
        wait_until_idle(page)
        page.screenshot(path=str(SHOTS / f"{url_path or 'home'}.png"), full_page=True)
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.first.inner_text()
        assert page.locator("h1").count() >= 1, "no page title rendered"
        assert "Page not found" not in page.content()
    finally:
        page.close()


def test_public_benchmark_builds_and_selects_its_collection(app_url, browser):
    """In a real browser the collection box keeps the browser's own value across reruns; building the
    public benchmark must still switch it to 'halueval-qa' (runs last: it adds collections)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/system", wait_until="domcontentloaded")
        wait_until_idle(page)
        page.get_by_role("button", name="Load sample workspace").click()
        page.get_by_text("knowledge base: collection 'sample-kb'").wait_for(timeout=180_000)
        page.goto(f"{app_url}/retrieval-eval", wait_until="domcontentloaded")
        wait_until_idle(page)
        page.get_by_text("Public benchmark (HaluEval QA)").click()
        wait_until_idle(page)
        assert "not 'sample-kb'" in page.content()
        page.get_by_role("button", name="Build collection 'halueval-qa' and switch to it").click()
        page.get_by_text("Public benchmark loaded").wait_for(timeout=240_000)
        wait_until_idle(page)
        box = page.locator('[data-testid="stSelectbox"]').first.inner_html()
        assert "halueval-qa (20 docs" in box and "sample-kb" not in box, box
        assert "200 questions" in page.locator('[data-testid="stMain"]').inner_text()
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.first.inner_text()
        page.screenshot(path=str(SHOTS / "public-benchmark.png"), full_page=True)
    finally:
        page.close()


def test_new_collection_becomes_the_upload_target(app_url, browser):
    """After creating a collection, the upload tab's box shows it, not the one selected before:
    uploading into the previously selected collection by mistake is what this guards against."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{app_url}/collections", wait_until="domcontentloaded")
        wait_until_idle(page)
        for name in ("browser-docs-a", "browser-docs-b"):  # the second must replace the first in the box
            page.get_by_role("tab", name="New collection").click()
            page.get_by_label("Name", exact=True).fill(name)
            page.get_by_role("button", name="Create collection").click()
            page.get_by_text(f"Created collection '{name}'").wait_for(timeout=60_000)
            wait_until_idle(page)
            page.get_by_role("tab", name="Upload documents").click()
            box = page.locator('[data-testid="stSelectbox"]').first.inner_html()
            assert f'value="{name}' in box, box
    finally:
        page.close()
