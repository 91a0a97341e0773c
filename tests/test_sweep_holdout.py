"""Choosing from a chunk sweep: the held-out split, ties and the simpler setting, the context budget, the
comparison with the current setting, and saved results (synthetic ranks; no models)."""
from __future__ import annotations

import json

import pytest

from workbench.retrieval.devsets import held_out
from workbench.retrieval.sweep import NO_GOLD, ChunkingRun, SweepFormatError, SweepResult
from workbench.retrieval.sweep_choice import MIN_QUESTIONS, report

QIDS = tuple(f"q{i}" for i in range(120))
HELD = [held_out(q) for q in QIDS]


def run(size: int, ranks, chars=None, overlap: int = 0, n_chunks: int | None = None, current: bool = False):
    """A chunking whose chunks are `size` characters: the gold at rank r costs r * size characters."""
    chars = chars if chars is not None else [r * size if r > 0 else 0 for r in ranks]
    return ChunkingRun("recursive", size, overlap, "chars", n_chunks or 40_000 // size, float(size), 1.0,
                       tuple(ranks), tuple(chars), current)


def result(*runs, ks=(4,), qids=QIDS, current_k=None) -> SweepResult:
    return SweepResult(tuple(runs), tuple(qids), tuple(ks), "hybrid", current_k)


def row(rep, size: int, k: int, overlap: int = 0):
    return next(r for r in rep.rows if (r.chunk_size, r.k, r.chunk_overlap) == (size, k, overlap))


def test_choice_is_made_on_the_tune_half_and_reported_on_the_held_out_half():
    # 400 finds every tune question and no held-out one; 800 the reverse: a choice that peeked would take 800.
    r400 = run(400, [0 if h else 1 for h in HELD])
    r800 = run(800, [1 if h else 0 for h in HELD])
    rep = report(result(r400, r800))
    assert rep.split and rep.n_tune == HELD.count(False) and rep.n_held == HELD.count(True)
    assert rep.n_tune + rep.n_held == 120 and min(rep.n_tune, rep.n_held) > 40  # about half and half
    assert (rep.chosen.chunk_size, rep.chosen.tune_budget, rep.chosen.held_budget) == (400, 1.0, 0.0)
    assert row(rep, 800, 4).held_budget == 1.0 and not row(rep, 800, 4).tie  # held-out scores of every row
    assert f"{rep.n_tune} to choose on (tune), {rep.n_held} held out" in rep.split_text
    # The split is the fixed one: the same ids give the same halves, whatever else is in the set.
    again = report(result(run(400, [1] * 60), qids=QIDS[:60]))
    assert again.n_tune == HELD[:60].count(False)


def test_too_few_questions_to_hold_out_use_all_with_a_caption():
    n = MIN_QUESTIONS - 1
    rep = report(result(run(400, [1] * n), qids=QIDS[:n]))
    assert not rep.split and rep.n_tune == n and rep.n_held == 0
    assert rep.chosen.held_budget == rep.chosen.tune_budget == 1.0
    assert "Too few questions to hold any out" in rep.split_text and f"same {n} questions" in rep.split_text


TUNE = [i for i, h in enumerate(HELD) if not h]


def test_a_difference_inside_the_noise_is_a_tie_and_the_simpler_setting_wins():
    # On ~60 tune questions 400 (more chunks in the index) wins 3 that 800 misses and loses 2 that 800 finds.
    r400 = run(400, [0 if i in TUNE[:2] else 1 for i in range(120)])
    r800 = run(800, [0 if i in TUNE[2:5] else 1 for i in range(120)])
    rep = report(result(r400, r800))
    best, other = row(rep, 400, 4), row(rep, 800, 4)
    assert rep.best == best and other.diff < 0 and other.low < 0 < other.high and other.tie
    assert rep.chosen == other  # tied, and fewer chunks in the index


@pytest.mark.parametrize("lost", [1, 2])
def test_a_loss_with_no_gain_is_not_a_tie(lost):
    # 800 loses tune questions and finds none that 400 misses: all the evidence points one way (with one question,
    # the bootstrap interval ends exactly at 0; see sweep_choice.tied).
    rep = report(result(run(400, [1] * 120), run(800, [0 if i in TUNE[:lost] else 1 for i in range(120)])))
    assert not row(rep, 800, 4).tie and row(rep, 800, 4).high <= 0 and rep.chosen == row(rep, 400, 4)


def test_ties_are_one_standard_error_wide_not_95_percent():
    # 4 lost and 1 gained of ~60: a 95 % interval reaches past 0, the 68 % one (about one standard error) does
    # not; the sweep does not give up that much measured quality for a simpler setting (sweep_choice.TIE_LEVEL).
    rep = report(result(run(400, [0 if i == TUNE[0] else 1 for i in range(120)]),
                        run(800, [0 if i in TUNE[1:5] else 1 for i in range(120)])))
    other = row(rep, 800, 4)
    assert not other.tie and other.high < 0 and rep.chosen == row(rep, 400, 4)


def test_a_clear_difference_picks_the_better_setting():
    r400 = run(400, [1] * 120)
    r800 = run(800, [1 if i % 2 else 0 for i in range(120)])  # misses half the questions
    rep = report(result(r400, r800))
    assert rep.chosen == row(rep, 400, 4) and not row(rep, 800, 4).tie and row(rep, 800, 4).high < 0


def test_tie_rule_order_smaller_k_then_fewer_chunks_then_no_overlap():
    same = [1] * 120
    rep = report(result(run(400, same), run(800, same), run(800, same, overlap=100, n_chunks=50), ks=(2, 4)))
    assert all(r.tie for r in rep.rows) and (rep.chosen.chunk_size, rep.chosen.k, rep.chosen.chunk_overlap) == (800, 2, 0)


def test_a_larger_k_no_longer_wins_by_k_alone():
    # Gold at rank 6 for a third of the questions: k=8 finds them (retrieved@k, MRR@k climb) but six 800-char
    # chunks are 4,800 characters, past the 4,000 budget: the same context budget, the same score.
    ranks = [6 if i % 3 == 0 else 1 for i in range(120)]
    rep = report(result(run(800, ranks), ks=(2, 8)), budget=4000)
    k2, k8 = row(rep, 800, 2), row(rep, 800, 8)
    assert k8.held_hit == 1.0 and k8.held_mrr > k2.held_mrr and k8.held_hit > k2.held_hit
    assert k8.held_budget == k2.held_budget < 1.0 and k8.tie and rep.chosen == k2
    assert k8.context_chars == 8 * 800
    # Smaller chunks that fit eight in the budget do earn their k: 8 x 400 = 3,200 characters.
    small = report(result(run(400, ranks), ks=(2, 8)), budget=4000)
    assert row(small, 400, 8).held_budget == 1.0 and small.chosen == row(small, 400, 8)
    # A bigger budget lets the 800-char chunks at rank 6 in (and the page's budget box recomputes without a re-run).
    assert row(report(result(run(800, ranks), ks=(2, 8)), budget=5000), 800, 8).held_budget == 1.0
    with pytest.raises(ValueError, match="positive"):
        report(result(run(800, ranks)), budget=0)


def test_apply_says_how_much_better_than_the_current_setting_and_with_what_uncertainty():
    good, poor = [1] * 120, [1 if i % 2 else 0 for i in range(120)]
    rep = report(result(run(400, good), run(800, poor, current=True), current_k=4))
    assert rep.current == row(rep, 800, 4) and rep.verdict == "better"
    c = rep.vs_current
    assert c.n == rep.n_held and c.low > 0 and c.diff == pytest.approx(100 * (1 - rep.current.held_budget))
    assert rep.apply_text.startswith("The choice is better than the current setting: +") and "points [" in rep.apply_text
    assert "held-out questions" in rep.apply_text

    tie = report(result(run(400, good), run(800, good, current=True), current_k=4))
    assert tie.chosen.chunk_size == 800 and tie.verdict == "current" and "nothing to change" in tie.apply_text
    near = [0 if i in [j for j, h in enumerate(HELD) if h][:2] else 1 for i in range(120)]
    noisy = report(result(run(400, good, n_chunks=10), run(800, near, n_chunks=50, current=True), current_k=4))
    assert noisy.chosen.chunk_size == 400 and noisy.verdict == "tie"
    assert noisy.apply_text.startswith("A tie: keeping the current setting is as good")
    # The current chunking at another k is not the current setting; without it there is nothing to compare.
    unknown = report(result(run(400, good), run(800, poor, current=True), current_k=8))
    assert unknown.current is None and unknown.verdict == "unknown" and "not scored" in unknown.apply_text


def test_questions_without_gold_anywhere_are_left_out():
    ranks = [NO_GOLD if i < 10 else 1 for i in range(120)]
    rep = report(result(run(400, ranks), run(800, [NO_GOLD if i < 5 else 1 for i in range(120)])))
    assert rep.dropped == 5 and rep.n_tune + rep.n_held == 115
    assert row(rep, 400, 4).tune_budget < 1.0  # no gold under this chunking alone: a miss, not left out
    assert report(result(run(400, [NO_GOLD] * 30), qids=QIDS[:30])) is None


def test_results_round_trip_as_json_and_old_results_ask_for_a_re_run(tmp_path):
    res = result(run(400, [1, 0, 3] * 40, current=True), run(800, [2, NO_GOLD, 1] * 40), ks=(2, 4), current_k=4)
    assert SweepResult.from_json(json.loads(json.dumps(res.to_json()))) == res
    assert report(SweepResult.from_json(res.to_json())) == report(res)
    old = {"rows": [{"strategy": "recursive", "chunk_size": 400, "chunk_overlap": 0, "unit": "chars", "k": 4,
                     "n_chunks": 10, "hit_at_k": 0.5, "mrr": 0.4, "ndcg": 0.4, "seconds": 1.0}], "mode": "hybrid"}
    with pytest.raises(SweepFormatError, match="re-run the sweep"):
        SweepResult.from_json(old)
    from workbench.jobs.results import RESULT, ResultError, read_result

    (tmp_path / RESULT).write_text(json.dumps(old))
    with pytest.raises(ResultError, match="re-run the sweep"):  # the page shows this message
        read_result(tmp_path, SweepResult.from_json)
