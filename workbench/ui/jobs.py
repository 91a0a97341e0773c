"""Sections of the Jobs page: every background job of every kind, its lane, progress and why it waits."""
from __future__ import annotations

import streamlit as st

from workbench import jobs
from workbench.settings import Settings
from workbench.ui import safe

POLL_S = 2.0
MAX_SHOWN = 60  # newest jobs drawn; older ones are counted, so a long history does not slow the page

STATE_ICON = {jobs.QUEUED: ":material/schedule:", jobs.RUNNING: ":material/sync:",
              jobs.SUCCEEDED: ":material/check_circle:", jobs.FAILED: ":material/error:",
              jobs.CANCELLED: ":material/cancel:"}


def duration(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s"


def status_text(state: str, message: str | None) -> str:
    """A job's state and its message, the message left out when it only repeats the state ("running")."""
    msg = (message or "").strip()
    return state if not msg or msg.lower() == state.lower() else f"{state}, {safe.text(msg)}"


def lanes_line(settings: Settings, listing: list[jobs.JobStatus]) -> str:
    """One line per lane in use: what runs and how many wait."""
    parts = []
    for lane in sorted({j.lane for j in listing if not j.is_final}):
        running = [j for j in listing if j.lane == lane and j.state == jobs.RUNNING]
        waiting = sum(1 for j in listing if j.lane == lane and j.state == jobs.QUEUED)
        now = f"running {safe.text(running[0].name)}" if running else "starting"
        parts.append(f"**{safe.text(lane)}** lane: {now}" + (f", {waiting} waiting" if waiting else ""))
    mode = ("one lane for every job (WORKBENCH_JOB_LANES=single)" if settings.job_lanes == "single"
            else "one job at a time per lane, lanes side by side")
    return (" · ".join(parts) or "Nothing runs now.") + f"  \nLanes: {mode}."


def job_row(settings: Settings, j: jobs.JobStatus, listing: list[jobs.JobStatus]) -> None:
    """One job: what it is, how far it got, why it waits or failed, and its Cancel or Delete button."""
    with st.container(border=True):
        head, button = st.columns([6, 1])
        head.markdown(f"{STATE_ICON.get(j.state, '')} **{safe.text(j.name)}** · {safe.text(j.kind)} · "
                      f"{safe.text(j.lane)} lane · {j.state}")
        head.caption(f"`{j.job_id}`" + (f" · on {safe.text(j.launcher)}" if j.launcher != "local" else ""))
        if j.state == jobs.QUEUED:
            head.caption("Waiting: " + safe.text(jobs.waiting_reason(settings, j, listing)))
        if j.total:
            eta = j.eta_s
            head.progress(j.fraction, text=f"step {j.step} / {j.total} · elapsed {duration(j.elapsed_s)}"
                          + (f" · ETA {duration(eta)}" if eta is not None else ""))
        elif j.state == jobs.RUNNING:
            head.progress(0.0, text=f"{safe.text(j.message or 'starting')} · elapsed {duration(j.elapsed_s)}")
        if j.state == jobs.FAILED:
            head.error(f"Failed: {safe.text(j.error)}")
        if not j.is_final:
            if button.button("Cancel", key=f"jobs-cancel-{j.job_id}", icon=":material/stop_circle:"):
                try:
                    jobs.cancel(settings, j.job_id)
                    st.toast(f"Cancel requested for {safe.text(j.name)}.")
                except jobs.JobError as e:
                    st.error(safe.text(e))
        elif button.button("Delete", key=f"jobs-delete-{j.job_id}", icon=":material/delete:"):
            try:
                jobs.delete(settings, j.job_id)
                st.toast(f"Deleted {safe.text(j.name)} and its folder.")
                st.rerun()
            except jobs.JobError as e:
                st.error(safe.text(e))


def jobs_section(settings: Settings) -> None:
    """Every job, newest first, redrawn every POLL_S seconds while any is queued or running."""
    if not jobs.list_jobs(settings):
        st.info("No background jobs yet. Training, evaluations, sweeps and other long tasks appear here.")
        return
    active = any(not j.is_final for j in jobs.list_jobs(settings))

    @st.fragment(run_every=POLL_S if active else None)
    def view():
        listing = jobs.list_jobs(settings)
        st.markdown(lanes_line(settings, listing))
        for j in listing[:MAX_SHOWN]:
            job_row(settings, j, listing)
        if len(listing) > MAX_SHOWN:
            st.caption(f"{len(listing) - MAX_SHOWN} older jobs not shown.")
        if active and all(j.is_final for j in listing):
            st.rerun()  # everything ended: redraw once without the timer

    view()
