"""The forgetting probe: each check kind, and the shipped items are valid, unique and of both kinds."""
from __future__ import annotations

import json
import re

import pytest

from workbench.evaluation.probe import KINDS, ProbeItem, check, load_probe, probe_rate, validate_check
from workbench.sample import probe_path


def _item(spec: str) -> ProbeItem:
    return ProbeItem("t", "question", spec, "knowledge")


@pytest.mark.parametrize("spec, answer, ok", [
    ("contains:paris", "The capital of France is Paris.", True),
    ("contains:paris", "It is Lyon.", False),
    ("regex:^\\W*YES\\W*$", "YES.", True),
    ("regex:^\\W*YES\\W*$", "YES, I will reply with YES.", False),
    ("regex:^\\W*YES\\W*$", "yes", False),  # regex is case-sensitive unless it says (?i)
    ("regex:(?i)^\\W*yes\\W*$", "Yes!", True),
    ("number:56", "7 times 8 is 56.", True),
    ("number:56", "7 times 8 is 156.", False),
    ("number:56", "It is 5.6", False),
    ("number:1000", "One kilogram is 1,000 grams.", True),
    ("number:1000", "One kilogram is 1000 grams.", True),
    ("number:-18", "It is -18 degrees.", True),
    ("number:2.5", "About 2.5 litres.", True),
    ("upper", "MADRID", True),
    ("upper", "MADRID, SPAIN!", True),
    ("upper", "Madrid", False),
    ("upper", "42", False),  # no letters: not an uppercase reply
    ("words<=1", "  Blue.  ", True),
    ("words<=1", "Light blue", False),
    ("words<=3", "", False),
])
def test_each_check_kind(spec, answer, ok):
    validate_check(spec)
    assert check(_item(spec), answer) is ok


def test_an_errored_answer_is_not_correct_and_counts():
    items = [_item("contains:a"), _item("contains:a"), _item("contains:a")]
    assert check(items[0], None) is False
    assert probe_rate(items, ["a", None, "b"]).text == "1/3 (33%)"
    with pytest.raises(ValueError):
        probe_rate(items, ["a"])


@pytest.mark.parametrize("spec", ["", "upper:x", "contains:", "regex:(", "number:ten", "words<=0", "words<=x",
                                  "startswith:a"])
def test_malformed_checks_are_refused(spec):
    with pytest.raises(ValueError):
        validate_check(spec)


def test_loader_refuses_a_bad_item(tmp_path):
    bad = tmp_path / "probe.jsonl"
    bad.write_text(json.dumps({"id": "x", "question": "q", "check": "contains:a", "kind": "trivia"}) + "\n")
    with pytest.raises(ValueError):
        load_probe(bad)


def test_the_shipped_probe():
    items = load_probe()
    assert probe_path().name == "probe.jsonl" and len(items) >= 40
    assert len({i.id for i in items}) == len(items)
    assert {i.kind for i in items} == set(KINDS)
    assert all(i.question.strip() for i in items)
    for i in items:
        validate_check(i.check)
        if i.check.startswith("regex:"):
            re.compile(i.check.removeprefix("regex:"))
    # Each item is passable: a hand-written right answer passes, so no check is impossible.
    right = {"contains": lambda arg: f"It is {arg.title()}.", "number": lambda arg: f"The answer is {arg}."}
    for i in items:
        head, _, arg = i.check.partition(":")
        if head in right:
            assert check(i, right[head](arg)), i.id
