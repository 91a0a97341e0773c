"""The freshness re-run of one question through the real job system: fast enough to show live, and right.

Issue 15 item 6 asks for 20 s from the click to the result on an idle machine; the bound here is looser
(a loaded CI box, two shared cores), and the measured phases are printed for the record.
"""
from __future__ import annotations

import time

import pytest

from tests.fakes import final_status
from workbench import jobs
from workbench.answering import sample as sample_recipe
from workbench.answering.recipes import load_recipe
from workbench.evaluation import freshness, run_index, runs
from workbench.evaluation import sample as sample_set
from workbench.knowledge import sample as sample_kb
from workbench.questions import load_set

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("stop_jobs")]

BOUND_S = 45.0  # generous: about 10 s idle, 25-35 s at a load average of 5 on two cores (measured)


def test_one_question_freshness_rerun_is_quick_and_follows_the_index(settings, real_generator, real_embedder):
    sample_kb.load(settings, embedder=real_embedder)
    sample_set.load(settings)
    sample_recipe.load(settings)
    change = freshness.sample_change()
    assert len(change.question_ids) == 1
    spec = runs.RunSpec(set_name=sample_set.SAMPLE_SET, setups=("base", "rag"), collection=sample_kb.SAMPLE_COLLECTION,
                        question_ids=change.question_ids, label="before",
                        recipe=load_recipe(settings, sample_recipe.SAMPLE_RECIPE).to_json())
    before = runs.create_run(settings, spec, load_set(settings, sample_set.SAMPLE_SET))
    runs.execute(settings, before, runs.PlainContext(), generator=real_generator)
    freshness.apply_change(settings, sample_kb.SAMPLE_COLLECTION, change)

    t0 = time.time()
    after = freshness.submit_after(settings, before, change)
    st = final_status(settings, run_index.get(settings, after).job_id, timeout=3 * BOUND_S)
    wall = time.time() - t0
    phases = st.result.get("phases", {})
    print(f"\nfreshness re-run of 1 question: {wall:.1f} s from submission to result; phases (s since "
          f"submission): {phases}; worker CPU {st.result.get('cpu_s')} s")
    assert st.state == jobs.SUCCEEDED, st.error
    assert wall <= BOUND_S, f"the one-question freshness re-run took {wall:.1f} s (phases {phases})"

    rec, old = runs.load_run(settings, after), runs.load_run(settings, before)
    qid = change.question_ids[0]
    assert rec.items[0].reference == change.new_reference
    # RAG answered again from the re-indexed document; base kept its answer (same prompt, greedy).
    passages = " ".join(p["text"] for p in rec.retrieved[qid])
    assert change.new in passages and change.old not in passages
    by_setup = {r["setup"]: r for r in rec.results}
    assert set(by_setup) == {"base", "rag"} and st.result["carried_over"] == 1
    assert by_setup["base"]["text"] == old.results[[r["setup"] for r in old.results].index("base")]["text"]
    assert by_setup["base"]["note"].startswith("carried over") and not (by_setup["rag"]["note"] or "").startswith(
        "carried over")
    rows = {r["setup"]: r for r in freshness.before_after(old, rec, change)}
    assert rows["base"]["after answered"] == "carried over" and rows["rag"]["after answered"] == "generated"
    assert rows["base"]["before says"] == rows["base"]["after says"]
    print(f"RAG before: {rows['rag']['before'][:80]!r} ({rows['rag']['before says']}); after: "
          f"{rows['rag']['after'][:80]!r} ({rows['rag']['after says']})")
    # The demo's point, measured (#15): RAG states the new year after the change, which it could not before.
    # (The sample's change is 2016 -> 2011: on the bundled 135M model a RAG answer followed "founded in 2011"
    # but not "founded in 2012" or 2019, with the same passages.) The before answer states 2016 when llama.cpp
    # computes it in one batch with the base setup's request, and turns to garbage when computed alone: which
    # happens depends on timing, so the test asks only that it did not already say the new year.
    assert rows["rag"]["after says"] == "new" and rows["rag"]["before says"] != "new", rows["rag"]
    assert {"handler", "generator loaded", "retrieval", "retrieved", "first answer",
            "end"} <= set(phases)


def test_sampled_runs_answer_every_setup_again(settings):
    """Carrying over is only sound for greedy decoding: with a temperature, every setup answers again."""
    from workbench.questions import Question

    q = Question(id="q1", question="q?", reference="r")
    spec = runs.RunSpec(set_name="s", setups=("base", "rag"), collection="c", question_ids=("q1",))
    rec = runs.RunRecord("b", spec, (q,), {}, ({"id": "q1", "setup": "base", "text": "a", "error": None},
                                             {"id": "q1", "setup": "rag", "text": "b", "error": None}), {}, None, 0.0)
    assert [r["setup"] for r in freshness.carried_over(rec, spec)] == ["base"]
    warm = runs.RunSpec(set_name="s", setups=("base", "rag"), collection="c", question_ids=("q1",), temperature=0.7)
    assert freshness.carried_over(runs.RunRecord("b", warm, (q,), {}, rec.results, {}, None, 0.0), warm) == []
    failed = ({"id": "q1", "setup": "base", "text": "", "error": "boom"},)
    assert freshness.carried_over(runs.RunRecord("b", spec, (q,), {}, failed, {}, None, 0.0), spec) == []
