"""Home: what the workbench is for, the five steps, and what this workspace holds."""
import streamlit as st

from workbench.ui import home

st.title("RAG & Fine-Tuning Workbench")
st.markdown(
    "Find out, on your own documents, what **retrieval (RAG)** and **LoRA fine-tuning** each do for a "
    "language model, and what both together do. RAG fixes what the model *knows* (fresh, citable "
    "facts); fine-tuning fixes how it *behaves* (format, tone, terminology); hybrid does both."
)
home.counts_section()
home.steps_section()
