"""Run evaluation: pick a question set and setups, run them in the background, watch progress."""
import streamlit as st

from workbench import jobs
from workbench.evaluation import run_index
from workbench.ui import evaluation
from workbench.ui.resources import get_settings

st.title("Run evaluation")
st.caption("One question set through base, prompted (a recipe), RAG, fine-tuned and hybrid, with the same "
           "generation settings.")
settings = get_settings()
jobs.reconcile(settings)  # after an app restart: settle dead jobs, restart the queue
evaluation.show_flash()
entries = run_index.entries(settings)  # read once; the sections below never open a run folder for a list
if set_name := evaluation.set_section(settings):
    evaluation.launch_section(settings, set_name, entries)
evaluation.history_section(settings, entries)
evaluation.freshness_section(settings, entries)
