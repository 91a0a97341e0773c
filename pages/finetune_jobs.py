"""Fine-tune > Training jobs: launch LoRA fine-tunes, watch them live, compare past runs."""
import streamlit as st

from workbench import jobs
from workbench.ui import finetune
from workbench.ui.resources import get_settings

st.title("Training jobs")
settings = get_settings()
jobs.reconcile(settings)  # after an app restart: settle dead jobs, restart the queue
finetune.show_flash()
st.caption(f"Training runs in a background process on **{finetune.device_label(settings)}**; closing the tab or "
           "reloading leaves it running. One training job runs at a time (other work, such as sweeps, has its own "
           "lane and does not wait behind it); the rest wait in order.")
finetune.new_job_section(settings)
if not (all_jobs := finetune.jobs_section(settings)):
    st.stop()
finetune.compare_section(settings, all_jobs)
