"""Issue 14.3 in headless Chromium: content from outside is shown as text, and no page requests anything off the
machine.

A workspace is poisoned the way an attacker would: a document whose text and file name hold Markdown images,
HTML images and links, an evaluation run whose question, reference and answers hold them, and an endpoint whose
Arena answers hold them. Every URL points at a loopback listener (or, for a file name, which cannot hold a '/',
at a relative "beacon" path on the app's own server). The pages that show that content are driven in the real
app; the listener must see nothing, no request may name a beacon, and no request may leave for another host.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest

from tests.conftest import SHARED_MODELS
from tests.pages import REPO, declared_pages
from tests.servers import fake_endpoint, streamlit_app
from tests.test_browser import browser, wait_until_idle  # noqa: F401  (the shared Chromium fixture)
from workbench.ui.safe import WORD_JOINER

pytestmark = pytest.mark.browser
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Listener(BaseHTTPRequestHandler):
    """Records every request, whatever its method: any hit is a beacon that fired."""

    def _hit(self):
        self.server.hits.append(f"{self.command} {self.path}")
        self.send_response(404)
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_OPTIONS = _hit

    def log_message(self, *a):
        pass


def poison(base: str, tag: str) -> str:
    """A Markdown image, an HTML image and a link to `base`, each naming `tag`, around text that must show."""
    return (f"![{tag}]({base}/beacon-{tag}-md.png) <img src={base}/beacon-{tag}-html.png> "
            f"[{tag} link]({base}/beacon-{tag}-link)")


def build_storage(storage: str, beacon: str, endpoint: str) -> None:
    """The poisoned workspace (run in its own process, so nothing of it stays open beside the server)."""
    from workbench.evaluation import runs
    from workbench.knowledge import KnowledgeBase
    from workbench.models.endpoint import EndpointGenerator
    from workbench.questions import Question
    from workbench.settings import Settings

    settings = Settings.from_env().ensure_dirs()
    assert str(settings.storage) == storage
    kb = KnowledgeBase(settings)
    doc = (f"Mooring anchors hold the buoy in place. {poison(beacon, 'doc')}\n"
           "In R the anchor depth is set with x <- c(1, 2) and data.frame(depth = x).")
    rep = kb.create("kb").ingest([(DOC_NAME, doc.encode())])
    assert rep.added and not rep.failed, rep
    question = Question("q1", f"Where are the anchors? {poison(beacon, 'question')}",
                        reference=f"Anchors hold the buoy. {poison(beacon, 'reference')}", source_document=DOC_NAME)
    spec = runs.RunSpec(set_name="poison", setups=("base", "rag"), collection="kb",
                        label=f"label {poison(beacon, 'label')}")
    run_id = runs.create_run(settings, spec, [question])
    runs.execute(settings, run_id, runs.PlainContext(), collection=kb.get("kb"),
                 generator=EndpointGenerator.from_settings(settings, url=endpoint, model="poison"))


# A file name cannot hold '/': its image URLs are relative, so they would hit the app's own server.
DOC_NAME = "![name](beacon-name-md.png) <img src=beacon-name-html.png> anchors.txt"


@pytest.fixture(scope="module")
def attack(tmp_path_factory):
    """(app URL, listener, endpoint URL, beacon base) over the poisoned workspace."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    srv.hits = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    beacon = f"http://127.0.0.1:{srv.server_port}"
    storage = tmp_path_factory.mktemp("attack-storage")
    env = {"WORKBENCH_STORAGE": str(storage), "WORKBENCH_MODELS_DIR": str(SHARED_MODELS)}
    answer = ("Anchors hold it. ", poison(beacon, "answer"), " x <- 1")
    try:
        with fake_endpoint(pieces=answer) as ep:
            endpoint = f"http://127.0.0.1:{ep.server_port}/v1"
            subprocess.run([sys.executable, "-c", "import sys; from tests.test_attacks_browser import build_storage; "
                            "build_storage(*sys.argv[1:])", str(storage), beacon, endpoint],
                           cwd=REPO, env={**os.environ, **env}, check=True, timeout=600)
            with streamlit_app(storage, tmp_path_factory.mktemp("log") / "streamlit.log",
                               WORKBENCH_MODELS_DIR=str(SHARED_MODELS)) as url:
                yield url, srv, endpoint, beacon
    finally:
        srv.shutdown()
        srv.server_close()


class Watch:
    """Every request a page makes, for the assertions below."""

    def __init__(self, page):
        self.urls: list[str] = []
        page.on("request", lambda r: self.urls.append(r.url))

    def offending(self) -> list[str]:
        """Requests that left the machine or named a beacon (data: URLs are inline, not requests)."""
        return [u for u in self.urls if not u.startswith(("data:", "blob:"))
                and (urlparse(u).hostname not in LOOPBACK or "beacon" in u)]


def no_markup_from_content(page) -> None:
    """No element of the page points at a beacon: content became no image, link or source."""
    found = page.locator('[src*="beacon"], [href*="beacon"], [srcset*="beacon"]')
    assert found.count() == 0, found.first.evaluate("e => e.outerHTML")


def open_page(browser, url: str, path: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    watch = Watch(page)
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    wait_until_idle(page)
    return page, watch


def expand_all(page, label: str = "") -> None:
    """Open every closed expander (whose label starts with `label`), so what is inside renders."""
    for details in page.locator('[data-testid="stExpander"] details:not([open])').all():
        summary = details.locator("summary")
        if summary.is_visible() and summary.inner_text().strip().startswith(label):
            summary.click()
    wait_until_idle(page)


def finish(page, watch, srv) -> str:
    """The page's text after the checks: nothing fetched, nothing off the machine, no element from content."""
    text = page.locator('[data-testid="stMainBlockContainer"]').inner_text()
    no_markup_from_content(page)
    exceptions = page.locator('[data-testid="stException"]')
    assert exceptions.count() == 0, exceptions.first.inner_text()
    assert watch.offending() == [] and srv.hits == [], (watch.offending(), srv.hits)
    page.close()
    return text.replace(WORD_JOINER, "")  # invisible: what a reader sees (and the joiner keeps URLs unlinked)


def test_documents_and_file_names_render_as_text(attack, browser):
    url, srv, _, beacon = attack
    page, watch = open_page(browser, url, "documents")
    page.get_by_text("Yes, delete").wait_for(timeout=120_000)
    expand_all(page)
    text = finish(page, watch, srv)
    assert "Yes, delete '![name](beacon-name-md.png) <img src=beacon-name-html.png> anchors.txt'" in text
    page, watch = open_page(browser, url, "chunking")
    text = finish(page, watch, srv)
    assert f"![doc]({beacon}/beacon-doc-md.png)" in text and "x <- c(1, 2)" in text


def test_upload_errors_name_the_file_as_text(attack, browser, tmp_path):
    url, srv, _, _ = attack
    bad = tmp_path / "![up](beacon-upload-md.png) <img src=beacon-upload-html.png>.exe"
    bad.write_bytes(b"MZ")
    page, watch = open_page(browser, url, "collections")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(bad))
    wait_until_idle(page)
    page.get_by_role("button", name="Ingest 1 file(s) into kb").click()
    page.get_by_text("unsupported file type").wait_for(timeout=60_000)
    wait_until_idle(page)
    text = finish(page, watch, srv)
    assert "![up](beacon-upload-md.png) <img src=beacon-upload-html.png>.exe: unsupported" in text


def upload(page, path) -> None:
    """Put `path` into the page's first file uploader (its expander opened first)."""
    expand_all(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(path))
    wait_until_idle(page)


def test_question_set_and_dataset_uploads_name_the_file_as_text(attack, browser, tmp_path):
    """Upload messages of the other parsers: names and rows as text, and a schema's remote $ref never fetched
    (item 2: by the server, item 3: by the browser)."""
    url, srv, _, beacon = attack
    qs = tmp_path / "![qs](beacon-qs-md.png) <img src=beacon-qs-html.png>.jsonl"
    qs.write_text(
        f'{{"question": "Depth? {poison(beacon, "row")}", "reference": "r", '
        '"expected_format": "regex:^(\\\\w+\\\\s?)*$"}\n'
        f'{{"question": "q2", "reference": "r", "expected_format": {{"$ref": "{beacon}/beacon-ref.json"}}}}\n'
        '{"question": "q3", "reference": "r", "source_page": 1e400}\n')
    page, watch = open_page(browser, url, "evaluate")
    upload(page, qs)
    page.get_by_text("1 valid questions, 2 rejected rows").wait_for(timeout=60_000)
    wait_until_idle(page)
    text = finish(page, watch, srv)
    assert "![qs](beacon-qs-md.png) <img src=beacon-qs-html.png>.jsonl: 1 valid questions, 2 rejected rows" in text
    ds = tmp_path / "![ds](beacon-ds-md.png) <img src=beacon-ds-html.png>.jsonl"
    ds.write_bytes(b"\xff\xfe\x00 not text")
    page, watch = open_page(browser, url, "datasets")
    upload(page, ds)
    page.get_by_text("is not UTF-8 text").wait_for(timeout=60_000)
    text = finish(page, watch, srv)
    assert "![ds](beacon-ds-md.png) <img src=beacon-ds-html.png>.jsonl is not UTF-8 text" in text


def test_query_lab_shows_passages_exactly(attack, browser):
    url, srv, _, beacon = attack
    page, watch = open_page(browser, url, "query")
    page.get_by_label("Question").fill("anchors depth data.frame")
    page.get_by_role("button", name="Search").click()
    page.get_by_text("chunk 0").first.wait_for(timeout=120_000)
    wait_until_idle(page)
    expand_all(page)
    text = finish(page, watch, srv)
    # The passage as written: R's `<-` is no arrow, "data.frame" is not split, the markup is characters.
    assert "x <- c(1, 2) and data.frame(depth = x)" in text and "←" not in text
    assert f"<img src={beacon}/beacon-doc-html.png>" in text
    assert "![name](beacon-name-md.png) <img src=beacon-name-html.png> anchors.txt" in text


def test_arena_answers_questions_and_citations_render_as_text(attack, browser):
    url, srv, endpoint, beacon = attack
    page, watch = open_page(browser, url, "compare")
    # Base and RAG only: the adapter columns would wait for the local model.
    for chip in ("Fine-tuned", "Hybrid"):
        page.get_by_role("button", name=re.compile(f"^Remove {chip}")).click()
        wait_until_idle(page)
    page.get_by_text("Generation", exact=True).click()
    page.get_by_text("OpenAI-compatible endpoint").click()
    wait_until_idle(page)
    page.get_by_role("textbox", name="Endpoint URL", exact=True).fill(endpoint)
    model = page.get_by_role("textbox", name="Model", exact=True)
    model.fill("poison")
    model.press("Enter")
    wait_until_idle(page)
    box = page.get_by_placeholder(re.compile("^Ask all columns"))
    box.fill(f"Where are the anchors? {poison(beacon, 'asked')}")
    box.press("Enter")
    page.get_by_text("Retrieved passages").first.wait_for(timeout=180_000)
    wait_until_idle(page)
    expand_all(page, "[")
    text = finish(page, watch, srv)
    assert text.count(f"![answer]({beacon}/beacon-answer-md.png)") == 2, text  # the Base and RAG answers
    assert f"![asked]({beacon}/beacon-asked-md.png)" in text and "x <- 1" in text
    assert "[1] ![name](beacon-name-md.png) <img src=beacon-name-html.png> anchors.txt" in text


def test_report_answers_and_passages_render_as_text(attack, browser):
    url, srv, _, beacon = attack
    page, watch = open_page(browser, url, "report")
    page.get_by_role("tab", name="Answers").click()
    wait_until_idle(page)
    expand_all(page)
    text = finish(page, watch, srv)
    assert f"Reference: Anchors hold the buoy. ![reference]({beacon}/beacon-reference-md.png)" in text
    assert f"<img src={beacon}/beacon-answer-html.png>" in text


@pytest.mark.parametrize("page_file,url_path", declared_pages())
def test_no_page_requests_anything_off_the_machine(attack, browser, page_file, url_path):
    """Fonts, icons and the favicon are served by the app itself (or inline), on every page."""
    url, srv, _, _ = attack
    page, watch = open_page(browser, url, url_path)
    finish(page, watch, srv)
    assert any(urlparse(u).hostname in LOOPBACK for u in watch.urls)  # the watch saw the page's own requests

