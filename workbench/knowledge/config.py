"""A collection's settings: which embedder, and how documents are cut into chunks."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from workbench.settings import BUNDLED_EMBEDDER

STRATEGIES = ("recursive", "token", "sentence", "markdown", "semantic")
UNITS = ("chars", "tokens")

STRATEGY_LABELS = {
    "recursive": "Recursive character",
    "token": "Token windows (embedder's tokenizer)",
    "sentence": "Sentences",
    "markdown": "Markdown headers",
    "semantic": "Semantic (similarity drops)",
}


class ConfigError(ValueError):
    """A setting outside its allowed range; the message says which and why."""


@dataclass(frozen=True)
class CollectionConfig:
    """How a collection embeds and chunks; validated on creation, round-trips through JSON."""

    embedding_model: str = BUNDLED_EMBEDDER
    strategy: str = "recursive"
    # Target chunk length in `unit`s. 800 chars ~ 180 MiniLM tokens: under its 256-token window.
    chunk_size: int = 800
    # Shared length between neighbouring chunks, in `unit`s; keeps a sentence cut at a boundary findable.
    chunk_overlap: int = 100
    unit: str = "chars"

    def __post_init__(self):
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"Unknown chunking strategy '{self.strategy}'; pick one of {', '.join(STRATEGIES)}.")
        if self.unit not in UNITS:
            raise ConfigError(f"Unknown unit '{self.unit}'; pick 'chars' or 'tokens'.")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 16:
            raise ConfigError("Chunk size must be a whole number of at least 16.")
        if self.chunk_size > 100_000:
            raise ConfigError("Chunk size must be at most 100,000.")
        if not isinstance(self.chunk_overlap, int) or self.chunk_overlap < 0:
            raise ConfigError("Chunk overlap must be zero or more.")
        if self.chunk_overlap >= self.chunk_size:
            raise ConfigError("Chunk overlap must be smaller than the chunk size.")
        if not self.embedding_model:
            raise ConfigError("An embedding model is required.")
        # The token strategy measures in tokens by definition.
        if self.strategy == "token" and self.unit != "tokens":
            object.__setattr__(self, "unit", "tokens")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "CollectionConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)

    @classmethod
    def from_json(cls, s: str) -> "CollectionConfig":
        return cls.from_dict(json.loads(s))

    def chunking_key(self) -> tuple:
        """What decides the chunks (the embedding model too: it counts the tokens)."""
        return (self.embedding_model, self.strategy, self.chunk_size, self.chunk_overlap, self.unit)
