"""The sample workspace's evaluation set, registered under the name "sample"."""
from __future__ import annotations

import json
from dataclasses import replace

from workbench.evaluation.evalset import parse_evalset, save_set
from workbench.settings import Settings

SAMPLE_SET = "sample"

# The answer format the sample behaviour dataset teaches: one JSON object with exactly these keys.
SAMPLE_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"enum": ["high", "medium", "low"]},
        "source": {"type": "string"},
    },
    "required": ["answer", "confidence", "source"],
    "additionalProperties": False,
}


def sample_items():
    """The sample questions, with the sample's "json" format made precise as SAMPLE_SCHEMA."""
    from workbench.sample import eval_path

    report = parse_evalset(eval_path().read_bytes(), "eval.jsonl")
    if report.errors:
        raise ValueError(f"the sample evaluation set has invalid rows: {report.errors[:3]}")
    schema = json.dumps(SAMPLE_SCHEMA)
    return [replace(i, expected_format=schema) if i.expected_format == "json" else i for i in report.items]


def load(settings: Settings, progress=None) -> str:
    """Register the sample evaluation set; returns a one-line message."""
    items = sample_items()
    save_set(settings, SAMPLE_SET, items)
    if progress:
        progress(1.0, "evaluation set registered")
    n_unans = sum(i.unanswerable for i in items)
    return f"{len(items)} questions ({n_unans} unanswerable) registered as evaluation set '{SAMPLE_SET}'"
