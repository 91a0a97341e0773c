"""Synthetic QA pairs from chunks: the builder and the job on the real generator (the cleaner: test_questions.py)."""
from __future__ import annotations

import pytest

from workbench.finetune.datasets import list_datasets, load_examples, save_dataset
from workbench.finetune import synthetic
from workbench.finetune.synthetic import build_qa
from workbench.types import Chunk


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
    job = synthetic.submit(settings, "bakery", "qa-bakery", max_chunks=1)
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


def test_builder_turns_generated_pairs_into_closed_book_examples():
    from tests.test_questions import ScriptedGenerator, _chunks

    gen = ScriptedGenerator(["Question: When does the bakery open?", "At 7:00.\nMore text."])
    seen = []
    res = build_qa(_chunks(), gen, max_chunks=5, progress=lambda i, n: seen.append((i, n)))
    assert (res.n_chunks, res.n_failed, seen) == (1, 0, [(1, 1)])
    (ex,) = res.examples
    assert [r for r, _ in ex.messages] == ["system", "user", "assistant"]
    assert ex.messages[1][1] == "When does the bakery open?" and ex.completion == "At 7:00."
    res = build_qa(_chunks(), ScriptedGenerator(["The bakery is nice."]), max_chunks=5)
    assert (res.n_chunks, res.n_failed, res.examples) == (1, 1, ())
