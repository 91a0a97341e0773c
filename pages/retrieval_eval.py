"""Retrieval evaluation: gold passage retrieved@k, MRR and nDCG per mode, and where each gold passage ranked."""
import streamlit as st

from workbench.ui import retrieval_eval
from workbench.ui.retrieval import pick_collection

st.title("Retrieval evaluation")
st.caption("Score every retrieval mode on a question set: gold passage retrieved@k, MRR and nDCG, and the rank "
           "of each question's gold passage (the chunk holding the expected answer, or from the expected source).")
if (col := pick_collection("eval")) is None:
    st.stop()
retrieval_eval.run_section(col)
retrieval_eval.results_section(col)
