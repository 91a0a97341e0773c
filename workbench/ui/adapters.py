"""Sections of the Adapters page: every registered adapter, and rename, download, delete and curves of one."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench import jobs
from workbench.finetune.adapters import AdapterError, AdapterRegistry
from workbench.finetune.figures import training_curves
from workbench.settings import Settings
from workbench.ui import safe
from workbench.ui.finetune import flash, fmt_duration


def adapters_section(reg: AdapterRegistry) -> str | None:
    """A table of the adapters and a picker; the chosen adapter's name, or None when there is none."""
    adapters = reg.list()
    if not adapters:
        st.info("No adapters yet: they appear here when a training job finishes.")
        return None
    st.dataframe(pd.DataFrame([{
        "name": a.name, "base model": a.base_model, "dataset": a.dataset, "dataset hash": a.dataset_hash,
        "final loss": a.final_loss, "val loss": a.final_val_loss, "training time": fmt_duration(a.train_seconds),
        "size (MB)": round(a.size_mb, 1),
        "note": f"checkpoint of a cancelled job ({a.partial_steps} steps)" if a.partial_steps else "",
    } for a in adapters]), hide_index=True, width="stretch")
    return st.selectbox("Adapter", [a.name for a in adapters])


def actions_section(reg: AdapterRegistry, name: str) -> None:
    """Rename, download as a zip, delete (after a confirmation)."""
    c1, c2, c3 = st.columns(3)
    with c1.form("ft_rename"):
        new = st.text_input("New name", value=name)
        if st.form_submit_button("Rename"):
            try:
                reg.rename(name, new)
            except AdapterError as e:
                st.error(safe.text(e))
            else:
                flash(f"Renamed '{safe.text(name)}' to '{safe.text(new.strip())}'.")
                st.rerun()
    with c2:
        st.download_button("Download as zip", data=reg.export_zip(name), file_name=f"{name}.zip",
                           mime="application/zip", icon=":material/download:",
                           help="Unzip and load with PeftModel.from_pretrained(base_model, folder).")
    with c3:
        sure = st.checkbox("I want to delete it")
        if st.button("Delete adapter", disabled=not sure, icon=":material/delete:"):
            reg.delete(name)
            flash(f"Deleted adapter '{safe.text(name)}'.")
            st.rerun()


def record_section(settings: Settings, reg: AdapterRegistry, name: str) -> None:
    """The adapter's training curves and its recorded spec."""
    info = reg.get(name)
    runs = jobs.read_metrics(settings.jobs_dir / info.job_id) if info.job_id else []
    if runs:
        st.plotly_chart(training_curves({info.name: runs}), key="ft_adapter_curves")
    with st.expander("Training spec and record"):
        st.json({"job": info.job_id, "dataset": info.dataset, "dataset_hash": info.dataset_hash,
                 "final_loss": info.final_loss, "final_val_loss": info.final_val_loss, "spec": info.spec})
