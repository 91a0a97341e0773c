"""Sections of the Chunking preview page: collection and document, settings, the preview and its marked-up text."""
from __future__ import annotations

import hashlib

import streamlit as st

from workbench import jobs
from workbench.knowledge import CollectionConfig
from workbench.knowledge.chunking import sentence_spans
from workbench.knowledge.figures import token_histogram
from workbench.knowledge.jobs import latest_reindex, report_from_json, submit_reindex
from workbench.knowledge.preview import Preview, page_window, render_html
from workbench.models.embedder import texts_per_second
from workbench.ui import safe, state
from workbench.ui.knowledge import chosen_collection, config_inputs, flash_outcome
from workbench.ui.resources import get_embedder, get_kb, get_settings
from workbench.ui.retrieval import finished_here, is_active, job_panel, job_result, start_job

SEMANTIC_ASK_ABOVE = 400  # sentences to embed before the page asks first (about 10 s on 2 CPU cores)


def collection_section():
    """The collection to preview, with a re-index offer when its index lags; None when there is none."""
    col = chosen_collection("kn_chunk_collection")
    if col is not None:
        stale_notice(col)
    return col


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
    """Say when a collection's index lags behind its settings, and offer re-indexing (a background job)."""
    reindex_finished(col, state.KNOWLEDGE_FLASH)
    if not col.stale:
        return
    ic = col.indexed_config
    st.warning(f"The settings of **{safe.text(col.name)}** differ from those its index was built with "
               f"({ic.strategy}, {ic.chunk_size} {ic.unit}, overlap {ic.chunk_overlap}). Retrieval still uses "
               "the old chunks until you re-index.", icon=":material/sync_problem:")
    reindex_control(col, "Re-index now", state.KNOWLEDGE_FLASH)


def reindex_finished(col, flash_key: str) -> None:
    """Once a re-index this session started has ended: what it did (or why not) as a message, page rerun."""
    settings = get_settings()
    if (done := finished_here(settings, f"reindex:{col.name}")) is None:
        return
    if done.state == jobs.FAILED:
        state.flash(flash_key, f"Re-indexing '{safe.text(col.name)}' failed: {safe.text(done.error)}", "error")
    elif (rep := job_result(settings, done, report_from_json)) is None or rep.cancelled:
        state.flash(flash_key, f"Re-indexing '{safe.text(col.name)}' was cancelled: the index stays as it was.",
                    "warning")
    else:
        state.flash(flash_key, f"Re-indexed {len(rep.replaced)} documents of '{safe.text(col.name)}': "
                               f"{rep.n_chunks} chunks, {rep.n_embedded} new texts embedded (the rest came from "
                               f"the cache), {rep.seconds:.1f} s.")
    st.rerun()


def reindex_control(col, label: str, flash_key: str) -> None:
    """The running re-index's panel, else (when the index lags its settings) a button that starts one;
    its outcome is flashed under `flash_key` when it ends."""
    reindex_finished(col, flash_key)
    settings = get_settings()
    job = latest_reindex(settings, col.name)
    if is_active(job):
        job_panel(settings, job, f"Re-indexing '{col.name}'")
    elif col.stale and st.button(label, type="primary", icon=":material/refresh:",
                                 help="Runs in the background; the current index serves until it is done."):
        start_job(submit_reindex, settings, col.name, started_key=f"reindex:{col.name}")


def document_source(col):
    """A document of the collection, or a file uploaded only to preview; None (with a message) otherwise."""
    from workbench.knowledge import ParseError
    from workbench.knowledge.parsing import parse

    docs = {d.doc_id: d for d in col.documents()}
    source = st.radio("Document", ["From the collection", "Upload a file to preview"], horizontal=True,
                      index=0 if docs else 1, key="kn_chunk_source")
    if source == "From the collection":
        if not docs:
            st.info(f"**{safe.text(col.name)}** has no documents yet: upload one here to preview, "
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
        st.error(f"**{safe.text(e.name)}**: {safe.text(e.reason)}")
        return None


def preview_metrics(pv, embedder_name: str) -> None:
    """Chunk count, token lengths, truncation and coverage of a preview, with a warning on truncation."""
    toks = pv.tokens
    m = st.columns(5)
    m[0].metric("Chunks", len(pv.chunks))
    m[1].metric("Median tokens", sorted(toks)[len(toks) // 2] if toks else 0)
    m[2].metric("Max tokens", max(toks) if toks else 0)
    m[3].metric("Over the model limit", pv.n_truncated,
                help=f"{safe.text(embedder_name)} reads at most {pv.token_limit} tokens; the rest of a longer chunk is "
                     "silently ignored when it is embedded.")
    m[4].metric("Text covered", f"{pv.coverage:.0%}")
    if pv.n_truncated:
        st.warning(f"{pv.n_truncated} of {len(pv.chunks)} chunks exceed the embedding model's {pv.token_limit}-token "
                   "window and would be truncated. Use a smaller size, the tokens unit, or token windows.")


def settings_section(col):
    """Chunk settings starting from the collection's, and their embedder; None (with the reason) when unusable."""
    cfg = config_inputs(col.config, f"kn_cfg_{col.key}", show_model=False)
    if isinstance(cfg, str):
        st.error(safe.text(cfg))
        return None
    try:
        embedder = get_embedder(cfg.embedding_model)
    except Exception as e:  # noqa: BLE001 - a missing model is a message, not a trace
        st.error(f"Embedding model unavailable: {safe.text(e)}")
        return None
    return cfg, embedder


def semantic_ready(doc, cfg: CollectionConfig, embedder) -> bool:
    """False (after asking) while a semantic preview would embed many new sentences the user has not agreed to."""
    if cfg.strategy != "semantic":
        return True
    # Semantic chunking embeds every sentence first: ask before a long embedding run.
    sents = [doc.text[a:b] for a, b in sentence_spans(doc.text)]
    missing = len(sents) - len(get_kb().cache.get_many(embedder.name, sents))
    if missing <= SEMANTIC_ASK_ABOVE or st.session_state.get(state.KNOWLEDGE_SEMANTIC_OK) == doc.doc_id:
        return True
    per_s = texts_per_second(embedder, sents[:16])  # this machine's speed on this document's sentences
    took = missing / per_s
    st.info(f"Semantic chunking embeds each of the {len(sents)} sentences of this document "
            f"({missing} not embedded before): about {took:.0f} s here at {per_s:.0f} sentences/s, measured. "
            "The vectors are cached, so the next preview of this document is quick.")
    if st.button(f"Embed {missing} sentences and preview", type="primary"):
        st.session_state[state.KNOWLEDGE_SEMANTIC_OK] = doc.doc_id
        st.rerun()
    return False


def preview_section(col, doc, cfg: CollectionConfig, embedder) -> None:
    """The chunks under `cfg`: save offer, metrics, token histogram and the text with every boundary marked."""
    source_key = hashlib.sha256(f"{doc.doc_id}:{len(doc.text)}".encode()).hexdigest()
    pv = Preview(doc=doc, config=cfg, chunks=preview_chunks(source_key, cfg.to_json(), doc),
                 token_limit=embedder.max_tokens)
    if cfg != col.config:
        c1, c2 = st.columns([3, 1])
        c1.info("These settings differ from the collection's. Save them to use them for new uploads and re-indexing.")
        if c2.button("Save settings to collection", type="primary"):
            flash_outcome(lambda: col.set_config(cfg), f"Saved the chunk settings of '{safe.text(col.name)}'.")
    if cfg.strategy == "token" and cfg.chunk_size > embedder.max_tokens:
        st.info(f"Token windows never pass the embedding model's own window: a size of {cfg.chunk_size} is cut at "
                f"{embedder.max_tokens} tokens for {safe.text(embedder.name)}.")
    preview_metrics(pv, embedder.name)
    st.plotly_chart(token_histogram(pv), width="stretch")
    if doc.kind == "pdf" and len(doc.page_starts) > 1:
        n = len(doc.page_starts)
        first, last = st.slider("Pages shown", 1, n, (1, min(n, 3)))
        start, end = page_window(doc, first, last)
    elif len(pv.chunks) > 40:
        a, b = st.slider("Chunks shown", 0, len(pv.chunks) - 1, (0, 29))
        start, end = pv.chunks[a].start, pv.chunks[b].end
    else:
        start, end = 0, len(doc.text)
    st.caption("Alternating colours: chunks (numbered; hover for their pages); red, wavy underline: overlap "
               "shared by two chunks; grey: text in no chunk" + ("; dashed line: a page begins." if doc.kind == "pdf"
                                                                 else "."))
    st.html(render_html(doc, pv.chunks, start, end))
