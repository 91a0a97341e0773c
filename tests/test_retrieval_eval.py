"""Retrieval evaluation and the chunk sweep end to end (fake embedder, real Chroma scratch collections)."""
from __future__ import annotations

import json

import pytest

from tests.fakes import FakeEmbedder
from workbench.questions import Question, sample_question_set
from workbench.retrieval import RetrievalSettings
from workbench.retrieval.evaluate import evaluate
from workbench.retrieval.scratch import SCRATCH_PREFIX, scratch_client
from workbench.retrieval.sweep import EmbeddingMemo, SweepGrid, SweepResult, apply_config, run_sweep
from workbench.retrieval.sweep_choice import report
from tests.test_retrieval_core import DOCS, coll  # noqa: F401  (shared corpus and fixture)
from workbench.types import Document


def test_evaluate_ranks_and_metrics(coll):
    qs = [Question("a", "largest planet jupiter", "jupiter is the largest planet"),
          Question("b", "yellow bananas", "bananas are yellow"),
          Question("c", "zzz", source_document="space.txt")]  # gold = the 3 chunks of space.txt
    ev = evaluate(coll, qs, ["dense", "bm25"], RetrievalSettings(k=2), k=2)
    rows = {(r.qid, r.mode): r for r in ev.rows}
    assert rows[("a", "bm25")].gold_rank == 1 and rows[("b", "dense")].gold_rank == 1
    assert rows[("c", "bm25")].gold_rank is None and rows[("c", "bm25")].n_gold == 3  # no term in common
    bm = next(s for s in ev.summaries if s.mode == "bm25")
    assert bm.hit_at_k == pytest.approx(2 / 3) and bm.mrr == pytest.approx(2 / 3) and bm.n_questions == 3
    assert rows[("a", "bm25")].matched_by.startswith("answer text")
    # Named for what it counts, the gold passage in the top k (the evaluation's "source document retrieved" is
    # another metric), and shown as k/n.
    from workbench.retrieval.figures import metrics_by_mode

    gold = metrics_by_mode(ev.summaries).data[0]
    assert gold.name == "gold passage retrieved@2" and "2/3" in list(gold.text)


def test_evaluate_skips_questions_without_gold_and_cancels(coll):
    ev = evaluate(coll, [Question("x", "q", "not in any chunk")], ["dense"], RetrievalSettings())
    assert not ev.rows and "x:" in ev.skipped[0]
    ev = evaluate(coll, [Question("a", "red", source_document="space.txt")], ["dense", "bm25"], RetrievalSettings(),
                  cancel=lambda: True)
    assert ev.cancelled and not ev.rows


def _docs():
    body = ("The Harbor plan costs 49 dollars a month. " * 3 + "\n\n" +
            "Support answers P1 incidents within 45 minutes. " * 3 + "\n\n" +
            "Employees receive 27 days of paid vacation. " * 3)
    return [Document("d1", "policy.txt", "txt", body)]


def test_sweep_tiny_grid_end_to_end():
    emb = FakeEmbedder(dim=128)
    qs = [Question("1", "how many vacation days", "27 days"), Question("2", "P1 response minutes", "45 minutes"),
          Question("3", "Harbor plan price", "49 dollars")]
    grid = SweepGrid(strategies=("recursive", "sentence"), sizes=(60, 200), overlaps=(0, 0.25, 300), ks=(1, 3))
    seen = []
    res = run_sweep(_docs(), qs, grid, emb, rs=RetrievalSettings(mode="bm25"), progress=lambda f, m: seen.append(f))
    # overlap 300 >= size is invalid for both sizes and both strategies: reported, not run.
    assert len(res.skipped) == 4 and all("overlap" in s.lower() for s in res.skipped)
    assert len(res.rows) == 2 * 2 * 2 * 2 and not res.cancelled
    assert res.scratch_created == res.scratch_dropped == 8
    left = [c if isinstance(c, str) else c.name for c in scratch_client().list_collections()]
    assert not [n for n in left if n.startswith(SCRATCH_PREFIX)]
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert all(0.0 <= r.hit_at_k <= 1.0 for r in res.rows)
    k1 = [r for r in res.rows if r.k == 1]
    k3 = {(r.strategy, r.chunk_size, r.chunk_overlap): r for r in res.rows if r.k == 3}
    assert all(k3[(r.strategy, r.chunk_size, r.chunk_overlap)].hit_at_k >= r.hit_at_k for r in k1)
    # Sentence chunks of different configs repeat exact texts: the memo embeds each text once.
    assert res.texts_reused > 0
    # Per question ranks come back through JSON, and the report picks one of the scored configurations.
    assert SweepResult.from_json(json.loads(json.dumps(res.to_json()))) == res
    assert all(len(c.ranks) == len(c.chars) == 3 for c in res.chunkings)
    rep = report(res)
    assert not rep.split and rep.n_tune == 3 and rep.chosen in rep.rows and rep.current is None
    from workbench.knowledge.config import CollectionConfig

    cfg = apply_config(CollectionConfig(), rep.chosen)
    assert (cfg.strategy, cfg.chunk_size, cfg.chunk_overlap) == (rep.chosen.strategy, rep.chosen.chunk_size,
                                                                 rep.chosen.chunk_overlap)


def test_sweep_cancel_drops_scratch():
    emb = FakeEmbedder(dim=64)
    calls = iter(range(100))
    res = run_sweep(_docs(), [Question("1", "vacation", "27 days")],
                    SweepGrid(sizes=(60, 100, 200), overlaps=(0,), ks=(2,)), emb,
                    cancel=lambda: next(calls) >= 2)
    assert res.cancelled and res.scratch_created == res.scratch_dropped and len(res.rows) < 3


def test_memo_embeds_identical_texts_once():
    emb = FakeEmbedder(dim=16)
    memo = EmbeddingMemo(emb)
    memo(["a b", "c d", "a b"])
    memo(["c d", "e f"])
    assert emb.texts_embedded == 3 and memo.embedded == 3 and memo.reused == 2


def test_sample_question_set_loads():
    qs = sample_question_set()
    answerable = [q for q in qs.questions if not q.unanswerable]
    assert len(answerable) >= 40 and not qs.errors and len(qs.questions) - len(answerable) == 8
    assert all(q.source_document for q in answerable)


def test_sweep_heatmap_cells_match_rows():
    from workbench.retrieval.figures import sweep_heatmap
    from workbench.retrieval.sweep_choice import ConfigScore

    rows = [ConfigScore("recursive", s, int(s * f), "chars", 4, 10, 4 * s, 1.0, False, m, m, 0.4, 0.5,
                        0.0, 0.0, 0.0, m > 0.3)
            for s, f, m in ((200, 0, 0.1), (200, 0.15, 0.2), (400, 0, 0.3), (400, 0.15, 0.4))]
    fig = sweep_heatmap(rows, "held_budget", 4)
    hm = fig.data[0]
    assert list(hm.x) == ["200", "400"] and list(hm.y) == ["0%", "15%"]
    assert [list(r) for r in hm.z] == [[0.1, 0.3], [0.2, 0.4]]
    assert [list(r) for r in hm.text] == [["0.10", "0.30"], ["0.20", "0.40 ="]]  # '=': tied with the best
