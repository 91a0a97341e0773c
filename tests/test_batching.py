"""Batched generation on the transformers engine: requests that arrive together share one `generate`."""
from __future__ import annotations

import threading
import time

import pytest

from workbench.models.batching import Batcher, Request
from workbench.models.generator import GenerationConfig

QUESTIONS = ["Name three colours.", "What is a library?", "Write one sentence about rain.",
             "Give two tips for sleeping well."]


def _in_threads(fn, n: int, timeout: float = 10) -> None:
    """fn(0) .. fn(n - 1), each in its own thread, all started before any is waited for."""
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def _consume(batcher: Batcher, reqs: list[Request]) -> dict[int, str]:
    out: dict[int, str] = {}

    def go(i):
        out[i] = "".join(batcher.submit(reqs[i]))

    _in_threads(go, len(reqs))
    return out


def test_requests_batch_by_key_up_to_the_width():
    seen: list[list[int]] = []
    gate = threading.Event()

    def run(reqs):
        if reqs[0].ids[0] == 0:  # hold the worker on a first request so the rest queue up together
            gate.wait(5)
        seen.append([r.ids[0] for r in reqs])
        for r in reqs:
            r.pieces.put(f"{'b' if len(reqs) > 1 else 's'}{r.ids[0]}")

    batcher = Batcher(3, run)
    first = Request([0], ("hold",))
    holder = threading.Thread(target=lambda: "".join(batcher.submit(first)))
    holder.start()
    time.sleep(0.2)
    reqs = [Request([i], ("a",) if i % 2 else ("b",)) for i in range(1, 8)]
    result: dict = {}
    t = threading.Thread(target=lambda: result.update(_consume(batcher, reqs)))
    t.start()
    time.sleep(0.3)
    gate.set()
    t.join(10)
    holder.join(5)
    groups = seen[1:]
    assert sorted(i for g in groups for i in g) == list(range(1, 8))
    for g in groups:
        assert len({i % 2 for i in g}) == 1, f"a batch mixed keys: {g}"
        assert len(g) <= 3
    assert any(len(g) > 1 for g in groups)
    assert all(text in (f"b{i + 1}", f"s{i + 1}") for i, text in result.items())


def test_a_failure_reaches_every_request_of_its_batch_and_the_next_batch_runs():
    calls = {"n": 0}

    def run(reqs):
        if len(reqs) == 1:
            reqs[0].pieces.put("alone")
            return
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("kernel exploded")
        for r in reqs:
            r.pieces.put("ok")

    batcher = Batcher(2, run)
    errors: list[str] = []
    reqs = [Request([i], ("k",)) for i in range(2)]

    def go(i):
        try:
            "".join(batcher.submit(reqs[i]))
        except RuntimeError as e:
            errors.append(str(e))

    _in_threads(go, 2)
    assert errors == ["kernel exploded"] * 2
    assert set(_consume(batcher, [Request([5], ("k",)), Request([6], ("k",))]).values()) <= {"ok", "alone"}


def test_a_request_cancelled_while_waiting_never_runs():
    ran: list[int] = []
    gate = threading.Event()

    def run(reqs):
        (r,) = reqs
        if r.ids[0] == 0:
            gate.wait(5)
        ran.append(r.ids[0])
        r.pieces.put("x")

    batcher = Batcher(1, run)
    holder = threading.Thread(target=lambda: "".join(batcher.submit(Request([0], ("k",)))))
    holder.start()
    time.sleep(0.1)
    waiting = Request([1], ("k",))
    stream = batcher.submit(waiting)
    t = threading.Thread(target=lambda: next(stream, None))
    t.start()
    time.sleep(0.1)
    waiting.cancel.set()
    gate.set()
    holder.join(5)
    t.join(5)
    assert ran == [0]


@pytest.fixture
def batching(torch_generator):
    """The session's transformers generator without adapters; `batching(width)` sets how many share a batch."""
    gen = torch_generator
    gen.detach_adapters()
    width = gen.parallel

    def at(n: int):
        gen.parallel = n
        return gen

    yield at
    gen.parallel = width


@pytest.mark.slow
def test_concurrent_greedy_questions_share_a_batch_and_each_streams_its_own_answer(batching):
    gen = batching(4)
    cfg = GenerationConfig(max_new_tokens=24)
    alone = [gen.generate([{"role": "user", "content": q}], cfg) for q in QUESTIONS]
    before = gen._batcher.batches
    got: dict[int, object] = {}

    def ask(i):
        got[i] = gen.generate([{"role": "user", "content": QUESTIONS[i]}], cfg)

    _in_threads(ask, 4, 120)
    assert gen._batcher.batches > before, "the four questions never shared a batch"
    for i in range(4):
        assert got[i].text.strip()
        assert got[i].stats.prompt_tokens == alone[i].stats.prompt_tokens  # its own prompt, not the padded one
        assert 0 < got[i].stats.completion_tokens <= 24
    # Greedy rows computed beside other prompts: most answers are the one-at-a-time text (rounding can part
    # a near tie); a row that read another row's prompt would share nothing with its own.
    same = sum(got[i].text == alone[i].text for i in range(4))
    assert same >= 2, [(got[i].text, alone[i].text) for i in range(4)]


@pytest.mark.slow
def test_closing_one_batched_stream_ends_its_row_and_leaves_the_others_as_they_were(batching):
    gen = batching(3)
    cfg = GenerationConfig(max_new_tokens=32)

    def batch(cancel_first: bool) -> list[str]:
        out = ["", "", ""]
        started = threading.Barrier(3)

        def ask(i):
            started.wait()
            stream = gen.stream([{"role": "user", "content": QUESTIONS[i]}], cfg)
            for piece in stream:
                out[i] += piece
                if i == 0 and cancel_first:
                    stream.close()
                    break

        _in_threads(ask, 3, 120)
        return out

    full = batch(False)
    cut = batch(True)
    assert len(cut[0]) < len(full[0])
    assert cut[1:] == full[1:], "cancelling one row changed another row's answer"
