"""Sections of the Adapters page: every registered adapter, and rename, download, delete, export and curves of one."""
from __future__ import annotations

import streamlit as st

from workbench import jobs
from workbench.finetune import export as exports
from workbench.finetune.adapters import AdapterError, AdapterRegistry
from workbench.finetune.figures import training_curves
from workbench.settings import Settings
from workbench.ui import safe, tables
from workbench.ui.jobs import status_text
from workbench.ui.links import next_step
from workbench.ui.finetune import POLL_S, flash, fmt_duration


def adapters_section(reg: AdapterRegistry) -> str | None:
    """A table of the adapters and a picker; the chosen adapter's name, or None when there is none."""
    adapters = reg.list()
    if not adapters:
        st.info("No adapters yet: they appear here when a training job finishes.")
        return None
    tables.show([{
        "name": a.name, "base model": a.base_model, "dataset": a.dataset, "dataset hash": a.dataset_hash,
        "final loss": a.final_loss, "val loss": a.final_val_loss, "training time": fmt_duration(a.train_seconds),
        "size (MB)": round(a.size_mb, 1),
        "note": f"checkpoint of a cancelled job ({a.partial_steps} steps)" if a.partial_steps else "",
    } for a in adapters], width="stretch", column_config={
        "final loss": st.column_config.NumberColumn(format="%.3f"),
        "val loss": st.column_config.NumberColumn(format="%.3f")})
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


# Labels of the export downloads, in the order shown.
_DOWNLOADS = (("merged", "Merged model (Hugging Face folder, zip)"), ("q8_0", "GGUF q8_0"), ("f16", "GGUF f16"),
              ("q4_k_m", "GGUF q4_k_m"), ("lora", "GGUF LoRA (f16)"), ("modelfile", "Ollama Modelfile"))


def _export_job(settings: Settings, name: str) -> jobs.JobStatus | None:
    return next((j for j in jobs.list_jobs(settings, "export") if j.name == f"export {name}"), None)


def export_section(settings: Settings, reg: AdapterRegistry, name: str) -> None:
    """Build the exports (a background job) and download them: merged model, GGUF files, GGUF LoRA, Modelfile."""
    st.subheader("Export for llama.cpp, Ollama and transformers")
    job = _export_job(settings, name)

    @st.fragment(run_every=POLL_S if job is not None and not job.is_final else None)
    def view():
        current = _export_job(settings, name)
        if current is not None and not current.is_final:
            steps = f" ({current.step}/{current.total})" if current.total else ""
            st.info(f"Export {status_text(current.state, current.message)}{steps}")
            return
        if current is not None and current.state == jobs.FAILED:
            st.error(safe.text(current.error or "The export failed."))
        done = exports.read_export(settings, name)
        label = "Rebuild exports" if done else "Build exports"
        if st.button(label, icon=":material/deployed_code:", key="ft_export",
                     help="Merges the adapter into the base model and writes GGUF f16, q8_0 and q4_k_m, the "
                          "adapter as a GGUF LoRA and an Ollama Modelfile (about a minute for the bundled model)."):
            try:
                exports.launch(settings, name)
            except (AdapterError, jobs.JobError) as e:
                st.error(safe.text(e))
            else:
                st.rerun()
        if done is None:
            return
        for note in done.notes:
            st.info(safe.text(note))
        cols = st.columns(3)
        for i, (key, text) in enumerate(k for k in _DOWNLOADS if k[0] in done.files):
            path = done.path(key)
            data = (lambda: exports.merged_zip(done, name)) if key == "merged" else (lambda p=path: p.read_bytes())
            fname = f"{name}-merged.zip" if key == "merged" else path.name
            cols[i % 3].download_button(text, data=data, file_name=fname, key=f"ft_dl_{key}",
                                        icon=":material/download:", on_click="ignore")
        st.caption("Ollama: download the q4_k_m GGUF and the Modelfile into one folder, then `ollama create NAME "
                   "-f Modelfile`. llama.cpp: `llama-cli -m FILE.gguf`, or the base GGUF with `--lora` and the "
                   "GGUF LoRA. q4_k_m is the smallest: the weights the adapter changed in llama-quantize's Q4_K_M "
                   "mixture, the rest the base GGUF's own (measured on the sample: 92.5 % JSON answers, as the "
                   "adapter).")
        next_step("pages/arena.py", "Next: ask it questions in the Arena, beside the base model",
                  ":material/forum:")

    view()
