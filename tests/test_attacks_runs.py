"""Reports that hide failure (issue 14.7): a run that failed, was killed or cancelled says so at the top of its
report, its verdict is provisional while answers are missing, and Resume (core and UI) finishes it exactly once."""
from __future__ import annotations

import os
import signal
from collections import Counter

import pytest

from tests.fakes import wait_for
from tests.pages import app_page
from tests.test_evaluation_runs import FakeGenerator
from workbench import jobs
from workbench.evaluation import run_index, runs
from workbench.evaluation.sample import sample_items

SLOW = "tests.test_evaluation_runs:slow_fake_job"
FAST = "tests.test_attacks_runs:fake_job"


class _FailsAfter:
    """A RunContext that raises once `after` answers are in, as a crash inside the worker would."""

    def __init__(self, ctx, after: int):
        self.ctx, self.after = ctx, after

    def log(self, msg: str) -> None:
        self.ctx.log(msg)

    def progress(self, step: int, total: int, message: str = "") -> None:
        self.ctx.progress(step, total, message)
        if message.startswith(runs.ANSWERED) and step >= self.after:
            raise RuntimeError("CUDA error: out of memory (simulated)")

    def cancelled(self) -> bool:
        return self.ctx.cancelled()


def fake_job(ctx) -> dict:
    """runs.run_job with a fast fake generator."""
    return runs.execute(ctx.settings, ctx.spec["run_id"], ctx, generator=FakeGenerator())


def failing_job(ctx) -> dict:
    """runs.run_job that crashes after 2 answers."""
    return runs.execute(ctx.settings, ctx.spec["run_id"], _FailsAfter(ctx, 2), generator=FakeGenerator())


def job_state(settings, run_id) -> str:
    return run_index.state(settings, run_index.get(settings, run_id))[0]


def exactly_once(settings, run_id) -> None:
    rec = runs.load_run(settings, run_id)
    counts = Counter((r["id"], r["setup"]) for r in rec.results)
    assert set(counts) == {(i.id, s) for i in rec.items for s in rec.spec.setups}
    assert set(counts.values()) == {1}, [k for k, v in counts.items() if v > 1]
    assert rec.summary and not rec.summary["cancelled"] and rec.summary["answers"] == len(counts)


pytestmark = pytest.mark.usefixtures("fresh_ui_caches", "stop_jobs")


def start_slow_then(settings, n_items: int, n_answers: int, stop) -> str:
    """A background run on the slow fake, stopped by `stop(run_id, job status)` once `n_answers` are in."""
    run_id = runs.submit_run(settings, runs.RunSpec(set_name="t", setups=("base",)), sample_items()[:n_items],
                             handler=SLOW)
    entry = run_index.get(settings, run_id)
    js = wait_for(lambda: (s := run_index.job_status(settings, entry.job_id)) and s.step >= n_answers
                  and s.message.startswith(runs.ANSWERED) and s)
    stop(run_id, js)
    wait_for(lambda: run_index.job_status(settings, entry.job_id).is_final, 40)
    return run_id


def test_a_cancelled_run_resumes_to_the_end_with_every_answer_once(settings):
    run_id = start_slow_then(settings, 8, 2, lambda rid, _: runs.cancel_run(settings, rid))
    assert job_state(settings, run_id) == "cancelled"
    assert run_index.stopped(settings, run_index.get(settings, run_id)).state == "cancelled"
    first_job = run_index.get(settings, run_id).job_id
    job_id = runs.resume_run(settings, run_id, handler=FAST)
    assert job_id != first_job and run_index.get(settings, run_id).job_id == job_id
    wait_for(lambda: run_index.get(settings, run_id).ended)
    exactly_once(settings, run_id)
    assert job_state(settings, run_id) == "finished" and run_index.stopped(settings, run_index.get(settings, run_id)) is None
    with pytest.raises(runs.RunError, match="finished"):
        runs.resume_run(settings, run_id)


def test_resume_refuses_a_running_run_and_defaults_to_the_runs_own_handler(settings):
    run_id = runs.submit_run(settings, runs.RunSpec(set_name="t", setups=("base",)), sample_items()[:20],
                             handler=SLOW)
    wait_for(lambda: job_state(settings, run_id) == "running")
    with pytest.raises(runs.RunError, match="running"):
        runs.resume_run(settings, run_id)
    runs.cancel_run(settings, run_id)
    wait_for(lambda: job_state(settings, run_id) == "cancelled", 40)  # perhaps before its first answer
    job_id = runs.resume_run(settings, run_id)
    assert jobs.get(settings, job_id).handler == SLOW  # the run goes on as it was started
    with pytest.raises(runs.RunError, match="queued|running"):
        runs.resume_run(settings, run_id)  # a second click while the first resume waits or runs


def test_a_failed_run_says_why_and_resumes(settings):
    run_id = runs.submit_run(settings, runs.RunSpec(set_name="t", setups=("base",)), sample_items()[:5],
                             handler="tests.test_attacks_runs:failing_job")
    wait_for(lambda: job_state(settings, run_id) == "failed")
    stop = run_index.stopped(settings, run_index.get(settings, run_id))
    assert stop.state == "failed" and "out of memory" in stop.reason and "Traceback" in stop.log_tail
    assert len(runs.load_run(settings, run_id).results) == 2
    resumed_to_the_end(settings, run_id)


def resumed_to_the_end(settings, run_id):
    """Resume `run_id` as a background job and check it ends with every answer exactly once."""
    runs.resume_run(settings, run_id, handler=FAST)
    wait_for(lambda: run_index.get(settings, run_id).ended)
    exactly_once(settings, run_id)


def test_a_run_without_an_end_or_a_job_is_incomplete_and_resumable(settings):
    items = sample_items()[:4]
    run_id = runs.create_run(settings, runs.RunSpec(set_name="t", setups=("base",)), items)
    with pytest.raises(RuntimeError):  # a crash in-process: no summary is written, and there is no job
        runs.execute(settings, run_id, _FailsAfter(runs.PlainContext(), 1), generator=FakeGenerator())
    stop = run_index.stopped(settings, run_index.get(settings, run_id))
    assert stop.state == "incomplete" and "no end was recorded" in stop.reason
    resumed_to_the_end(settings, run_id)


def test_a_cut_line_from_a_killed_worker_does_not_swallow_the_next_answer(settings):
    items = sample_items()[:3]
    run_id = runs.create_run(settings, runs.RunSpec(set_name="t", setups=("base",)), items)
    runs.execute(settings, run_id, runs.PlainContext(cancel_after=1), generator=FakeGenerator())
    with open(settings.evals_dir / run_id / "results.jsonl", "a") as f:
        f.write('{"id": "q2", "setup": "base", "te')  # the worker died mid-write
    runs.execute(settings, run_id, runs.PlainContext(), generator=FakeGenerator())
    exactly_once(settings, run_id)


def report_texts(at) -> str:
    return " ".join(str(x.value) for kind in ("error", "warning", "info", "success", "text", "code")
                    for x in getattr(at, kind))


def test_a_killed_run_shows_the_banner_and_no_firm_verdict_on_the_report(settings):
    from workbench.evaluation.decision import TITLES

    run_id = start_slow_then(settings, 10, 3, lambda _, js: os.kill(js.pid, signal.SIGKILL))
    assert job_state(settings, run_id) == "failed"
    at = app_page("pages/evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    banner = at.error[0].value
    assert "This run failed" in banner and "of 10 answers" in banner and "provisional" in banner
    # The reason, from whoever noticed first: the runner (killed by signal 9) or the page (the worker died).
    assert any(t.value.startswith("Why: ") and ("signal 9" in t.value or "died" in t.value) for t in at.text)
    firm = [s.value for s in at.success if any(t in s.value for t in TITLES.values())]
    assert not firm and any(w.value.startswith("**Provisional (") for w in at.warning)
    assert at.button(key=f"resume_{run_id}")


def test_resume_from_the_report_continues_a_cancelled_run_to_the_end(settings):
    run_id = start_slow_then(settings, 6, 2, lambda rid, _: runs.cancel_run(settings, rid))
    at = app_page("pages/evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "This run was cancelled" in at.warning[0].value
    at.button(key=f"resume_{run_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("resumed" in s.value for s in at.success)
    assert not any("This run was cancelled" in w.value for w in at.warning)  # it runs again: no banner
    wait_for(lambda: run_index.get(settings, run_id).ended, 90)
    exactly_once(settings, run_id)
    at = app_page("pages/evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any(b.key == f"resume_{run_id}" for b in at.button)
    assert not any(w.value.startswith("**Provisional") for w in at.warning)


def test_the_runs_table_offers_resume_for_a_failed_run(settings):
    run_id = runs.submit_run(settings, runs.RunSpec(set_name="t", setups=("base",)), sample_items()[:4],
                             handler="tests.test_attacks_runs:failing_job")
    wait_for(lambda: job_state(settings, run_id) == "failed")
    at = app_page("pages/evaluate_run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="eval_resume_pick").value == run_id
    table = next(df.value for df in at.dataframe if "state" in df.value.columns)
    assert list(table["state"]) == ["failed"] and "out of memory" in table["error"][0]
    at.button(key="eval_resume").click().run()
    assert not at.exception, [e.value for e in at.exception]
    # The resumed job runs the failing handler again (the run's own): it fails after its next answer.
    wait_for(lambda: job_state(settings, run_id) == "failed" and len(runs.load_run(settings, run_id).results) == 3)
