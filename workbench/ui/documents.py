"""Sections of the Documents page: the collection's documents, one document's chunks, and its deletion."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.knowledge.figures import chunk_tokens_figure
from workbench.ui import safe
from workbench.ui.knowledge import flash_outcome


def document_picker(col):
    """A table of the collection's documents and a picker; the chosen document's info, or None when there are none."""
    docs = col.documents()
    if not docs:
        st.info(f"**{safe.text(col.name)}** has no documents yet. Upload some on the **Collections** page.")
        return None
    table = pd.DataFrame([{"document": d.name, "type": d.kind, "pages": str(d.n_pages or "-"),
                           "characters": d.n_chars, "chunks": d.n_chunks,
                           "encoding": (d.encoding or "-") + (" (guessed)" if d.encoding_guessed else ""),
                           "added": pd.to_datetime(d.added_at, unit="s").strftime("%Y-%m-%d %H:%M"),
                           "id": d.doc_id} for d in docs])
    st.dataframe(table, hide_index=True, width="stretch")
    by_id = {d.doc_id: d for d in docs}
    doc_id = st.selectbox("Document", list(by_id), format_func=lambda i: by_id[i].name, key="kn_docs_doc")
    if by_id[doc_id].encoding_guessed:
        st.warning(f"Not UTF-8: read as {by_id[doc_id].encoding}, a guess. If its characters look wrong, upload "
                   "it again on the **Collections** page with its **Text encoding** chosen.",
                   icon=":material/translate:")
    return by_id[doc_id]


def chunks_section(col, info) -> None:
    """The document's chunks: token lengths, a table (by page for a PDF) and one chunk in full."""
    doc_id = info.doc_id
    chunks = col.chunks(doc_id)
    if not chunks:
        st.warning("This document has no chunks in the index.")
        return
    df = pd.DataFrame([{"chunk": c.index, "page": c.page, "start": c.start, "end": c.end, "tokens": c.n_tokens,
                        "text": c.text} for c in chunks])
    st.plotly_chart(chunk_tokens_figure(chunks, col.embedder.max_tokens, by_page=info.kind == "pdf"),
                    width="stretch")
    pages = sorted({c.page for c in chunks if c.page is not None})
    if pages:
        page = st.selectbox("Page", ["all"] + pages, key=f"kn_docs_page_{doc_id}")
        if page != "all":
            df = df[df["page"] == page]
    st.dataframe(df, hide_index=True, width="stretch",
                 column_config={"text": st.column_config.TextColumn(width="large")})
    with st.expander("Read a chunk in full"):
        idx = st.number_input("Chunk", 0, len(chunks) - 1, 0, key=f"kn_docs_chunk_{doc_id}")
        c = chunks[int(idx)]
        st.caption(f"Characters {c.start}-{c.end}" + (f", page {c.page}" if c.page else "") + f", {c.n_tokens} tokens")
        st.text(c.text)


def delete_section(col, info) -> None:
    """Delete the document and its chunks, after a confirmation."""
    sure = st.checkbox(f"Yes, delete '{safe.text(info.name)}' and its {info.n_chunks} chunks",
                       key=f"kn_docs_sure_{info.doc_id}")
    if st.button("Delete document", disabled=not sure, icon=":material/delete:"):
        flash_outcome(lambda: col.delete_document(info.doc_id),
                      f"Deleted '{safe.text(info.name)}' from '{safe.text(col.name)}'.")
