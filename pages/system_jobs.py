"""System > Jobs: every background job of every kind (training, evaluations, sweeps, ...), live."""
import streamlit as st

from workbench import jobs
from workbench.ui import jobs as jobs_ui
from workbench.ui.resources import get_settings

st.title("Jobs")
settings = get_settings()
jobs.reconcile(settings)  # after an app restart: settle dead jobs, restart every lane's queue
st.caption("Long tasks run in background processes; closing the tab or reloading leaves them running. "
           "Each lane runs one job at a time, in order; lanes run side by side.")
jobs_ui.jobs_section(settings)
