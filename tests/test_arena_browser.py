"""The Arena in headless Chromium on the sample workspace: warm first answer, two questions, citations, Stop.

Run it alone (it drives the real bundled model): `pytest tests/test_arena_browser.py`.
"""
from __future__ import annotations

import os
import re
import time

import pytest

from tests.conftest import SHARED_MODELS
from tests.servers import streamlit_app
from tests.test_browser import SHOTS, browser, wait_until_idle  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# Two questions answered from different documents (company page, support policy); the measured demo questions
# are in workbench/sample/data/arena_questions.json.
# The first two measured demo questions (sample/data/arena_questions.json): RAG states and cites both facts.
FOUNDED = "In what year was Lumenkeel Systems founded?"
BONUS = "How much is the Lumenkeel employee referral bonus?"
# Seconds from pressing Enter to the first column's finished answer once the models are warm (base model, 96
# new tokens): 2.9, 2.9, 3.3, 3.8, 4.3 and 6.5 s over six runs on the shared 2-core dev machine (load average
# 7-9); about 2x the median, with room for a slower CI box.
FIRST_ANSWER_BOUND_S = 8.0
STOP_BOUND_S = 5.0  # from the click on Stop to every column marked stopped: 2.2 s measured


@pytest.fixture(scope="module")
def arena_url(tmp_path_factory):
    """The app on a workspace holding the sample collection and prompt recipe (no adapter)."""
    from workbench.answering.sample import load as load_recipe
    from workbench.knowledge.sample import load as load_kb
    from workbench.settings import Settings

    storage = tmp_path_factory.mktemp("arena-storage")
    env = {"WORKBENCH_STORAGE": str(storage), "WORKBENCH_MODELS_DIR": str(SHARED_MODELS)}
    settings = Settings.from_env({**os.environ, **env}).ensure_dirs()
    load_kb(settings)
    load_recipe(settings)
    with streamlit_app(storage, tmp_path_factory.mktemp("log") / "streamlit.log",
                       WORKBENCH_MODELS_DIR=str(SHARED_MODELS)) as url:
        yield url


def column(page, label: str):
    """The answer column under the subheader `label`."""
    heading = page.get_by_role("heading", name=label, exact=True)
    return page.locator('[data-testid="stColumn"]').filter(has=heading).last


def ask(page, question: str) -> float:
    """Type `question` into the chat box and send it; returns the time it was sent."""
    box = page.locator('[data-testid="stChatInputTextArea"]')
    box.fill(question)
    sent = time.perf_counter()
    box.press("Enter")
    return sent


def answer_text(col) -> str:
    """A column's answer, without its header and stats line."""
    return col.inner_text().split("\n", 1)[-1].split("latency ")[0].strip()


def passages(page, turn: int) -> str:
    """The text of turn `turn`'s passage list (the container holding its first anchor)."""
    return page.locator(f'[data-testid="stVerticalBlock"]:has(#arena-t{turn}-p1)').last.inner_text()


def wait_for_turns(page, n: int, timeout_s: float = 240) -> None:
    """Until the page shows `n` recorded turns (each has its passages list) and is idle."""
    page.locator('[data-testid="stChatMessage"]').nth(n - 1).wait_for(timeout=timeout_s * 1000)
    page.get_by_text("the [n] in an answer links here").nth(n - 1).wait_for(timeout=timeout_s * 1000)
    wait_until_idle(page, timeout_s)


SIDEWAYS = """() => {
  const out = [];
  const doc = document.scrollingElement;
  if (doc.scrollWidth > doc.clientWidth + 1) out.push(`document ${doc.scrollWidth} > ${doc.clientWidth}`);
  for (const e of document.querySelectorAll('[data-testid="stMainBlockContainer"] *, [data-testid="stMainBlockContainer"]')) {
    const o = getComputedStyle(e).overflowX;
    if ((o === "auto" || o === "scroll") && e.scrollWidth > e.clientWidth + 1)
      out.push(`${e.getAttribute("data-testid") || e.tagName} ${e.scrollWidth} > ${e.clientWidth}`);
  }
  return out;
}"""


def shoot(page, name: str) -> None:
    """The whole page at 1400 px: Streamlit scrolls inside its own container, so the viewport grows to fit it."""
    height = page.evaluate("""() => document.querySelector('[data-testid="stMainBlockContainer"]').scrollHeight""")
    page.set_viewport_size({"width": 1400, "height": min(12000, height + 200)})
    page.screenshot(path=str(SHOTS / name))
    page.set_viewport_size({"width": 1400, "height": 1000})


def no_sideways_scroll(page) -> None:
    wide = page.evaluate(SIDEWAYS)
    assert not wide, f"sideways scrolling at 1400 px: {wide}"


def test_two_questions_citations_and_stop(arena_url, browser):  # noqa: F811
    SHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{arena_url}/compare", wait_until="domcontentloaded")
        wait_until_idle(page)
        deadline = time.time() + 300
        while "Models loaded and warm" not in page.content():  # the warm-up started with this first view
            assert "Loading the models at start failed" not in page.content()
            assert time.time() < deadline, "the models did not finish loading in the background"
            time.sleep(3)
            page.reload(wait_until="domcontentloaded")
            wait_until_idle(page)
        assert page.get_by_role("switch", name="Conversation mode").is_checked() is False
        page.get_by_role("button", name="New conversation").wait_for()
        no_sideways_scroll(page)

        # First question, warm: time to the first column's finished answer (its stats line).
        sent = ask(page, FOUNDED)
        column(page, "Base model").locator('[data-testid="stText"]').first.wait_for(timeout=120_000)
        first_text_s = time.perf_counter() - sent
        column(page, "Base model").get_by_text(re.compile(r"^latency \d")).wait_for(timeout=120_000)
        first_answer_s = time.perf_counter() - sent
        print(f"\nafter warm-up: first words on screen {first_text_s:.2f} s, first answer complete {first_answer_s:.2f} s")
        wait_for_turns(page, 1)
        rag1 = answer_text(column(page, "RAG"))
        assert "company_overview.html" in passages(page, 0)

        # Second question in the default mode: RAG answers it, not a copy of its first answer. (Whether the
        # 135M model states the fact moves with retrieval settings; the measured demo file records that.)
        ask(page, BONUS)
        wait_for_turns(page, 2)
        rag2 = answer_text(column(page, "RAG"))
        assert rag2 and rag2[:40] != rag1[:40] and rag1 not in rag2, (rag1, rag2)
        assert "employee_handbook.md" in passages(page, 1)
        shoot(page, "arena-two-questions.png")
        no_sideways_scroll(page)
        assert page.locator('[data-testid="stException"]').count() == 0

        # Citations: the RAG answer's [n] is a link to a passage of the same turn, which the click scrolls to.
        link = page.locator('[data-testid="stColumn"] a[href^="#arena-t"]').last
        target = link.get_attribute("href")
        assert re.fullmatch(r"#arena-t\d-p\d", target), target
        link.click()
        passage = page.locator(target)
        passage.wait_for(state="attached")
        in_view = f"""() => {{ const r = document.querySelector("{target}").getBoundingClientRect();
                              return r.top > -2 && r.top < innerHeight; }}"""
        for attempt in range(3):  # a rerun that redraws the page while it scrolls (a loaded CI box) moves it
            try:
                page.wait_for_function(in_view, timeout=5_000)  # the scroll may be smooth
                break
            except Exception:
                if attempt == 2:
                    rect = passage.evaluate("e => [e.getBoundingClientRect().top, innerHeight, location.hash]")
                    pytest.fail(f"clicking {target} did not bring its passage into view: {rect}")
                wait_until_idle(page)
                link.click()
        assert link.get_attribute("target") in (None, "_self"), "a citation must stay on the page"

        # Stop while the first column is writing: every column stops within seconds, the text so far kept.
        # A long answer (1,024 new tokens), so Stop lands mid-answer: 96 tokens take ~1 s on llama.cpp.
        page.get_by_text("Generation", exact=True).click()
        box = page.get_by_label("Max new tokens")
        box.fill("1024")
        box.press("Enter")
        wait_until_idle(page)
        ask(page, "Write a long story about the sea, the buoys and the people who maintain them.")
        page.locator('[data-testid="stChatMessage"]').nth(2).wait_for(timeout=30_000)
        stop = page.get_by_role("button", name="Stop", exact=True)
        stop.wait_for(timeout=60_000)
        page.get_by_text("Generating...").first.wait_for(timeout=60_000)
        time.sleep(1.0)  # mid-answer: the base column writes ~80 tokens a second
        clicked = time.perf_counter()
        stop.click()
        try:
            page.get_by_text("Stopped before this column started.").first.wait_for(timeout=30_000)
        finally:
            page.screenshot(path=str(SHOTS / "arena-after-stop-click.png"))
        stop_s = time.perf_counter() - clicked
        print(f"stop took effect after {stop_s:.2f} s")
        wait_until_idle(page)
        base = column(page, "Base model").inner_text()
        assert "Stopped: the answer was cut short here." in base and len(base) > 60, base
        assert page.get_by_text("Stopped before this column started.").count() >= 2  # prompted, RAG, ...
        shoot(page, "arena-stopped.png")
        assert first_answer_s < FIRST_ANSWER_BOUND_S, f"first answer took {first_answer_s:.1f} s"
        assert stop_s < STOP_BOUND_S, f"Stop took {stop_s:.1f} s"
    finally:
        page.close()


def test_home_demo_script_fits_and_links_to_the_arena(arena_url, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(arena_url, wait_until="domcontentloaded")
        wait_until_idle(page)
        page.get_by_text("Presenting? A 5-minute demo").wait_for()
        no_sideways_scroll(page)
        shoot(page, "home-demo.png")
        page.get_by_role("link", name="Arena").last.click()
        page.get_by_role("heading", name="Arena", exact=True).wait_for(timeout=30_000)
    finally:
        page.close()
