"""Chunking preview: what each setting does to a real document, before anything is (re-)indexed."""
import hashlib

import streamlit as st

from workbench.knowledge import KnowledgeError
from workbench.knowledge.chunking import sentence_spans
from workbench.knowledge.figures import token_histogram
from workbench.knowledge.preview import Preview, page_window, render_html
from workbench.ui import state
from workbench.ui.knowledge import (
    collection_picker, config_inputs, document_source, flash, preview_chunks, preview_metrics, show_flash, stale_notice,
)
from workbench.ui.resources import get_embedder, get_kb

SEMANTIC_ASK_ABOVE = 400  # sentences to embed before the page asks first (about 10 s on 2 CPU cores)

st.title("Chunking preview")
st.caption("Tune chunk settings on a real document: boundaries, overlaps and token lengths update at once; "
           "nothing is indexed until you save and re-index.")
show_flash()
kb = get_kb()
if not (name := collection_picker("kn_chunk_collection")):
    st.stop()
col = kb.get(name)

stale_notice(col)
doc = document_source(col)
if doc is None:
    st.stop()

cfg = config_inputs(col.config, f"kn_cfg_{col.key}", show_model=False)
if isinstance(cfg, str):
    st.error(cfg)
    st.stop()
try:
    embedder = get_embedder(cfg.embedding_model)
except Exception as e:  # noqa: BLE001 - a missing model is a message, not a trace
    st.error(f"Embedding model unavailable: {e}")
    st.stop()
if cfg.strategy == "semantic":
    # Semantic chunking embeds every sentence first: ask before a long embedding run.
    sents = [doc.text[a:b] for a, b in sentence_spans(doc.text)]
    missing = len(sents) - len(kb.cache.get_many(embedder.name, sents))
    if missing > SEMANTIC_ASK_ABOVE and st.session_state.get(state.KNOWLEDGE_SEMANTIC_OK) != doc.doc_id:
        st.info(f"Semantic chunking embeds each of the {len(sents)} sentences of this document "
                f"({missing} not embedded before). That takes a while on a CPU; the vectors are cached.")
        if st.button(f"Embed {missing} sentences and preview", type="primary"):
            st.session_state[state.KNOWLEDGE_SEMANTIC_OK] = doc.doc_id
            st.rerun()
        st.stop()
source_key = hashlib.sha256(f"{doc.doc_id}:{len(doc.text)}".encode()).hexdigest()
pv = Preview(doc=doc, config=cfg, chunks=preview_chunks(source_key, cfg.to_json(), doc),
             token_limit=embedder.max_tokens)

if cfg != col.config:
    c1, c2 = st.columns([3, 1])
    c1.info("These settings differ from the collection's. Save them to use them for new uploads and re-indexing.")
    if c2.button("Save settings to collection", type="primary"):
        try:
            col.set_config(cfg)
            flash("success", f"Saved the chunk settings of '{name}'.")
        except KnowledgeError as e:
            flash("error", str(e))
        st.rerun()

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
st.caption("Alternating colours: chunks (numbered); red, wavy underline: overlap shared by two chunks; "
           "grey: text in no chunk.")
st.html(render_html(doc, pv.chunks, start, end))
