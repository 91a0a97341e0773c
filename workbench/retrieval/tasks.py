"""Long retrieval work (evaluation, sweep, question synthesis) in a thread with progress and cancel."""
from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable


class BackgroundTask:
    """Runs fn(progress, cancel) in a daemon thread; the UI polls `.fraction`, `.message`, `.done`."""

    def __init__(self, label: str, fn: Callable[[Callable[[float, str], None], Callable[[], bool]], object]):
        self.label = label
        self._fn = fn
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
