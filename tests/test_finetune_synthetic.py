"""Synthetic QA pairs from chunks: the parser on fixed outputs, and the builder on the real generator."""
from __future__ import annotations

import pytest

from workbench.finetune.datasets import list_datasets, save_dataset
from workbench.finetune.synthetic import build_qa, parse_qa
from workbench.types import Chunk


def test_parse_qa_accepts_the_asked_for_form_and_rejects_the_rest():
    assert parse_qa("Question: When does the bakery open?\nAnswer: At 7:00.") == \
        ("When does the bakery open?", "At 7:00.")
    assert parse_qa("Q: How long is the trail?\n\nA: 14 km\nQuestion: another") == ("How long is the trail?", "14 km")
    assert parse_qa("The passage is about a bakery.") is None
    assert parse_qa("Question: Why?\nAnswer: ") is None  # question too short, answer empty


@pytest.mark.slow
def test_builder_asks_the_real_generator_once_per_chunk_and_stores_a_synthetic_dataset(settings, real_generator):
    text = ("Hollow Oak Bakery opens at 7:00 from Tuesday to Sunday. Its best seller is the cardamom knot, "
            "which costs 3.40. Birthday cakes need at least three days' notice.")
    chunks = [Chunk(f"c{i}", "d", "bakery.md", text, 0, len(text), i) for i in range(2)]
    chunks.append(Chunk("short", "d", "bakery.md", "# Bakery", 0, 8, 2))  # too short to ask about
    seen = []
    res = build_qa(chunks, real_generator, max_chunks=5, max_new_tokens=40, progress=lambda i, n: seen.append((i, n)))
    assert res.n_chunks == 2 and seen == [(1, 2), (2, 2)]
    assert len(res.examples) + res.n_failed == 2
    for ex in res.examples:
        assert [r for r, _ in ex.messages] == ["system", "user", "assistant"]
        assert ex.messages[1][1] and ex.completion
    if res.examples:
        info = save_dataset(settings, "synthetic-bakery", res.examples, source="synthetic from collection x",
                            synthetic=True)
        assert [d.synthetic for d in list_datasets(settings)] == [True] and info.n_examples == len(res.examples)
