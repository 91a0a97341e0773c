"""Everything at once, several rounds: two ingests, a re-index, a delete (separate processes), a sweep and
queries (this process); after each round the catalog, the stored texts and Chroma agree (embedded and server)."""
from __future__ import annotations

import multiprocessing
import queue
import random
import threading
import time
import traceback

import pytest

from tests.fakes import FakeEmbedder
from tests.test_index_races import check_invariants
from tests.test_knowledge_index import chroma_server  # noqa: F401  (the module's `chroma run`)
from workbench.knowledge import CollectionConfig, KnowledgeBase, KnowledgeError
from workbench.knowledge.store import chroma_client, knowledge_dir
from workbench.questions import Question
from workbench.retrieval.sweep import SweepGrid, run_sweep
from workbench.settings import Settings

# Three rounds: every round checks every invariant, and three cover each state a round can start from: the
# seeded collection (round 0: no "only-*" documents yet), then twice the steady state where the uploads replace
# documents of the same names; the re-index changes the chunk size every round, to larger and to smaller chunks
# (100 -> 200 -> 60 -> 120). Rounds 4 and 5 only repeated that steady state with other sizes and interleavings.
ROUNDS = 3
SIZES = (200, 60, 120)  # the re-index's chunk size in each round (the collection starts at 100)
SHARED = [f"shared-{i}.txt" for i in range(4)]  # both ingests upload these names in every round
WAIT_S = 120
WORDS = "anchor chain buoy battery oxygen mooring sensor tide salinity cable winch hull".split()


def text(tag: str, name: str, rnd: int) -> bytes:
    rng = random.Random(f"{tag}{name}{rnd}")
    body = " ".join(f"{rng.choice(WORDS)} {rng.choice(WORDS)} of {tag} {name} round {rnd}." for _ in range(12))
    return body.encode()


class SlowEmbedder(FakeEmbedder):
    """FakeEmbedder at a model's pace (5 ms a text): embedding takes long enough for writers to overlap."""

    def embed_batch(self, texts):
        time.sleep(0.005 * len(texts))
        return super().embed_batch(texts)


def writer(role: str, settings: Settings, barrier, errors) -> None:
    """One writer process: does its part of each round between the round's two barriers."""
    kb = KnowledgeBase(settings, SlowEmbedder())
    col = kb.get("stress")
    for rnd in range(ROUNDS):
        try:
            barrier.wait(WAIT_S)
        except threading.BrokenBarrierError:  # the test failed and aborted the rounds
            return
        time.sleep(random.Random(f"{role}{rnd}").uniform(0, 0.1))  # a different interleaving each round
        try:
            if role in ("A", "B"):
                names = SHARED + [f"only-{role}.txt"]
                rep = col.ingest([(n, text(role, n, rnd)) for n in names])
                assert not rep.failed and not rep.cancelled, rep
            elif role == "reindex":
                col.set_config(CollectionConfig(chunk_size=SIZES[rnd], chunk_overlap=0))
                assert col.reindex().ok
            elif role == "delete":
                docs = col.documents()
                if docs:
                    try:
                        col.delete_document(random.Random(rnd).choice(docs).doc_id)
                    except KnowledgeError:  # replaced by an ingest since it was listed: a lost race, not a fault
                        pass
        except BaseException:
            errors.put(f"{role} round {rnd}:\n{traceback.format_exc()}")
        try:
            barrier.wait(WAIT_S)
        except threading.BrokenBarrierError:
            return


def read_while(col, embedder, stop: threading.Event, errors: list, counts: dict) -> list[threading.Thread]:
    """Queries with "Show in context" and a chunk sweep, looping until `stop` (this process's readers)."""
    def queries():
        rng = random.Random(1)
        while not stop.is_set():
            try:
                for hit in col.query(f"{rng.choice(WORDS)} {rng.choice(WORDS)}", k=4):
                    try:
                        doc = col.get_document(hit.chunk.doc_id)
                        assert doc.text[hit.chunk.start:hit.chunk.end] == hit.chunk.text
                    except KnowledgeError:  # deleted or replaced between the query and this read
                        counts["gone"] += 1
                counts["queries"] += 1
            except BaseException:
                errors.append(traceback.format_exc())
                return
            time.sleep(0.02)

    def sweep():
        while not stop.is_set():
            try:
                docs = []
                for d in col.documents():
                    try:
                        docs.append(col.get_document(d.doc_id))
                    except KnowledgeError:
                        counts["gone"] += 1
                qs = [Question(id=f"q{i}", question=f"{WORDS[i]} {WORDS[i + 1]}", source_document=d.name)
                      for i, d in enumerate(docs[:5])]
                if qs:
                    res = run_sweep(docs, qs, SweepGrid(sizes=(80, 160), overlaps=(0,), ks=(3,)), embedder)
                    assert len(res.rows) == 2 and res.scratch_created == res.scratch_dropped
                    counts["sweeps"] += 1
            except BaseException:
                errors.append(traceback.format_exc())
                return

    threads = [threading.Thread(target=queries), threading.Thread(target=sweep)]
    for t in threads:
        t.start()
    return threads


def stress(settings: Settings) -> None:
    embedder = FakeEmbedder()
    kb = KnowledgeBase(settings, embedder)
    col = kb.create("stress", CollectionConfig(chunk_size=100, chunk_overlap=0))
    col.ingest([(n, text("seed", n, -1)) for n in SHARED])
    before = set(c.name for c in chroma_client(settings).list_collections()) - {col.key}
    ctx = multiprocessing.get_context("spawn")
    roles = ["A", "B", "reindex", "delete"]
    barrier, errors = ctx.Barrier(len(roles) + 1), ctx.Queue()
    procs = [ctx.Process(target=writer, args=(r, settings, barrier, errors), daemon=True) for r in roles]
    for p in procs:
        p.start()
    read_errors: list[str] = []
    counts = {"queries": 0, "sweeps": 0, "gone": 0}
    try:
        for rnd in range(ROUNDS):
            stop = threading.Event()
            readers = read_while(col, embedder, stop, read_errors, counts)
            t0 = time.perf_counter()
            barrier.wait(WAIT_S)  # go
            barrier.wait(WAIT_S)  # every writer done
            stop.set()
            for t in readers:
                t.join(WAIT_S)
            problems = []
            while True:
                try:
                    problems.append(errors.get_nowait())
                except queue.Empty:
                    break
            assert not problems and not read_errors, "\n".join(problems + read_errors)
            check_invariants(col, embedder)
            entry = col.entry()
            assert entry["indexed_config"]["chunk_size"] == SIZES[rnd] and not col.stale
            names = {d.name for d in col.documents()}
            everyone = set(SHARED) | {"only-A.txt", "only-B.txt"}
            assert names <= everyone and len(everyone - names) <= 1, names  # the delete removed one at most
            # Every name holds this round's upload (A's or B's, whichever committed last), never an older one.
            assert all(f"round {rnd}." in col.get_document(d.doc_id).text for d in col.documents())
            # No orphans: the one live index in Chroma and its one folder of texts.
            now = set(c.name for c in chroma_client(settings).list_collections())
            assert now - before == {entry["key"]}, now - before
            assert [p.name for p in (knowledge_dir(settings) / "docs").iterdir()] == [entry["key"]]
            print(f"round {rnd}: {time.perf_counter() - t0:.1f} s, {len(names)} documents, {col.count()} chunks")
    except BaseException:
        barrier.abort()  # the writers stop instead of waiting for a round that never comes
        raise
    finally:
        for p in procs:
            p.join(WAIT_S)
            if p.is_alive():
                p.kill()
    assert all(p.exitcode == 0 for p in procs)
    assert counts["queries"] and counts["sweeps"], counts
    print(counts)


@pytest.mark.slow
def test_stress_embedded(settings):
    stress(settings)


@pytest.mark.slow
def test_stress_server(isolated_storage, monkeypatch, chroma_server):  # noqa: F811
    monkeypatch.setenv("WORKBENCH_CHROMA_URL", chroma_server)
    stress(Settings.from_env().ensure_dirs())
