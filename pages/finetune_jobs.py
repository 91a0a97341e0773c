"""Fine-tune > Training jobs: launch LoRA fine-tunes, watch them live, compare past runs."""
import streamlit as st

from workbench import finetune, jobs
from workbench.finetune import datasets as ds
from workbench.finetune.figures import training_curves
from workbench.ui import state
from workbench.ui.finetune import device_label, flash, history, live_job, show_flash
from workbench.ui.finetune_form import spec_form
from workbench.ui.resources import get_settings

st.title("Training jobs")
settings = get_settings()
jobs.reconcile(settings)  # after an app restart: settle dead jobs, restart the queue
show_flash()
st.caption(f"Training runs in a background process on **{device_label(settings)}**; closing the tab or "
           "reloading leaves it running. One job runs at a time; the rest wait in order.")

with st.expander("New fine-tune", expanded=not jobs.list_jobs(settings, "finetune")):
    datasets = [d.name for d in ds.list_datasets(settings)]
    if not datasets:
        st.info("No datasets yet: add one on the Datasets page (or load the sample there).")
    else:
        spec = spec_form(settings, datasets)
        if spec is not None:
            try:
                job = finetune.launch(settings, spec)
            except (finetune.SpecError, jobs.JobError) as e:
                st.error(str(e))
            else:
                st.session_state[state.FT_SELECTED_JOB] = job.job_id
                flash(f"Queued '{spec.adapter_name}' ({job.job_id}).")
                st.rerun()

st.subheader("History")
all_jobs = history(settings)
if not all_jobs:
    st.info("No training jobs yet.")
    st.stop()
ids = [j.job_id for j in all_jobs]
labels = {j.job_id: f"{j.name} · {j.state} · {j.job_id}" for j in all_jobs}
active = next((j.job_id for j in all_jobs if not j.is_final), ids[0])
chosen = st.session_state.get(state.FT_SELECTED_JOB)
pick = st.selectbox("Job", ids, index=ids.index(chosen) if chosen in ids else ids.index(active),
                    format_func=labels.get)
st.session_state[state.FT_SELECTED_JOB] = pick
live_job(settings, pick)

st.subheader("Compare runs")
with_curves = [j for j in all_jobs if jobs.read_metrics(settings.jobs_dir / j.job_id)]
pair = st.multiselect("Overlay the curves of two jobs", [j.job_id for j in with_curves], max_selections=2,
                      format_func=labels.get, default=[j.job_id for j in with_curves[:2]])
if len(pair) == 2:
    names = {j.job_id: j.name for j in all_jobs}
    runs = {f"{names[i]} ({i[-6:]})": jobs.read_metrics(settings.jobs_dir / i) for i in pair}
    st.plotly_chart(training_curves(runs), key="ft_compare")
elif len(with_curves) < 2:
    st.caption("Two jobs with curves are needed to compare.")
