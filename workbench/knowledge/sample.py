"""The sample workspace's knowledge base: collection "sample-kb" built from the bundled documents."""
from __future__ import annotations

from workbench.knowledge.collections import KnowledgeBase
from workbench.sample import kb_files
from workbench.settings import Settings

SAMPLE_COLLECTION = "sample-kb"


def load(settings: Settings, progress=None, embedder=None) -> str:
    """Create (or top up) "sample-kb"; idempotent: unchanged files are not re-embedded."""
    col = KnowledgeBase(settings, embedder).get_or_create(SAMPLE_COLLECTION)
    files = [(p.name, p.read_bytes()) for p in kb_files()]
    rep = col.ingest(files, progress)
    return (f"collection '{SAMPLE_COLLECTION}': {len(col.documents())} documents, {col.count()} chunks "
            f"({len(rep.added) + len(rep.replaced)} new or changed, {len(rep.unchanged)} unchanged)"
            + rep.failed_note())
