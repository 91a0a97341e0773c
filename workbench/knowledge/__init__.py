"""Knowledge bases: parse uploads, chunk them, embed and index the chunks in Chroma."""
from workbench.knowledge.catalog import (
    CollectionInfo, DocumentInfo, FileError, IngestReport, KnowledgeError,
)
from workbench.knowledge.collections import Collection, KnowledgeBase
from workbench.knowledge.config import STRATEGIES, UNITS, CollectionConfig, ConfigError
from workbench.knowledge.parsing import ParseError

__all__ = [
    "Collection", "CollectionConfig", "CollectionInfo", "ConfigError", "DocumentInfo", "FileError",
    "IngestReport", "KnowledgeBase", "KnowledgeError", "ParseError", "STRATEGIES", "UNITS",
]
