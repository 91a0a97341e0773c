"""Knowledge-base glue for the pages: a collection picker, settings widgets, ingest reports, previews."""
from __future__ import annotations

import streamlit as st

from workbench.knowledge import CollectionConfig, IngestReport
from workbench.knowledge.config import STRATEGIES, STRATEGY_LABELS, UNITS
from workbench.knowledge.parsing import SUPPORTED
from workbench.settings import BUNDLED_EMBEDDER
from workbench.ui import state
from workbench.ui.resources import get_embedder, get_kb, get_settings

UPLOAD_TYPES = [e.lstrip(".") for e in SUPPORTED]


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

    cfg = CollectionConfig.from_json(config_json)
    embedder = get_embedder(cfg.embedding_model)
    # Semantic chunking embeds sentences: through the shared cache, so the next change is instant.
    return tuple(chunk_document(_doc, cfg, embedder, cached_embed(get_kb().cache, embedder)))


def stale_notice(col) -> None:
    """Say when a collection's index lags behind its settings, and offer re-indexing with progress."""
    if not col.stale:
        return
    ic = col.indexed_config
    st.warning(f"The settings of **{col.name}** differ from those its index was built with "
               f"({ic.strategy}, {ic.chunk_size} {ic.unit}, overlap {ic.chunk_overlap}). Retrieval still uses "
               "the old chunks until you re-index.", icon=":material/sync_problem:")
    if st.button("Re-index now", type="primary"):
        st.button("Cancel", help="Stops re-indexing; the current index stays as it was.")
        bar = st.progress(0.0, "Re-indexing...")
        rep = col.reindex(progress=lambda f, m: bar.progress(min(1.0, f), m))
        flash(
            "success", f"Re-indexed {len(rep.replaced)} documents: {rep.n_chunks} chunks, "
                       f"{rep.n_embedded} new texts embedded (the rest came from the cache), {rep.seconds:.1f} s.")
        st.rerun()


def document_source(col):
    """A document of the collection, or a file uploaded only to preview; None (with a message) otherwise."""
    from workbench.knowledge import ParseError
    from workbench.knowledge.parsing import parse

    docs = {d.doc_id: d for d in col.documents()}
    source = st.radio("Document", ["From the collection", "Upload a file to preview"], horizontal=True,
                      index=0 if docs else 1, key="kn_chunk_source")
    if source == "From the collection":
        if not docs:
            st.info(f"**{col.name}** has no documents yet: upload one here to preview, "
                    "or add some on the Collections page.")
            return None
        ids = list(docs)
        cur = st.session_state.get(state.KNOWLEDGE_PREVIEW_DOC)
        doc_id = st.selectbox("Document", ids, index=ids.index(cur) if cur in ids else 0,
                              format_func=lambda i: f"{docs[i].name} ({docs[i].n_chunks} chunks indexed)")
        st.session_state[state.KNOWLEDGE_PREVIEW_DOC] = doc_id
        return col.get_document(doc_id)
    up = st.file_uploader("A document to preview (not indexed)", key="kn_preview_upload")
    if up is None:
        return None
    try:
        return parse(up.name, up.getvalue(), int(get_settings().max_upload_mb * 1e6))
    except ParseError as e:
        st.error(f"**{e.name}**: {e.reason}")
        return None


def preview_metrics(pv, embedder_name: str) -> None:
    """Chunk count, token lengths, truncation and coverage of a preview, with a warning on truncation."""
    toks = pv.tokens
    m = st.columns(5)
    m[0].metric("Chunks", len(pv.chunks))
    m[1].metric("Median tokens", sorted(toks)[len(toks) // 2] if toks else 0)
    m[2].metric("Max tokens", max(toks) if toks else 0)
    m[3].metric("Over the model limit", pv.n_truncated,
                help=f"{embedder_name} reads at most {pv.token_limit} tokens; the rest of a longer chunk is "
                     "silently ignored when it is embedded.")
    m[4].metric("Text covered", f"{pv.coverage:.0%}")
    if pv.n_truncated:
        st.warning(f"{pv.n_truncated} of {len(pv.chunks)} chunks exceed the embedding model's {pv.token_limit}-token "
                   "window and would be truncated. Use a smaller size, the tokens unit, or token windows.")
