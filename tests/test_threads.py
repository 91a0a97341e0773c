"""The one CPU-thread rule: free cores from the load average minus our own use, set once per process."""
from __future__ import annotations

import os

import pytest

from workbench.models import threads


@pytest.fixture
def machine(monkeypatch):
    """A 4-core machine whose load average and own CPU use the test sets."""
    state = {"load": 0.0, "own": 0.0}
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (state["load"], 0.0, 0.0))
    monkeypatch.setattr(threads, "own_cpu_load", lambda: state["own"])
    return state


@pytest.mark.parametrize("load, own, own_recent, expected", [
    (0.0, 0.0, 0.0, 4),    # idle: every core
    (1.2, 0.0, 0.0, 3),    # 4 - 1.2 = 2.8, rounded
    (3.0, 2.0, 0.0, 3),    # our own 2 cores of the load are not "other work"
    (3.0, 0.5, 2.0, 3),    # the caller's recent use counts when it is larger
    (12.0, 0.0, 0.0, 1),   # oversubscribed: at least one thread
    (0.5, 3.0, 0.0, 4),    # own use above the load average: nobody else, never more than the cores
])
def test_free_cores(machine, load, own, own_recent, expected):
    machine.update(load=load, own=own)
    assert threads.free_cores(own_recent) == expected


def test_no_load_average_means_every_core(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 3)

    def missing():
        raise OSError("no load average here")

    monkeypatch.setattr(os, "getloadavg", missing)
    assert threads.free_cores() == 3


def test_own_cpu_load_is_a_rate():
    assert 0.0 <= threads.own_cpu_load() < (os.cpu_count() or 1) + 1


def test_torch_threads_are_decided_once_per_process(machine, monkeypatch):
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_decided", None)
    try:
        machine.update(load=2.6)
        assert threads.configure_torch_threads() == 1 and torch.get_num_threads() == 1
        machine.update(load=0.0)  # the machine got quiet: the process keeps its decision
        assert threads.configure_torch_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)  # this test process's other tests run with their usual count


def test_an_explicit_count_is_kept_by_later_model_loads(monkeypatch):
    import torch

    from workbench.models import threads

    monkeypatch.setattr(threads, "_decided", None)
    before = torch.get_num_threads()
    try:
        assert threads.configure_torch_threads(1) == 1 and torch.get_num_threads() == 1
        monkeypatch.setattr(threads, "free_cores", lambda own_recent=0.0: 2)
        assert threads.configure_torch_threads() == 1 and torch.get_num_threads() == 1  # a model load later
    finally:
        torch.set_num_threads(before)
