"""Document browser: per document its pages and chunks (text, offsets, tokens), and a delete action."""
import streamlit as st

from workbench.ui import documents
from workbench.ui.knowledge import chosen_collection, show_flash

st.title("Documents")
show_flash()
if (col := chosen_collection("kn_docs_collection")) is None or (info := documents.document_picker(col)) is None:
    st.stop()
documents.chunks_section(col, info)
documents.delete_section(col, info)
