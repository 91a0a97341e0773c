"""Checks on the sample workspace (workbench/sample/data): counts, formats, and that facts are where they claim to be."""
from __future__ import annotations

import html
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from pypdf import PdfReader

ROOT = Path(__file__).parents[1]
DATA = ROOT / "workbench" / "sample" / "data"
KB = DATA / "kb"
CONTEXT_PREFIX = "Answer the question using only the context below."


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def _html_text(raw: str) -> str:
    raw = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", raw)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", raw))


@cache
def _pdf_pages(name: str) -> tuple[str, ...]:
    return tuple(page.extract_text() or "" for page in PdfReader(KB / name).pages)


def _doc_text(name: str, page: int | None = None) -> str:
    path = KB / name
    if path.suffix == ".pdf":
        pages = _pdf_pages(name)
        return pages[page - 1] if page else "\n".join(pages)
    raw = path.read_text(encoding="utf-8")
    return _html_text(raw) if path.suffix == ".html" else raw


def _jsonl(name: str) -> list[dict]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_knowledge_base_has_every_format():
    docs = [p for p in KB.iterdir() if p.is_file() and not p.name.startswith(".")]
    kinds = Counter(p.suffix for p in docs)
    assert len(docs) >= 6
    assert kinds[".pdf"] >= 2 and kinds[".md"] >= 2 and kinds[".txt"] >= 2 and kinds[".html"] >= 1
    for p in docs:
        if p.suffix == ".pdf":
            assert len(_pdf_pages(p.name)) >= 3, p.name
        assert 1500 <= len(_doc_text(p.name)) <= 8000, p.name


def test_html_extraction_drops_script_style_and_images():
    raw = (KB / "company_overview.html").read_text(encoding="utf-8")
    assert "<script" in raw and "<style" in raw and 'src="https://' in raw
    text = _html_text(raw)
    assert "lkAnalytics" not in text and "font-family" not in text and "https://" not in text
    assert "Wharfside Row" in text


def test_behaviour_rows_follow_the_answer_format():
    import jsonschema

    from workbench.evaluation.sample import SAMPLE_SCHEMA

    rows = _jsonl("behaviour.jsonl")
    assert len(rows) >= 150
    with_context = 0
    for row in rows:
        assert set(row) == {"prompt", "completion"}
        assert "\n" not in row["completion"]
        out = json.loads(row["completion"])
        assert list(out) == ["source", "answer", "confidence"]  # the house format cites first
        jsonschema.validate(out, SAMPLE_SCHEMA)  # what the evaluation checks is what the data teaches
        assert out["confidence"] in {"high", "medium", "low"}
        assert 0 < len(out["answer"].split()) <= 15
        has_context = row["prompt"].startswith(CONTEXT_PREFIX)
        with_context += has_context
        if out["answer"] == "unknown":
            assert (out["confidence"], out["source"]) == ("low", "NONE")
        elif has_context:
            # copied from a passage of the context, and the source is that passage's document code
            assert out["confidence"] == "high"
            assert out["answer"] in row["prompt"]
            names = re.findall(r"\] \(([^,)]+)(?:, page \d+)?\) ", row["prompt"])
            codes = {Path(n).stem.upper().replace("_", "-") for n in names}
            assert out["source"] in codes
        else:
            assert (out["confidence"], out["source"]) == ("medium", "NONE")
    assert 0.35 <= with_context / len(rows) <= 0.75


def test_behaviour_prompts_use_the_shared_template():
    from workbench.answering.prompts import RAG_TEMPLATE

    head = RAG_TEMPLATE.split("{context}")[0]
    rows = [r for r in _jsonl("behaviour.jsonl") if r["prompt"].startswith(CONTEXT_PREFIX)]
    assert rows and all(r["prompt"].startswith(head) and "\n\nQuestion: " in r["prompt"] for r in rows)


def test_behaviour_does_not_leak_knowledge_base_facts():
    text = (DATA / "behaviour.jsonl").read_text(encoding="utf-8").lower()
    for word in ("lumenkeel", "keelhouse", "tidelog", "keelcare"):
        assert word not in text


def test_eval_rows_are_well_formed():
    rows = _jsonl("eval.jsonl")
    assert len(rows) >= 30
    keys = {"id", "question", "reference", "source_document", "source_page", "unanswerable", "expected_format"}
    assert all(set(r) == keys for r in rows)
    assert len({r["id"] for r in rows}) == len(rows)
    unanswerable = [r for r in rows if r["unanswerable"]]
    assert len(unanswerable) >= 5
    for r in unanswerable:
        assert r["source_document"] is None and r["source_page"] is None and r["reference"] == "unknown"
    used = {r["source_document"] for r in rows if not r["unanswerable"]}
    assert used == {p.name for p in KB.iterdir() if p.is_file() and not p.name.startswith(".")}


@pytest.mark.parametrize("row", [r for r in _jsonl("eval.jsonl") if not r["unanswerable"]], ids=lambda r: r["id"])
def test_eval_reference_is_in_its_source(row):
    name, page = row["source_document"], row["source_page"]
    assert (KB / name).is_file()
    if name.endswith(".pdf"):
        assert isinstance(page, int) and 1 <= page <= len(_pdf_pages(name))
    else:
        assert page is None
    assert _norm(row["reference"]) in _norm(_doc_text(name, page))


def test_freshness_scenario_points_at_a_real_fact():
    fresh = json.loads((DATA / "freshness.json").read_text(encoding="utf-8"))
    doc = DATA / fresh["document"]
    assert doc.suffix in {".md", ".txt", ".html"}
    text = doc.read_text(encoding="utf-8")
    assert text.count(fresh["old"]) == 1 and fresh["new"] not in text
    evals = {r["id"]: r for r in _jsonl("eval.jsonl")}
    assert fresh["question_ids"]
    for qid in fresh["question_ids"]:
        assert evals[qid]["source_document"] == doc.name
        assert evals[qid]["reference"] == fresh["old_reference"]
    assert fresh["old_reference"] in fresh["old"] and fresh["new_reference"] in fresh["new"]
