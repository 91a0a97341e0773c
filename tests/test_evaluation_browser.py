"""The exported HTML report opens offline in headless Chromium with its charts drawn."""
from __future__ import annotations

import shutil

import pytest

from workbench.evaluation import runs
from workbench.evaluation.report import build_report, to_html
from workbench.evaluation.sample import sample_items
from workbench.evaluation.scoring import score_run

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def test_html_export_draws_its_charts_offline(settings, tmp_path):
    from playwright.sync_api import sync_playwright

    # As in the app: importing Streamlit's chart element makes its placeholder-colour template the default.
    import plotly.io as pio
    import streamlit.elements.plotly_chart  # noqa: F401
    assert pio.templates.default == "streamlit"

    from tests.fakes import FakeEmbedder
    from tests.test_evaluation_runs import FakeGenerator, text_collection

    run_id = runs.create_run(settings, runs.RunSpec(set_name="sample", setups=("base", "rag"), collection="kb"), sample_items()[:6])
    runs.execute(settings, run_id, runs.PlainContext(), generator=FakeGenerator(),
                 collection=text_collection(FakeEmbedder()))
    path = tmp_path / "report.html"
    path.write_text(to_html(build_report(score_run(runs.load_run(settings, run_id)))))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        page = browser.new_page()
        requests = []
        # Any request other than the file itself would mean the report is not self-contained.
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file://") else None)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
        n_plots = page.locator(".js-plotly-plot").count()
        n_bars = page.locator(".js-plotly-plot g.point path").count()
        fills = page.eval_on_selector_all(".js-plotly-plot g.point path", "els => els.map(e => e.style.fill)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert not errors and not requests
    assert n_plots >= 5  # quality, latency, prompt tokens, completion tokens, diagnosis tags
    assert n_bars >= 10
    # Every bar has a colour of its own, none the black of an unresolved template (issue 15).
    black = [f for f in fills if f.replace(" ", "") in {"rgb(0,0,0)", "rgb(0,0,1)", "rgb(0,0,2)", "rgb(0,0,3)",
                                                         "rgb(0,0,4)", "rgb(0,0,5)", "rgb(0,0,6)", "rgb(0,0,7)"}]
    assert fills and not black, black[:5]
    assert len(set(fills)) >= 4
