"""Knowledge-base glue for the pages: the cached KnowledgeBase, a collection picker, settings widgets."""
from __future__ import annotations

import streamlit as st

from workbench.knowledge import CollectionConfig, IngestReport, KnowledgeBase
from workbench.knowledge.config import STRATEGIES, STRATEGY_LABELS, UNITS
from workbench.knowledge.parsing import SUPPORTED
from workbench.settings import BUNDLED_EMBEDDER
from workbench.ui import state
from workbench.ui.resources import get_settings

UPLOAD_TYPES = [e.lstrip(".") for e in SUPPORTED]


@st.cache_resource
def get_kb() -> KnowledgeBase:
    """The app's knowledge base (one Chroma client and embedding cache per process)."""
    return KnowledgeBase(get_settings())


def collection_picker(key: str, label: str = "Collection", help: str | None = None) -> str | None:
    """A selectbox of collections that remembers the active one across pages; None when there are none."""
    names = get_kb().names()
    if not names:
        st.info("No collections yet. Create one, or load the sample workspace, on the **Collections** page.")
        return None
    current = st.session_state.get(state.ACTIVE_COLLECTION)
    index = names.index(current) if current in names else 0
    name = st.selectbox(label, names, index=index, key=key, help=help)
    st.session_state[state.ACTIVE_COLLECTION] = name
    return name


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


def show_report(name: str, rep: IngestReport) -> None:
    """One upload's outcome: what was added, replaced, unchanged, and each failure with its reason."""
    done = len(rep.added) + len(rep.replaced)
    msg = (f"**{name}**: {len(rep.added)} added, {len(rep.replaced)} replaced, {len(rep.unchanged)} unchanged, "
           f"{len(rep.failed)} failed; {rep.n_chunks} chunks written, {rep.n_embedded} texts embedded "
           f"in {rep.seconds:.1f} s.")
    if rep.cancelled:
        st.warning(msg + f" Cancelled: {len(rep.skipped)} file(s) not processed.")
    elif rep.failed and not done:
        st.error(msg)
    elif rep.failed:
        st.warning(msg)
    else:
        st.success(msg)
    for f in rep.failed:
        st.error(f"**{f.name}**: {f.reason}", icon=":material/error:")
    for n in rep.notes:
        st.info(n)


@st.cache_data(max_entries=32, show_spinner="Chunking the document...")
def preview_chunks(source_key: str, config_json: str, _doc):
    """Chunks of a document under a config, cached per (document, settings): a changed setting re-chunks only."""
    from workbench.knowledge.chunking import chunk_document
    from workbench.knowledge.store import cached_embed
    from workbench.ui.resources import get_embedder

    cfg = CollectionConfig.from_json(config_json)
    embedder = get_embedder(cfg.embedding_model)
    # Semantic chunking embeds sentences: through the shared cache, so the next change is instant.
    return tuple(chunk_document(_doc, cfg, embedder, cached_embed(get_kb().cache, embedder)))
