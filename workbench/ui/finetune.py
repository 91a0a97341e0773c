"""Sections of the Training jobs page (new fine-tune, history and live view, comparison) and fine-tune widgets."""
from __future__ import annotations

import time

import streamlit as st

from workbench import finetune, jobs
from workbench.finetune import datasets as ds
from workbench.finetune.adapters import AdapterError, AdapterRegistry
from workbench.finetune.figures import training_curves
from workbench.finetune.model import device_for_training, linear_layer_names
from workbench.settings import Settings
from workbench.ui import safe, state, tables
from workbench.ui.links import next_step

POLL_S = 2.0


@st.cache_data(show_spinner=False)
def target_module_choices(_settings: Settings, model: str) -> tuple[str, ...]:
    return linear_layer_names(_settings, model)


@st.cache_data(show_spinner=False)
def device_label(_settings: Settings) -> str:
    """Where training will run; on CPU the worker sizes its threads to the cores free at the time."""
    device, _, label = device_for_training(_settings)
    return label if device == "cuda" else "CPU (fp32)"


def flash(msg: str, kind: str = "success") -> None:
    state.flash(state.FT_FLASH, msg, kind)


def show_flash() -> None:
    state.show_flash(state.FT_FLASH)


def fmt_duration(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


STATE_ICON = {jobs.QUEUED: ":material/schedule:", jobs.RUNNING: ":material/sync:",
              jobs.SUCCEEDED: ":material/check_circle:", jobs.FAILED: ":material/error:",
              jobs.CANCELLED: ":material/cancel:"}


def job_details(settings: Settings, st_job: jobs.JobStatus) -> None:
    """Progress, curves, result and log tail of one job (static: the caller decides how often to redraw)."""
    d = settings.jobs_dir / st_job.job_id
    head = f"{STATE_ICON.get(st_job.state, '')} **{safe.text(st_job.name)}** · {st_job.state}"
    st.markdown(head + f" · `{st_job.job_id}`")
    if st_job.state == jobs.QUEUED:
        st.info(f"Queued: {safe.text(jobs.waiting_reason(settings, st_job))}.")
    if st_job.total:
        eta = st_job.eta_s
        text = (f"step {st_job.step} / {st_job.total} · elapsed {fmt_duration(st_job.elapsed_s)}"
                + (f" · ETA {fmt_duration(eta)}" if eta is not None else ""))
        st.progress(st_job.fraction, text=text)
    elif st_job.state == jobs.RUNNING:
        st.progress(0.0, text=f"{safe.text(st_job.message or 'starting')} · elapsed {fmt_duration(st_job.elapsed_s)}")
    if st_job.state == jobs.FAILED:
        st.error(f"Failed: {safe.text(st_job.error)}")
    metrics = jobs.read_metrics(d)
    if st_job.state == jobs.CANCELLED:
        checkpoint_panel(settings, st_job, d, metrics)
    if metrics and any("loss" in m for m in metrics):
        st.plotly_chart(training_curves({st_job.name: metrics}), key=f"curves-{st_job.job_id}")
        last = metrics[-1]
        cols = st.columns(4)
        cols[0].metric("training loss", f"{last.get('loss', float('nan')):.3f}")
        val = [m["val_loss"] for m in metrics if m.get("val_loss") is not None]
        cols[1].metric("validation loss", f"{val[-1]:.3f}" if val else "-")
        cols[2].metric("examples / s", f"{last.get('examples_per_s', 0):.2f}")
        cols[3].metric("tokens / s", f"{last.get('tokens_per_s', 0):.0f}")
    elif st_job.state == jobs.RUNNING:
        st.caption("Loading the model and preparing the data; curves appear after the first step.")
    if st_job.state == jobs.SUCCEEDED and st_job.result.get("adapter"):
        st.success(f"Adapter '{safe.text(st_job.result['adapter'])}' is ready.")
        c1, c2 = st.columns(2)
        with c1:
            next_step("pages/arena.py", "Next: try it in the Arena", ":material/forum:")
        with c2:
            next_step("pages/evaluate_run.py", "Or measure it on a question set", ":material/play_circle:")
    if st_job.result:
        with st.expander("Result"):
            st.json(st_job.result)
    with st.expander("Log (last lines)", expanded=st_job.state in (jobs.RUNNING, jobs.FAILED)):
        st.code(jobs.log_tail(d, 30) or "(empty)", language=None)


def checkpoint_panel(settings: Settings, st_job: jobs.JobStatus, d, metrics: list[dict]) -> None:
    """A cancelled job says so, and its last checkpoint can become an adapter to try in the arena."""
    if not (d / "checkpoint" / "adapter_config.json").is_file():
        st.warning("Cancelled before its first checkpoint: nothing to keep.")
        return
    steps = max((m["step"] for m in metrics if m.get("step") is not None and "loss" in m), default=None)
    st.warning(f"Cancelled. Its last checkpoint (step {steps or '?'}) is kept in the job folder.")
    if st.button("Register the checkpoint as an adapter", key=f"ckpt-{st_job.job_id}",
                 icon=":material/save:"):
        try:
            info = AdapterRegistry(settings).register_checkpoint(d, st_job.job_id, steps)
        except (AdapterError, OSError, ValueError) as e:
            st.error(safe.text(e))
            return
        st.success(f"Registered as adapter '{safe.text(info.name)}' (a partial run of {steps or '?'} steps).")
        next_step("pages/arena.py", "Try it in the Arena", ":material/forum:")


def live_job(settings: Settings, job_id: str) -> None:
    """The selected job, redrawn every POLL_S seconds while it is queued or running."""
    try:
        current = jobs.get(settings, job_id)
    except jobs.JobError as e:
        st.warning(safe.text(e))
        return
    active = not current.is_final

    @st.fragment(run_every=POLL_S if active else None)
    def view():
        try:
            s = jobs.get(settings, job_id)
        except jobs.JobError as e:
            st.warning(safe.text(e))
            return
        watching = st.session_state.setdefault(state.FT_WATCHING, set())
        if not s.is_final:
            watching.add(job_id)
            if st.button("Cancel job", key=f"cancel-{job_id}", icon=":material/stop_circle:"):
                jobs.cancel(settings, job_id)
                st.toast("Cancel requested; the job stops at its next step and keeps its checkpoint.")
        job_details(settings, s)
        if s.is_final and job_id in watching:
            watching.discard(job_id)
            st.rerun()  # stop polling and refresh history and the adapter list

    view()


def _history_rows(all_jobs: list[jobs.JobStatus]) -> list[dict]:
    return [{
        "name": j.name, "state": j.state,
        "submitted": time.strftime("%Y-%m-%d %H:%M", time.localtime(j.submitted_ns / 1e9)),
        "duration": fmt_duration(j.elapsed_s), "steps": f"{j.step}/{j.total}" if j.total else "",
        "final loss": j.result.get("final_loss"), "val loss": j.result.get("final_val_loss"),
        "adapter": j.result.get("adapter"), "job id": j.job_id,
    } for j in all_jobs]


def history(settings: Settings, kind: str = "finetune") -> list[jobs.JobStatus]:
    """A table of every job of `kind`, newest first, redrawn while one is queued or running; returns the jobs."""
    all_jobs = jobs.list_jobs(settings, kind)
    if not all_jobs:
        return []

    @st.fragment(run_every=POLL_S if any(not j.is_final for j in all_jobs) else None)
    def table():
        tables.show(_history_rows(jobs.list_jobs(settings, kind)), width="stretch", column_config={
            "final loss": st.column_config.NumberColumn(format="%.3f"),
            "val loss": st.column_config.NumberColumn(format="%.3f")})

    table()
    return all_jobs


def new_job_section(settings: Settings) -> None:
    """The fine-tune form (open while there is no job yet); a valid spec is queued."""
    from workbench.ui.finetune_form import spec_form

    with st.expander("New fine-tune", expanded=not jobs.list_jobs(settings, "finetune")):
        datasets = [d.name for d in ds.list_datasets(settings)]
        if not datasets:
            st.info("No datasets yet: add one on the Datasets page (or load the sample there).")
            return
        spec = spec_form(settings, datasets)
        if spec is None:
            return
        try:
            job = finetune.launch(settings, spec)
        except (finetune.SpecError, jobs.JobError) as e:
            st.error(safe.text(e))
        else:
            st.session_state[state.FT_SELECTED_JOB] = job.job_id
            flash(f"Queued '{safe.text(spec.adapter_name)}' ({job.job_id}).")
            st.rerun()


def _label(j: jobs.JobStatus) -> str:
    return f"{j.name} · {j.state} · {j.job_id}"


def jobs_section(settings: Settings) -> list[jobs.JobStatus]:
    """Every fine-tune job in a table, and the chosen one (by default the active one) live; returns the jobs."""
    st.subheader("History")
    all_jobs = history(settings)
    if not all_jobs:
        st.info("No training jobs yet.")
        return []
    ids = [j.job_id for j in all_jobs]
    labels = {j.job_id: _label(j) for j in all_jobs}
    active = next((j.job_id for j in all_jobs if not j.is_final), ids[0])
    chosen = st.session_state.get(state.FT_SELECTED_JOB)
    pick = st.selectbox("Job", ids, index=ids.index(chosen) if chosen in ids else ids.index(active),
                        format_func=labels.get)
    st.session_state[state.FT_SELECTED_JOB] = pick
    live_job(settings, pick)
    return all_jobs


def compare_section(settings: Settings, all_jobs: list[jobs.JobStatus]) -> None:
    """The loss curves of two jobs overlaid."""
    st.subheader("Compare runs")
    labels = {j.job_id: _label(j) for j in all_jobs}
    with_curves = [j for j in all_jobs if jobs.read_metrics(settings.jobs_dir / j.job_id)]
    pair = st.multiselect("Overlay the curves of two jobs", [j.job_id for j in with_curves], max_selections=2,
                          format_func=labels.get, default=[j.job_id for j in with_curves[:2]])
    if len(pair) == 2:
        names = {j.job_id: j.name for j in all_jobs}
        runs = {f"{names[i]} ({i[-6:]})": jobs.read_metrics(settings.jobs_dir / i) for i in pair}
        st.plotly_chart(training_curves(runs), key="ft_compare")
    elif len(with_curves) < 2:
        st.caption("Two jobs with curves are needed to compare.")
