"""Long retrieval work (evaluation, sweep, question synthesis) in a thread with progress and cancel."""
from __future__ import annotations

import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path


class BackgroundTask:
    """Runs fn(progress, cancel) in a daemon thread; the UI polls `.fraction`, `.message`, `.done`."""

    saved = False  # True for a SavedTask read back from disk

    def __init__(self, label: str, fn: Callable[[Callable[[float, str], None], Callable[[], bool]], object],
                 on_done: Callable[["BackgroundTask"], None] | None = None):
        self.label = label
        self._fn = fn
        self._on_done = on_done  # called after a successful run (e.g. save_result)
        self.fraction, self.message = 0.0, "starting"
        self.result = None
        self.error: str | None = None
        self.started_at = time.time()
        self.finished_at: float | None = None
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"retrieval-{label}")

    def start(self) -> "BackgroundTask":
        self._thread.start()
        return self

    def _progress(self, fraction: float, message: str) -> None:
        self.fraction, self.message = max(0.0, min(1.0, fraction)), message

    def _run(self) -> None:
        try:
            self.result = self._fn(self._progress, self._cancel.is_set)
        except Exception as e:  # shown in the page as a message; the trace goes to the server log
            self.error = f"{type(e).__name__}: {e}"
            traceback.print_exc()
        finally:
            self.finished_at = time.time()
        if self.error is None and self.result is not None and self._on_done is not None:
            try:
                self._on_done(self)
            except Exception:  # saving is a convenience: the result stays in memory either way
                traceback.print_exc()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelling(self) -> bool:
        return self._cancel.is_set() and not self.done

    @property
    def done(self) -> bool:
        return self.finished_at is not None

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done


class SavedTask:
    """A finished task's result read back from disk (after a restart of the app)."""

    saved = True
    fraction, message, error, cancelling, done = 1.0, "saved", None, False, True

    def __init__(self, label: str, result, finished_at: float):
        self.label, self.result, self.finished_at = label, result, finished_at
        self.started_at = finished_at

    def cancel(self) -> None:
        pass

    def wait(self, timeout: float | None = None) -> bool:
        return True


def save_result(path: Path, task: BackgroundTask) -> None:
    """Write a finished task's label and result to `path` (atomically: a crash leaves the old file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump({"label": task.label, "finished_at": task.finished_at, "result": task.result}, fh)
    os.replace(tmp, path)


def load_result(path: Path) -> SavedTask | None:
    """The task saved at `path`; None when there is none or it no longer loads (older code, damage)."""
    try:
        with open(path, "rb") as fh:
            d = pickle.load(fh)
        return SavedTask(d["label"], d["result"], d["finished_at"])
    except Exception:
        return None
