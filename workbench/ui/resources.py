"""The app's settings and its heavy objects from workbench.resources (the one cache), with a spinner on first load."""
from __future__ import annotations

import streamlit as st

from workbench import resources
from workbench.finetune.model import base_model_path
from workbench.knowledge import KnowledgeBase
from workbench.models.embedder import Embedder
from workbench.models.generator import ChatModel
from workbench.models.registry import ModelError
from workbench.settings import Settings
from workbench.ui import safe


@st.cache_resource
def get_settings() -> Settings:
    """Settings from the environment, storage folders created."""
    return Settings.from_env().ensure_dirs()


def _spinner(text: str):
    return lambda: st.spinner(text)


def get_embedder(name: str | None = None) -> Embedder:
    """The app's embedder `name` (default: the configured one)."""
    return resources.embedder(get_settings(), name, loading=_spinner("Loading the embedding model..."))


def get_generator(name: str | None = None) -> ChatModel:
    """The app's generator `name` (default: the configured one)."""
    return resources.generator(get_settings(), name, loading=_spinner(
        "Loading the generator (the first start converts the bundled GGUF, ~30 s)..."))


def get_kb() -> KnowledgeBase:
    """The app's knowledge base (one Chroma client and embedding cache per process)."""
    return resources.knowledge_base(get_settings())


def warm_up() -> None:
    """Start loading the models in the background, once per server process (not under AppTest's mock runtime)."""
    from streamlit.runtime import Runtime

    if Runtime.exists() and type(Runtime.instance()) is Runtime:
        resources.warm_up(get_settings())


def base_tokenizer(settings: Settings, model: str | None = None):
    """The tokenizer of the base model that fine-tuning trains (default: settings.generator_model)."""
    path = base_model_path(settings, model or settings.generator_model)
    return resources.tokenizer(path, loading=_spinner("Loading the tokenizer..."))


def show_model_error(e: ModelError) -> None:
    """A model problem as a readable message, never a stack trace."""
    st.error(f"Model unavailable: {safe.text(e)}")
