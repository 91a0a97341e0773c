"""The sample workspace's evaluation set, registered under the name "sample"."""
from __future__ import annotations

import json
from dataclasses import replace

from workbench.questions import sample_question_set, save_set
from workbench.settings import Settings

SAMPLE_SET = "sample"

# The sample's house answer format (what behaviour.jsonl teaches): one JSON object with exactly these
# keys, generated "cite first" (source, answer, confidence); a declined answer cites nothing and is "low".
SAMPLE_SCHEMA = {
    "type": "object",
    "properties": {
        "source": {"type": "string"},
        "answer": {"type": "string", "minLength": 1},
        "confidence": {"enum": ["high", "medium", "low"]},
    },
    "required": ["source", "answer", "confidence"],
    "additionalProperties": False,
    "if": {"properties": {"answer": {"const": "unknown"}}},
    "then": {"properties": {"source": {"const": "NONE"}, "confidence": {"const": "low"}}},
}


def sample_items():
    """The sample questions, with the sample's "json" format made precise as SAMPLE_SCHEMA."""
    qs = sample_question_set()
    if qs.errors:
        raise ValueError(f"the sample question set has invalid rows: {[str(e) for e in qs.errors[:3]]}")
    schema = json.dumps(SAMPLE_SCHEMA)
    return [replace(q, expected_format=schema) if q.expected_format == "json" else q for q in qs.questions]


def load(settings: Settings, progress=None) -> str:
    """Register the sample evaluation set; returns a one-line message."""
    items = sample_items()
    save_set(settings, SAMPLE_SET, items)
    if progress:
        progress(1.0, "evaluation set registered")
    n_unans = sum(i.unanswerable for i in items)
    return f"{len(items)} questions ({n_unans} unanswerable) registered as evaluation set '{SAMPLE_SET}'"
