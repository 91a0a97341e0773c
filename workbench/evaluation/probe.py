"""The forgetting probe: general-knowledge and instruction-following items outside the sample's domain,
each with a mechanical check, so the base model and an adapter can be scored on the same items.

A check is one string:
  "contains:<text>"  the answer contains <text>, case-insensitive
  "regex:<pattern>"  re.search(<pattern>, answer) succeeds (case-sensitive; write (?i) to ignore case)
  "number:<value>"   some number in the answer equals <value> (1,000 and 1000 both read as 1000)
  "upper"            the answer has letters and none of them is lower case
  "words<=N"         the answer has between 1 and N words
Answers are stripped of surrounding whitespace before checking; an errored answer (None) is not correct.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from workbench.evaluation.stats import Rate
from workbench.sample import probe_path

KINDS = ("knowledge", "instruction")
_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")


@dataclass(frozen=True)
class ProbeItem:
    id: str
    question: str
    check: str  # see the module docstring
    kind: str  # "knowledge" or "instruction"


def validate_check(spec: str) -> None:
    """Raise ValueError unless `spec` is a well-formed check."""
    head, _, arg = spec.partition(":")
    if spec == "upper":
        return
    if spec.startswith("words<="):
        if not spec[len("words<="):].isdigit() or int(spec[len("words<="):]) < 1:
            raise ValueError(f"bad word limit in {spec!r}")
    elif head == "contains" and arg:
        return
    elif head == "regex" and arg:
        try:
            re.compile(arg)
        except re.error as e:
            raise ValueError(f"bad pattern in {spec!r}: {e}") from e
    elif head == "number" and arg:
        try:
            float(arg)
        except ValueError as e:
            raise ValueError(f"bad number in {spec!r}") from e
    else:
        raise ValueError(f"unknown check {spec!r}: use contains:, regex:, number:, upper or words<=N")


def check(item: ProbeItem, answer: str | None) -> bool:
    """Whether `answer` passes the item's check; None (an errored answer) never does."""
    if answer is None:
        return False
    text, spec = answer.strip(), item.check
    head, _, arg = spec.partition(":")
    if spec == "upper":
        return any(c.isalpha() for c in text) and not any(c.islower() for c in text)
    if spec.startswith("words<="):
        return 1 <= len(text.split()) <= int(spec[len("words<="):])
    if head == "contains":
        return arg.lower() in text.lower()
    if head == "regex":
        return re.search(arg, text) is not None
    if head == "number":
        return any(abs(float(m.replace(",", "")) - float(arg)) < 1e-9 for m in _NUMBER.findall(text))
    raise ValueError(f"unknown check {spec!r}")


def load_probe(path: Path | None = None) -> list[ProbeItem]:
    """The probe items (default: the sample's probe.jsonl), each check validated."""
    items = []
    for line in (path or probe_path()).read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            item = ProbeItem(str(row["id"]), row["question"], row["check"], row["kind"])
            validate_check(item.check)
            if item.kind not in KINDS:
                raise ValueError(f"probe item {item.id}: kind must be one of {KINDS}, got {item.kind!r}")
            items.append(item)
    return items


def probe_rate(items: Sequence[ProbeItem], answers: Sequence[str | None]) -> Rate:
    """k/n of answers that pass their item's check; errored answers (None) count in n."""
    if len(items) != len(answers):
        raise ValueError(f"{len(items)} items but {len(answers)} answers")
    return Rate.of([check(i, a) for i, a in zip(items, answers)])
