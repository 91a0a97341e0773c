"""Document browser: per document its pages and chunks (text, offsets, tokens), and a delete action."""
import pandas as pd
import streamlit as st

from workbench.knowledge import KnowledgeError
from workbench.knowledge.figures import chunk_tokens_figure
from workbench.ui.knowledge import collection_picker, flash, show_flash
from workbench.ui.resources import get_kb

st.title("Documents")
show_flash()
kb = get_kb()
if not (name := collection_picker("kn_docs_collection")):
    st.stop()
col = kb.get(name)
docs = col.documents()
if not docs:
    st.info(f"**{name}** has no documents yet. Upload some on the **Collections** page.")
    st.stop()

table = pd.DataFrame([{"document": d.name, "type": d.kind, "pages": str(d.n_pages or "-"), "characters": d.n_chars,
                       "chunks": d.n_chunks, "added": pd.to_datetime(d.added_at, unit="s").strftime("%Y-%m-%d %H:%M"),
                       "id": d.doc_id} for d in docs])
st.dataframe(table, hide_index=True, width="stretch")

by_id = {d.doc_id: d for d in docs}
doc_id = st.selectbox("Document", list(by_id), format_func=lambda i: by_id[i].name, key="kn_docs_doc")
info = by_id[doc_id]
chunks = col.chunks(doc_id)
if chunks:
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
else:
    st.warning("This document has no chunks in the index.")

sure = st.checkbox(f"Yes, delete '{info.name}' and its {info.n_chunks} chunks", key=f"kn_docs_sure_{doc_id}")
if st.button("Delete document", disabled=not sure, icon=":material/delete:"):
    try:
        col.delete_document(doc_id)
        flash("success", f"Deleted '{info.name}' from '{name}'.")
    except KnowledgeError as e:
        flash("error", str(e))
    st.rerun()
