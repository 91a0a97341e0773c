"""Retrieval settings and the per-collection defaults that the arena and the evaluation start from."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from workbench.files import write_json_atomic
from workbench.settings import Settings

MODES = ("dense", "bm25", "hybrid", "mmr")
MODE_LABELS = {
    "dense": "Dense (Chroma, cosine)",
    "bm25": "BM25 (sparse)",
    "hybrid": "Hybrid (dense + BM25 scores fused)",
    "mmr": "MMR (diverse dense)",
}


@dataclass(frozen=True)
class RetrievalSettings:
    """How passages are fetched for a question; validated on construction."""

    mode: str = "hybrid"  # hybrid is the most robust default: exact terms and paraphrases both hit
    k: int = 4  # passages handed to the model; 4 fits SmolLM2's 2k-token window with room to answer
    threshold: float | None = None  # minimum raw score in the mode's own metric; None keeps all k
    # Share of the (min-max scaled) cosine in the fused score; 1 - it goes to BM25. 0.4 was best or tied on
    # the tune half of all three development sets (bench/RESULTS.md, 2026-11-30).
    hybrid_weight: float = 0.4
    mmr_lambda: float = 0.5  # 1.0 = pure relevance, 0.0 = pure diversity
    doc_ids: tuple[str, ...] = ()  # restrict to these documents; empty means all
    rerank: bool = True  # re-order with the cross-encoder WORKBENCH_RERANKER_MODEL names, when one is set

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if not 1 <= int(self.k) <= 100:
            raise ValueError(f"k must be between 1 and 100, not {self.k}")
        if not 0.0 <= self.hybrid_weight <= 1.0:
            raise ValueError("hybrid_weight must be between 0 and 1")
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ValueError("mmr_lambda must be between 0 and 1")
        object.__setattr__(self, "k", int(self.k))
        object.__setattr__(self, "doc_ids", tuple(self.doc_ids))

    def to_json(self) -> dict:
        return {**asdict(self), "doc_ids": list(self.doc_ids)}

    @classmethod
    def from_json(cls, data: dict) -> "RetrievalSettings":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def with_(self, **changes) -> "RetrievalSettings":
        return replace(self, **changes)


def _defaults_path(settings: Settings) -> Path:
    return settings.storage / "retrieval_defaults.json"


def _read_all(settings: Settings) -> dict:
    path = _defaults_path(settings)
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def load_defaults(settings: Settings, collection_name: str | None = None) -> RetrievalSettings:
    """Saved settings for this collection, else the global ones, else RetrievalSettings()."""
    data = _read_all(settings)
    for key in ([f"collection:{collection_name}"] if collection_name else []) + ["global"]:
        if key in data:
            try:
                return RetrievalSettings.from_json(data[key])
            except (TypeError, ValueError):
                continue  # a hand-edited, invalid entry falls back rather than breaking every page
    return RetrievalSettings()


def save_defaults(settings: Settings, rs: RetrievalSettings, collection_name: str | None = None) -> None:
    """Store `rs` as the default for `collection_name` (or globally), atomically."""
    data = _read_all(settings)
    # A document filter is a per-query choice, not a default worth carrying to other pages.
    data[f"collection:{collection_name}" if collection_name else "global"] = replace(rs, doc_ids=()).to_json()
    write_json_atomic(_defaults_path(settings), data, indent=2)


def move_defaults(settings: Settings, old: str, new: str | None) -> None:
    """Carry collection `old`'s saved defaults over to its new name `new`; new=None drops them (deleted)."""
    data = _read_all(settings)
    # The new name's slot is cleared either way: a stale entry left by an older collection of that name
    # must not become this collection's defaults.
    moved = data.pop(f"collection:{old}", None)
    stale = data.pop(f"collection:{new}", None) if new else None
    if moved is None and stale is None:
        return
    if new and moved is not None:
        data[f"collection:{new}"] = moved
    write_json_atomic(_defaults_path(settings), data, indent=2)
