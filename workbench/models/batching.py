"""Greedy requests that arrive together answered in one batched `generate` (the transformers engine).

An evaluation run writes `generator.parallel` answers side by side (evaluation.runs.answer_all), and the arena
asks several columns at once. With llama.cpp the server's slots batch them; with transformers each request
used to wait for the model lock. Here the waiting requests that share everything but the prompt (the adapter
and the generation settings: greedy, the same new-token budget) become one batch: each prompt is read on its
own, then every step reads the weights once for all of them, which is where a GPU gains (on 2 CPU cores it
lost or tied, measured: `generator.BATCH_CPU` is 1). Each request still streams its own text, can be cancelled
on its own (its row stops; the others go on) and gets its own stats.

A request that finds nobody to share with runs alone, as before (with prompt lookup), so a lone question,
sampling (temperature > 0: each answer has its own seed) and anything else that does not batch answer exactly
as before. Batched rows attend over a cache padded beside other prompts, so a greedy answer can differ from
its one-at-a-time text where two tokens were nearly tied (bench/eval_batch.py counts them).
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from workbench.types import GenerationStats

WINDOW_S = 0.03  # how long the first waiting request waits for company before a batch starts
_DONE = object()


@dataclass
class Request:
    """One prompt waiting for its batch; `pieces` carries its text, then _DONE (or an exception)."""

    ids: list[int]
    key: tuple  # requests batch together only when their keys are equal (adapter, settings)
    cfg: object = None  # what the runner needs besides the prompt: the same for every request of one key
    adapter: object = None
    cancel: threading.Event = field(default_factory=threading.Event)
    pieces: queue.Queue = field(default_factory=queue.Queue)
    submitted: float = field(default_factory=time.perf_counter)
    ttft: float | None = None
    completion_tokens: int = 0


class Batcher:
    """Collects requests and runs them up to `width` at a time with one key: `run(requests)` is called from
    one worker thread, so batches never overlap."""

    def __init__(self, width: int, run: Callable[[list[Request]], None]):
        self.width = max(1, int(width))
        self._run = run
        self._waiting: list[Request] = []
        self._cv = threading.Condition()
        self._worker: threading.Thread | None = None
        self.batches = 0  # batches of two or more run so far (tests, benchmarks)

    def submit(self, req: Request) -> Iterator[str]:
        """Queue `req` and yield its text as it is written; closing the iterator cancels it."""
        with self._cv:
            self._waiting.append(req)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._loop, daemon=True, name="batcher")
                self._worker.start()
            self._cv.notify_all()
        try:
            while (piece := req.pieces.get()) is not _DONE:
                if isinstance(piece, BaseException):
                    raise piece
                yield piece
        finally:
            req.cancel.set()  # a consumer that stops reading ends its row at the next step

    def _take(self) -> list[Request]:
        """The next batch: the oldest request and up to width-1 others with its key (after a short wait)."""
        with self._cv:
            while not self._waiting:
                self._cv.wait()
            if len(self._waiting) < self.width:  # a batch of one is a lost chance: give others a moment
                self._cv.wait_for(lambda: len(self._waiting) >= self.width, timeout=WINDOW_S)
            key = self._waiting[0].key
            batch = [r for r in self._waiting if r.key == key][:self.width]
            for r in batch:
                self._waiting.remove(r)
            return batch

    def _loop(self) -> None:
        while True:
            taken = self._take()
            batch = [r for r in taken if not r.cancel.is_set()]  # cancelled while waiting: nothing to write
            for r in taken:
                if r not in batch:
                    r.pieces.put(_DONE)
            if not batch:
                continue
            self.batches += len(batch) > 1
            try:
                self._run(batch)
            except BaseException as e:  # every waiting consumer sees the failure in its own thread
                for r in batch:
                    r.pieces.put(e)
            for r in batch:
                r.pieces.put(_DONE)


class RowStreamer:
    """A transformers streamer for a batch: turns each row's new tokens into text pieces for its request.

    `put` receives the prompt ids first (ignored), then one token per row per step. A row ends at its first
    end-of-sequence token or when its request is cancelled (transformers pads it from then on)."""

    def __init__(self, tokenizer, requests: list[Request], eos: set[int]):
        self.tok, self.reqs, self.eos = tokenizer, requests, eos
        self.ids: list[list[int]] = [[] for _ in requests]
        self.sent = ["" for _ in requests]
        self.done = [False] * len(requests)
        self._prompt_seen = False

    def put(self, value) -> None:
        if not self._prompt_seen:
            self._prompt_seen = True
            return
        now = time.perf_counter()
        # One token per row (a batch step), or several for one row (a verified prompt-lookup draft).
        rows = value.tolist() if value.dim() == 2 else [[t] for t in value.tolist()]
        for i, toks in enumerate(rows):
            req, added = self.reqs[i], False
            for tok in toks:
                if self.done[i]:
                    break
                req.completion_tokens += 1
                if tok in self.eos or req.cancel.is_set():
                    self.done[i] = True
                    break
                self.ids[i].append(tok)
                added = True
            if not added:
                continue
            text = self.tok.decode(self.ids[i], skip_special_tokens=True)
            if text.endswith("\ufffd"):  # half a character: wait for the rest of its bytes
                continue
            if len(text) > len(self.sent[i]):
                if req.ttft is None:
                    req.ttft = now - req.submitted
                req.pieces.put(text[len(self.sent[i]):])
                self.sent[i] = text

    def end(self) -> None:
        for i, req in enumerate(self.reqs):
            text = self.tok.decode(self.ids[i], skip_special_tokens=True)
            if len(text) > len(self.sent[i]) and not req.cancel.is_set():
                req.pieces.put(text[len(self.sent[i]):])
                self.sent[i] = text


def stats_for(req: Request) -> GenerationStats:
    return GenerationStats(time.perf_counter() - req.submitted, req.ttft, len(req.ids), req.completion_tokens)
