"""Synthetic QA pairs from chunks: the parser on fixed outputs, and the builder on the real generator."""
from __future__ import annotations

import pytest

from workbench.finetune.datasets import list_datasets, load_examples, save_dataset
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


@pytest.mark.slow
def test_synthetic_qa_job_reads_a_real_collection_and_stores_a_labelled_dataset(settings, real_embedder):
    import time

    from workbench import jobs
    from workbench.knowledge import CollectionConfig, KnowledgeBase

    text = ("# Hollow Oak Bakery\n\nHollow Oak Bakery opens at 7:00 from Tuesday to Sunday. Its best seller is the "
            "cardamom knot, which costs 3.40. Sourdough loaves are baked twice a day, and birthday cakes need at "
            "least three days' notice.\n")
    coll = KnowledgeBase(settings, real_embedder).create("bakery", CollectionConfig(chunk_size=400, chunk_overlap=0))
    coll.ingest([("bakery.md", text.encode())])
    job = jobs.submit(settings, "synthetic_qa", {"collection": "bakery", "dataset": "qa-bakery", "max_chunks": 1})
    end = time.time() + 240
    while not (st := jobs.get(settings, job.job_id)).is_final and time.time() < end:
        time.sleep(0.5)
    assert st.state == jobs.SUCCEEDED, st.error + jobs.log_tail(settings.jobs_dir / job.job_id)
    # Greedy decoding is deterministic: the bundled model writes a question, then answers it from the chunk.
    assert st.result["pairs"] == 1 and st.result["failed"] == 0 and st.total == 1
    (info,) = list_datasets(settings)
    assert (info.name, info.synthetic, info.source) == ("qa-bakery", True, "synthetic from collection bakery")
    (ex,) = load_examples(settings, "qa-bakery")
    assert ex.messages[1][1].endswith("?") and "Context" not in ex.messages[1][1] and ex.completion


def test_parse_question_finds_the_question_when_the_answer_is_missing():
    from workbench.finetune.synthetic import parse_question

    assert parse_question("Question: What is the best seller?\n\nAnswer:") == "What is the best seller?"
    assert parse_question("When does it open?") == "When does it open?"
    assert parse_question("The bakery is nice.") is None
