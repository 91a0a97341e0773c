"""The System > Jobs page through AppTest: every job of every kind, why it waits, cancel and delete."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.fakes import DEMO_HANDLER, wait_for
from tests.pages import declared_pages, rendered_text
from workbench import jobs

PAGE = Path(__file__).parents[1] / "pages" / "system_jobs.py"
pytestmark = pytest.mark.usefixtures("fresh_ui_caches", "stop_jobs")


def shown(at: AppTest) -> str:
    return " | ".join(rendered_text(str(e.value)) for kind in ("markdown", "caption", "error", "info")
                      for e in getattr(at, kind))


def test_the_page_is_in_the_navigation_and_renders_on_empty_storage(settings):
    assert ("pages/system_jobs.py", "all-jobs") in declared_pages()
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "No background jobs yet" in shown(at)


def test_every_job_is_listed_with_lane_progress_reason_and_buttons(settings):
    evil = "![x](http://127.0.0.1:9/beacon) **long**"
    long = jobs.submit(settings, "demo", {"n": 300, "sleep_s": 0.1}, handler=DEMO_HANDLER, name=evil)
    waiting = jobs.submit(settings, "sweep", {"n": 1}, handler=DEMO_HANDLER, name="short sweep")
    training = jobs.submit(settings, "finetune", {"n": 300, "sleep_s": 0.1}, handler=DEMO_HANDLER,
                           name="lora", lane="training")
    broken = jobs.submit(settings, "eval", {"n": 3, "sleep_s": 0.01, "fail_at": 1}, handler=DEMO_HANDLER,
                         name="bad eval", lane="evals")
    wait_for(lambda: jobs.get(settings, long.job_id).step >= 1 and jobs.get(settings, training.job_id).step >= 1
             and jobs.get(settings, broken.job_id).is_final)

    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    text = shown(at)
    assert evil in text  # as written: escaped, never an image or bold
    assert all(e.value.count("![x](http") == 0 for e in at.markdown if "beacon" in e.value)
    for kind, lane in (("demo", "default"), ("sweep", "default"), ("finetune", "training"), ("eval", "evals")):
        assert f"{kind} · {lane} lane" in text
    assert f"Waiting: waiting for '{evil}' (default lane) to finish" in text
    assert "Failed: RuntimeError: asked to fail at step 1" in text
    bars = [p.text for p in at.get("progress")]
    assert len(bars) == 2 and all(b.startswith("step ") and " / 300 · elapsed " in b for b in bars), bars

    buttons = {b.key: b for b in at.button}
    assert f"jobs-cancel-{waiting.job_id}" in buttons and f"jobs-delete-{broken.job_id}" in buttons
    assert f"jobs-delete-{long.job_id}" not in buttons  # unfinished jobs can only be cancelled
    buttons[f"jobs-cancel-{waiting.job_id}"].click()
    at.run()
    assert jobs.get(settings, waiting.job_id).state == jobs.CANCELLED
    {b.key: b for b in at.button}[f"jobs-delete-{broken.job_id}"].click()
    at.run()
    assert not at.exception
    assert broken.job_id not in {j.job_id for j in jobs.list_jobs(settings)}
    assert "bad eval" not in shown(at)
