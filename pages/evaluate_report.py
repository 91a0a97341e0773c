"""Evaluation report: metrics per setup, answers side by side, cost, freshness, recommendation, export."""
import streamlit as st

from workbench.ui.evaluation_report import render_report_page

st.title("Evaluation report")
render_report_page()
