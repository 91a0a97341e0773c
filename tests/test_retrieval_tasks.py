"""Background retrieval tasks: progress, cancel, errors, and results saved to survive a restart."""
from __future__ import annotations

from workbench.retrieval.tasks import BackgroundTask, load_result, save_result


def test_task_reports_progress_and_result():
    def work(progress, cancel):
        progress(0.5, "half")
        return {"answer": 42}

    t = BackgroundTask("demo", work).start()
    assert t.wait(10) and t.done and t.error is None
    assert t.result == {"answer": 42} and t.message == "half"


def test_cancel_is_seen_by_the_work():
    def work(progress, cancel):
        while not cancel():
            pass
        return "stopped"

    t = BackgroundTask("loop", work).start()
    t.cancel()
    assert t.wait(10) and t.result == "stopped"


def test_result_is_saved_and_read_back(tmp_path):
    path = tmp_path / "r" / "eval.pkl"
    t = BackgroundTask("set: 3 questions", lambda p, c: {"mrr": 0.5}, on_done=lambda task: save_result(path, task))
    assert t.start().wait(10)
    back = load_result(path)
    assert back is not None and back.saved and back.done and back.error is None
    assert back.result == {"mrr": 0.5} and back.label == "set: 3 questions"
    assert abs(back.finished_at - t.finished_at) < 1e-6
    assert not list(path.parent.glob("*.tmp*")), "the temporary file is renamed into place"


def test_failed_task_saves_nothing_and_damage_reads_as_none(tmp_path):
    path = tmp_path / "eval.pkl"

    def boom(progress, cancel):
        raise ValueError("no questions")

    t = BackgroundTask("bad", boom, on_done=lambda task: save_result(path, task)).start()
    assert t.wait(10) and t.error == "ValueError: no questions"
    assert not path.exists() and load_result(path) is None
    path.write_bytes(b"not a pickle")
    assert load_result(path) is None
