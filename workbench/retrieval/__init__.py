"""Retrieval: dense, BM25, hybrid and MMR search over a collection, its evaluation and the chunk sweep."""
from workbench.retrieval.config import MODES, RetrievalSettings, load_defaults, save_defaults
from workbench.retrieval.search import retrieve

__all__ = ["MODES", "RetrievalSettings", "load_defaults", "save_defaults", "retrieve"]
