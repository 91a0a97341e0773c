"""Heavy shared objects, created once per Streamlit process through st.cache_resource: the only such module."""
from __future__ import annotations

import streamlit as st

from workbench.finetune.model import base_model_path
from workbench.knowledge import KnowledgeBase
from workbench.models.embedder import Embedder, load_embedder
from workbench.models.generator import LocalGenerator, load_generator
from workbench.models.registry import ModelError
from workbench.settings import Settings


@st.cache_resource
def get_settings() -> Settings:
    """Settings from the environment, storage folders created."""
    return Settings.from_env().ensure_dirs()


@st.cache_resource(show_spinner="Loading the embedding model...")
def get_embedder(name: str | None = None) -> Embedder:
    return load_embedder(get_settings(), name)


@st.cache_resource(show_spinner="Loading the generator (the first start converts the bundled GGUF, ~30 s)...")
def get_generator(name: str | None = None) -> LocalGenerator:
    return load_generator(get_settings(), name)


@st.cache_resource
def get_kb() -> KnowledgeBase:
    """The app's knowledge base (one Chroma client and embedding cache per process)."""
    return KnowledgeBase(get_settings())


@st.cache_resource(show_spinner="Loading the tokenizer...")
def get_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def base_tokenizer(settings: Settings, model: str | None = None):
    """The tokenizer of the base model that fine-tuning trains (default: settings.generator_model)."""
    return get_tokenizer(base_model_path(settings, model or settings.generator_model))


def show_model_error(e: ModelError) -> None:
    """A model problem as a readable message, never a stack trace."""
    st.error(f"Model unavailable: {e}")
