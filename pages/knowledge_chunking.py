"""Chunking preview: what each setting does to a real document, before anything is (re-)indexed."""
import streamlit as st

from workbench.ui import chunking
from workbench.ui.knowledge import show_flash

st.title("Chunking preview")
st.caption("Tune chunk settings on a real document: boundaries, overlaps and token lengths update at once; "
           "nothing is indexed until you save and re-index.")
show_flash()
if (col := chunking.collection_section()) is None or (doc := chunking.document_source(col)) is None:
    st.stop()
if (chosen := chunking.settings_section(col)) is None or not chunking.semantic_ready(doc, *chosen):
    st.stop()
chunking.preview_section(col, doc, *chosen)
