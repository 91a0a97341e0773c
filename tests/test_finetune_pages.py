"""The fine-tuning pages through AppTest: empty storage, and upload -> validate -> launch -> progress -> adapter."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.pages import rendered_text
from workbench import jobs

PAGES = Path(__file__).parents[1] / "pages"


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=90)


@pytest.fixture(autouse=True)
def fresh_pages(stop_jobs):
    import streamlit as st

    # get_settings() is cached per process: without this, a page would keep the previous test's storage.
    st.cache_resource.clear()
    st.cache_data.clear()


def texts(at: AppTest, kind: str) -> str:
    return " | ".join(rendered_text(str(e.value)) for e in getattr(at, kind))


@pytest.mark.parametrize("name,expect", [
    ("finetune_datasets", "No datasets yet"), ("finetune_jobs", "No training jobs yet"),
    ("finetune_adapters", "No adapters yet"),
])
def test_pages_render_on_empty_storage(settings, name, expect):
    at = page(name).run()
    assert not at.exception, [e.value for e in at.exception]
    assert expect in texts(at, "info")


def test_bad_upload_shows_a_clear_message_and_saves_nothing(settings):
    at = page("finetune_datasets").run()
    at.file_uploader[0].upload("broken.json", b"[{").run()
    assert not at.exception
    assert "not valid JSON" in texts(at, "error")
    at.file_uploader[0].set_value(("empty.jsonl", b"\n\n", "application/json")).run()
    assert "no rows" in texts(at, "error")
    assert "No datasets yet" in texts(at, "info")


@pytest.mark.slow
def test_upload_validate_launch_progress_and_adapter(settings):
    rows = [json.dumps({"prompt": f"Spell {w}", "completion": "-".join(w)}) for w in
            ("cat", "dog", "owl", "bee", "elk", "ant", "cod", "yak")]
    data = "\n".join(rows[:4] + ['{"prompt": "no completion"}', "{oops"] + rows[4:]).encode()
    at = page("finetune_datasets").run()
    at.file_uploader[0].upload("spell.jsonl", data).run()
    assert not at.exception, [e.value for e in at.exception]
    assert "8 usable" in texts(at, "warning") and "2 rejected" in texts(at, "warning")
    errors = at.dataframe[0].value
    assert list(errors["row"]) == [5, 6] and "completion" in errors["reason"][0]
    at.text_input[0].set_value("spell")
    next(b for b in at.button if b.label == "Save dataset").click().run()
    assert "Saved 8 examples as 'spell'" in texts(at, "success")
    assert "Examples as the model sees them" in texts(at, "markdown")
    assert at.get("plotly_chart"), "token length histogram missing"

    jp = page("finetune_jobs").run()
    assert not jp.exception, [e.value for e in jp.exception]
    k = "ft_Quick CPU demo_"
    jp.number_input(key=k + "steps").set_value(2)
    jp.number_input(key=k + "batch").set_value(2)
    jp.number_input(key=k + "len").set_value(64)
    jp.number_input(key=k + "vali").set_value(1)
    jp.text_input[0].set_value("spell-lora")
    next(b for b in jp.button if b.label == "Launch fine-tune").click().run()
    assert not jp.exception, [e.value for e in jp.exception]
    assert "Queued 'spell-lora'" in texts(jp, "success")
    (job,) = jobs.list_jobs(settings)
    end = time.time() + 240
    while jobs.get(settings, job.job_id).step < 1 and time.time() < end:
        time.sleep(0.5)
    jp.run()
    bars = [p.proto.text for p in jp.get("progress")]
    assert any("step 1 / 2" in b or "step 2 / 2" in b for b in bars), bars
    assert any(c.proto for c in jp.get("plotly_chart")), "no live curves"
    while not jobs.get(settings, job.job_id).is_final and time.time() < end:
        time.sleep(0.5)
    jp.run()
    assert jobs.get(settings, job.job_id).state == jobs.SUCCEEDED
    assert "succeeded" in texts(jp, "markdown")

    ap = page("finetune_adapters").run()
    assert not ap.exception
    assert list(ap.dataframe[0].value["name"]) == ["spell-lora"]
    assert ap.get("download_button")
    ap.text_input[0].set_value("spelling")
    next(b for b in ap.button if b.label == "Rename").click().run()
    assert "Renamed 'spell-lora' to 'spelling'" in texts(ap, "success")
