"""Compare never puts runs of different questions side by side without saying so."""
from __future__ import annotations

from tests.fakes import FakeEmbedder
from tests.test_evaluation_runs import FakeGenerator, text_collection
from workbench.evaluation import runs
from workbench.evaluation.report import comparability
from workbench.evaluation.sample import sample_items
from workbench.evaluation.scoring import score_run


def run_of(settings, items):
    run_id = runs.create_run(settings, runs.RunSpec(set_name="s", setups=("base",), collection="kb"), items)
    runs.execute(settings, run_id, runs.PlainContext(), generator=FakeGenerator(),
                 collection=text_collection(FakeEmbedder()))
    return score_run(runs.load_run(settings, run_id))


def test_runs_of_other_questions_are_refused_or_warned(settings):
    items = sample_items()
    a = run_of(settings, items[:6])
    assert comparability(a, run_of(settings, items[:6])) == (None, None)
    refusal, caution = comparability(a, run_of(settings, items[6:8]))
    assert refusal and "share no question" in refusal and caution is None
    refusal, caution = comparability(a, run_of(settings, items[:1]))  # a 1-question run beside a 6-question run
    assert refusal is None and "A 6, B 1, 1 in common" in caution
