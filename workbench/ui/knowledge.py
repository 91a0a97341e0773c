"""Widgets the knowledge pages share: messages, the collection picker, chunk settings, an action's outcome."""
from __future__ import annotations

import streamlit as st

from workbench.knowledge import CollectionConfig, KnowledgeError
from workbench.knowledge.config import STRATEGIES, STRATEGY_LABELS, UNITS
from workbench.settings import BUNDLED_EMBEDDER
from workbench.ui import safe, state
from workbench.ui.resources import get_kb


def flash(kind: str, message: str) -> None:
    """Queue a message ("success", "error", ...) for the next run of a knowledge page."""
    state.flash(state.KNOWLEDGE_FLASH, message, kind)


def show_flash() -> None:
    state.show_flash(state.KNOWLEDGE_FLASH)


def collection_picker(key: str, label: str = "Collection", help: str | None = None) -> str | None:
    """A selectbox of collections that remembers the active one across pages; None when there are none."""
    names = get_kb().names()
    if not names:
        st.info("No collections yet. Create one, or load the sample workspace, on the **Collections** page.")
        return None
    return state.collection_box(label, names, key, help=help)


def chosen_collection(key: str):
    """The collection picked in a collection_picker, or None (with a hint) when there is none."""
    name = collection_picker(key)
    return get_kb().get(name) if name else None


def config_inputs(base: CollectionConfig, key: str, show_model: bool = True) -> CollectionConfig | str:
    """Widgets for chunk settings starting from `base`; the new config, or an error message."""
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    strategy = c1.selectbox("Chunking strategy", STRATEGIES, index=STRATEGIES.index(base.strategy),
                            format_func=STRATEGY_LABELS.get, key=f"{key}_strategy")
    unit_options = ["tokens"] if strategy == "token" else list(UNITS)
    unit = c2.selectbox("Unit", unit_options, index=unit_options.index(base.unit) if base.unit in unit_options else 0,
                        key=f"{key}_unit_{strategy == 'token'}",
                        help="Characters, or tokens of the embedding model's own tokenizer.")
    size = c3.number_input("Chunk size", min_value=16, max_value=100_000, value=int(base.chunk_size), step=50,
                           key=f"{key}_size")
    overlap = c4.number_input("Overlap", min_value=0, max_value=50_000, value=int(base.chunk_overlap), step=10,
                              key=f"{key}_overlap", disabled=strategy == "semantic",
                              help="Semantic chunks break at topic shifts, so they do not overlap.")
    model = base.embedding_model
    if show_model:
        model = st.text_input("Embedding model", value=base.embedding_model, key=f"{key}_model",
                              help=f"'{BUNDLED_EMBEDDER}' (bundled, offline) or a local sentence-transformers folder.")
    try:
        return CollectionConfig(embedding_model=model.strip(), strategy=strategy, chunk_size=int(size),
                                chunk_overlap=0 if strategy == "semantic" else int(overlap), unit=unit)
    except ValueError as e:
        return str(e)


def flash_outcome(action, message: str) -> None:
    """Run `action`; queue `message`, or the KnowledgeError it raised, for the next run; rerun either way."""
    try:
        action()
        flash("success", message)
    except KnowledgeError as e:
        flash("error", safe.text(e))
    st.rerun()
