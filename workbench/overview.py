"""The home page's numbers: what the workspace holds right now, read from storage."""
from __future__ import annotations

from dataclasses import dataclass

from workbench.settings import Settings


@dataclass(frozen=True)
class WorkspaceCounts:
    collections: int
    documents: int
    chunks: int
    adapters: int
    eval_runs: int


def workspace_counts(settings: Settings, kb=None) -> WorkspaceCounts:
    """Collections, documents, chunks, adapters and evaluation runs in this storage root."""
    from workbench.evaluation.runs import list_runs
    from workbench.finetune.adapters import AdapterRegistry
    from workbench.knowledge import KnowledgeBase

    infos = (kb or KnowledgeBase(settings)).list_collections()
    return WorkspaceCounts(
        collections=len(infos),
        documents=sum(c.n_documents for c in infos),
        chunks=sum(c.n_chunks for c in infos),
        adapters=len(AdapterRegistry(settings).list()),
        eval_runs=len(list_runs(settings)),
    )
