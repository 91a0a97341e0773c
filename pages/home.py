"""Home: what the workbench is for, the steps, what this workspace holds, and a 5-minute demo script."""
import streamlit as st

from workbench.ui import home

st.title("RAG & Fine-Tuning Workbench")
st.markdown(
    "Find out, on your own documents, what **prompting**, **retrieval (RAG)** and **LoRA fine-tuning** each "
    "do for a language model, and what RAG and fine-tuning together do. Try prompt engineering first; RAG "
    "fixes what the model *knows* (fresh, citable facts); fine-tuning fixes how it *behaves* (format, tone, "
    "terminology) where prompting cannot, at a training cost instead of a per-query prompt cost; hybrid does both."
)
home.counts_section()
home.steps_section()
home.demo_section()
