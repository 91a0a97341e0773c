"""Run evaluation: pick a question set and setups, run them in the background, watch progress."""
import streamlit as st

from workbench.ui.evaluation import render_run_page

st.title("Run evaluation")
st.caption("One question set through base, RAG, fine-tuned and hybrid, with the same generation settings.")
render_run_page()
