"""Sections of the Documents page: the collection's documents (a guessed encoding read again in place), one
document's chunks, and its deletion."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.knowledge import KnowledgeError
from workbench.knowledge.decoding import ENCODINGS, UndecodableText, rereadable, stored_bytes
from workbench.knowledge.figures import chunk_tokens_figure
from workbench.knowledge.preview import render_html
from workbench.types import page_label
from workbench.ui import safe, tables
from workbench.ui.knowledge import flash, flash_outcome

# Kinds whose stored text is the decoded file itself (HTML's is extracted from markup: that needs the file).
REREADABLE = ("txt", "md")


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
    tables.show(table, width="stretch")
    by_id = {d.doc_id: d for d in docs}
    doc_id = st.selectbox("Document", list(by_id), format_func=lambda i: by_id[i].name, key="kn_docs_doc")
    if by_id[doc_id].encoding_guessed:
        encoding_override(col, by_id[doc_id])
    return by_id[doc_id]


def encoding_override(col, info) -> None:
    """A document whose encoding was a guess: the warning, and reading it again with the encoding the user
    picks, from its stored text (the bytes it was read from, decoding.stored_bytes), under the same name."""
    if info.kind not in REREADABLE:
        st.warning(f"Not UTF-8: read as {info.encoding}, a guess. If its characters look wrong, upload it again "
                   "on the **Collections** page with its **Text encoding** chosen.", icon=":material/translate:")
        return
    st.warning(f"Not UTF-8: read as {info.encoding}, a guess. If its characters look wrong, read it again "
               "with its encoding (below).", icon=":material/translate:")
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    choice = c1.selectbox("Its encoding", [e for e in ENCODINGS if e != info.encoding and rereadable(info.encoding, e)],
                          key=f"kn_docs_encoding_{info.doc_id}")
    if not c2.button(f"Read it again as {choice}", key=f"kn_docs_reread_{info.doc_id}",
                     icon=":material/translate:"):
        return
    try:
        raw = stored_bytes(col.get_document(info.doc_id).text, info.encoding)
    except UndecodableText as e:
        flash("error", f"**{safe.text(info.name)}** {safe.text(e)}")
        st.rerun()
    try:
        with st.spinner(f"Reading {safe.text(info.name)} again as {choice}..."):
            rep = col.ingest([(info.name, raw)], encoding=choice, reread=True)
    except KnowledgeError as e:
        flash("error", safe.text(e))
        st.rerun()
    if rep.failed:
        flash("error", f"**{safe.text(info.name)}** was kept as it was: {safe.text(rep.failed[0].reason)}")
    else:
        flash("success", f"**{safe.text(info.name)}** read again as {choice}: {rep.n_chunks} chunks.")
    st.rerun()


def chunks_section(col, info) -> None:
    """The document's chunks: token lengths, a table (by page for a PDF) and one chunk in full."""
    doc_id = info.doc_id
    chunks = col.chunks(doc_id)
    if not chunks:
        st.warning("This document has no chunks in the index.")
        return
    df = pd.DataFrame([{"chunk": c.index, "pages": page_label(c.page, c.page_end) or "-", "start": c.start,
                        "end": c.end, "tokens": c.n_tokens, "text": c.text} for c in chunks])
    st.plotly_chart(chunk_tokens_figure(chunks, col.embedder.max_tokens, by_page=info.kind == "pdf"),
                    width="stretch")
    pages = sorted({p for c in chunks if c.page is not None for p in range(c.page, c.page_end + 1)})
    if pages:
        page = st.selectbox("Page", ["all"] + pages, key=f"kn_docs_page_{doc_id}",
                            help="The chunks with text on this page, those running onto it from the page before "
                                 "or on to the next included.")
        if page != "all":
            df = df[[c.on_page(page) for c in chunks]]
    tables.show(df, width="stretch", column_config={"text": st.column_config.TextColumn(width="large")})
    with st.expander("Read a chunk in full"):
        idx = st.number_input("Chunk", 0, len(chunks) - 1, 0, key=f"kn_docs_chunk_{doc_id}")
        c = chunks[int(idx)]
        pages = page_label(c.page, c.page_end)
        st.caption(f"Characters {c.start}-{c.end}" + (f", {pages}" if pages else "") + f", {c.n_tokens} tokens")
        if c.page_end != c.page:  # where its next page begins, marked in the text
            st.html(render_html(col.get_document(doc_id), [c], c.start, c.end))
        else:
            st.text(c.text)


def delete_section(col, info) -> None:
    """Delete the document and its chunks, after a confirmation."""
    sure = st.checkbox(f"Yes, delete '{safe.text(info.name)}' and its {info.n_chunks} chunks",
                       key=f"kn_docs_sure_{info.doc_id}")
    if st.button("Delete document", disabled=not sure, icon=":material/delete:"):
        flash_outcome(lambda: col.delete_document(info.doc_id),
                      f"Deleted '{safe.text(info.name)}' from '{safe.text(col.name)}'.")
