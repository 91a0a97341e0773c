"""The one chromadb internal the knowledge store relies on (chromadb is pinned in requirements.txt).

An embedded PersistentClient keeps the vector index in memory and never sees another process's
writes (the app's long-lived client misses what a worker indexed). chromadb shares one "system" per
storage path through the class-level registries `SharedSystemClient._identifier_to_system` and
`_identifier_to_refcount`, so even a new client for that path would reuse the stale index. Dropping
the path from both makes the next client load the index from disk. tests/test_compat.py fails when
an upgrade renames those registries or keys them differently.
"""
from __future__ import annotations


def forget_shared_system(path: str) -> None:
    """Make the next PersistentClient(path) in this process start afresh, reading the index from disk."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)
