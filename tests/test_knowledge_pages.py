"""AppTest flows for the knowledge pages: empty storage, upload -> preview -> index -> counts, browse, delete."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.fakes import FAKE_MODEL, route_jobs_through_fakes
from tests.pages import rendered_text
from tests.test_knowledge_parsing import make_pdf

PAGES = Path(__file__).parents[1] / "pages"
MD = ("# Buoy\n\n" + "The T3 buoy measures dissolved oxygen and water temperature in harbours. " * 6
      + "\n\n## Battery\n\n" + "The battery pack lasts fourteen months between replacements at sea. " * 6).encode()


@pytest.fixture(autouse=True)
def fresh_caches():
    # st.cache_resource is process-wide: without this, get_settings() would keep an earlier test's storage.
    st.cache_resource.clear()
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def fake_model(monkeypatch, fake_embedding_model):
    """New collections use the fake embedder (fast), in the jobs the pages start too; the real path has its own tests."""
    monkeypatch.setenv("WORKBENCH_EMBEDDING_MODEL", FAKE_MODEL)
    route_jobs_through_fakes(monkeypatch)


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=90)


def ok(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def ok_until(at: AppTest, done, timeout: float = 90.0) -> AppTest:
    """Re-run the page until `done(at)`: a background job ends between runs."""
    end = time.time() + timeout
    while not done(ok(at)):
        assert time.time() < end, "timed out waiting for the page"
        time.sleep(0.3)
    return at


def create_collection(name: str) -> AppTest:
    """The Collections page after creating collection `name` through its form."""
    at = ok(page("knowledge_collections"))
    next(t for t in at.text_input if t.label == "Name").set_value(name)
    next(b for b in at.button if b.label == "Create collection").click()
    return ok(at)


@pytest.mark.parametrize("name", ["knowledge_collections", "knowledge_chunking", "knowledge_documents"])
def test_pages_render_on_empty_storage(name):
    at = ok(page(name))
    assert at.title and any("No collections yet" in i.value for i in at.info)


def test_upload_preview_index_counts_and_delete(fake_model):
    at = create_collection("Product docs")
    assert any("Created collection 'Product docs'" in s.value for s in at.success)

    at.file_uploader[0].set_value([("buoy.md", MD, "text/markdown"),
                                   ("manual.pdf", make_pdf(["Mooring lines and anchors. " * 20,
                                                            "Cleaning the sensor cage. " * 20]), "application/pdf"),
                                   ("empty.txt", b"", "text/plain"), ("virus.exe", b"MZ", "application/x-msdownload")])
    ok(at)
    next(b for b in at.button if b.label.startswith("Ingest 4 file(s)")).click()  # > 3 files: a background job
    ok_until(at, lambda a: any("2 added" in w.value for w in a.warning))
    assert any("2 added" in w.value and "2 failed" in w.value for w in at.warning)
    errors = " ".join(rendered_text(e.value) for e in at.error)
    assert "empty.txt" in errors and "is empty" in errors and "virus.exe" in errors and "unsupported" in errors
    listing = at.dataframe[0].value
    row = listing[listing["collection"] == "Product docs"].iloc[0]
    assert row["documents"] == 2 and row["chunks"] >= 3

    # Preview: the collection's document with chunk colours, histogram, metrics; a setting change re-chunks.
    at = ok(page("knowledge_chunking"))
    assert at.get("plotly_chart") and "wb-chunks" in at.get("html")[0].proto.body
    chunks_before = next(m for m in at.metric if m.label == "Chunks").value
    next(n for n in at.number_input if n.label == "Chunk size").set_value(200)
    ok(at)
    assert int(next(m for m in at.metric if m.label == "Chunks").value) > int(chunks_before)
    next(b for b in at.button if b.label == "Save settings to collection").click()
    ok(at)
    assert any("differ from those its index was built with" in w.value for w in at.warning)
    next(b for b in at.button if b.label == "Re-index now").click()
    ok_until(at, lambda a: any("Re-indexed 2 documents" in s.value for s in a.success))
    assert not any("differ from those its index" in w.value for w in at.warning)

    # Documents: pages and chunks of the PDF, then delete it.
    at = ok(page("knowledge_documents"))
    assert list(at.dataframe[0].value["document"]) == ["buoy.md", "manual.pdf"]
    at.selectbox(key="kn_docs_doc").select_index(1)
    ok(at)
    chunks = at.dataframe[1].value
    assert {"page 1", "page 2"} <= set(chunks["pages"]) <= {"page 1", "pages 1-2", "page 2"}
    assert (chunks["end"] > chunks["start"]).all()
    at.selectbox(key=f"kn_docs_page_{at.selectbox(key='kn_docs_doc').value}").set_value(2)
    ok(at)
    assert "page 2" in set(at.dataframe[1].value["pages"]) <= {"pages 1-2", "page 2"}
    next(c for c in at.checkbox if rendered_text(c.label).startswith("Yes, delete 'manual.pdf'")).check()
    ok(at)
    next(b for b in at.button if b.label == "Delete document").click()
    ok(at)
    assert list(at.dataframe[0].value["document"]) == ["buoy.md"]


def test_preview_of_an_uploaded_file_reports_bad_input(fake_model):
    create_collection("empty-one")
    at = ok(page("knowledge_chunking"))
    at.file_uploader[0].set_value(("locked.docx", b"not a zip", "application/octet-stream"))
    ok(at)
    errors = [rendered_text(e.value) for e in at.error]
    assert any("locked.docx" in e and "not a valid DOCX" in e for e in errors)
    at.file_uploader[0].set_value(("notes.md", MD, "text/markdown"))
    ok(at)
    assert at.get("plotly_chart") and next(m for m in at.metric if m.label == "Chunks").value != "0"


@pytest.mark.slow
def test_sample_button_real_model_and_preview():
    at = ok(page("knowledge_collections"))
    next(b for b in at.button if b.label == "Load sample knowledge base").click()
    ok_until(at, lambda a: any("collection 'sample-kb'" in rendered_text(s.value) for s in a.success), timeout=240)
    at = ok(page("knowledge_chunking"))
    next(s for s in at.selectbox if s.label == "Chunking strategy").set_value("semantic")
    ok(at)
    assert at.get("plotly_chart") and int(next(m for m in at.metric if m.label == "Chunks").value) >= 1


def test_semantic_preview_asks_before_embedding_many_sentences(fake_model):
    create_collection("long")
    at = ok(page("knowledge_chunking"))
    long_text = " ".join(f"Sentence number {i} is about topic {i % 7}." for i in range(600)).encode()
    at.file_uploader[0].set_value(("long.txt", long_text, "text/plain"))
    ok(at)
    next(s for s in at.selectbox if s.label == "Chunking strategy").set_value("semantic")
    ok(at)
    assert not at.get("plotly_chart") and any("600 sentences" in i.value for i in at.info)
    assert any("sentences/s, measured" in i.value for i in at.info)  # an estimate before the work
    next(b for b in at.button if b.label.startswith("Embed 600 sentences")).click()
    ok(at)
    assert at.get("plotly_chart") and int(next(m for m in at.metric if m.label == "Chunks").value) > 1


def test_rename_and_delete_from_the_ui(fake_model):
    at = ok(page("knowledge_collections"))
    next(t for t in at.text_input if t.label == "Name").set_value("first")
    next(b for b in at.button if b.label == "Create collection").click()
    ok(at)
    next(t for t in at.text_input if t.label == "Name").set_value("bad/name")
    next(b for b in at.button if b.label == "Create collection").click()
    ok(at)
    assert any("not a valid collection name" in e.value for e in at.error)
    next(t for t in at.text_input if t.label == "New name").set_value("second")
    next(b for b in at.button if b.label == "Rename").click()
    ok(at)
    assert list(at.dataframe[0].value["collection"]) == ["second"]
    next(c for c in at.checkbox if c.label.startswith("Yes, delete 'second'")).check()
    ok(at)
    next(b for b in at.button if b.label == "Delete collection").click()
    ok(at)
    assert any("Deleted collection 'second'" in s.value for s in at.success) and not at.dataframe
