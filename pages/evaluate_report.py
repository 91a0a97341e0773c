"""Evaluation report: metrics per setup, answers side by side, cost, freshness, recommendation, export."""
import streamlit as st

from workbench.evaluation import run_index
from workbench.ui import evaluation, evaluation_report
from workbench.ui.resources import get_settings

st.title("Evaluation report")
settings = get_settings()
evaluation.show_flash()
entries = run_index.entries(settings)  # read once: pickers come from it; only the run shown is loaded
if (rec := evaluation_report.run_section(settings, entries)) is None:
    st.stop()
evaluation_report.report_section(settings, rec, entries)
