"""Chunk sweep: score strategies x sizes x overlaps x k on a question set and apply the best to the collection."""
import streamlit as st

from workbench.ui import state, sweep
from workbench.ui.retrieval import pick_collection

st.title("Chunk sweep")
st.caption("Find the chunk settings that retrieve best for your documents: every configuration is chunked, "
           "indexed in a scratch Chroma collection and scored at an equal context budget; it is chosen on half "
           "the questions and reported on the other half. Identical chunk texts are embedded once (the knowledge "
           "base's embedding cache), and scratch collections are always dropped.")
state.show_flash(state.RETR_FLASH)
if (col := pick_collection("sweep")) is None:
    st.stop()
sweep.reindex_section(col)
sweep.grid_section(col)
sweep.results_section(col)
