"""Sections of the Report page's Checks tab: forgetting, leakage, revalidation, and the Revalidate action."""
from __future__ import annotations

import streamlit as st

from workbench.evaluation import checks, revalidation, runs
from workbench.evaluation.checks import CheckSection
from workbench.settings import Settings
from workbench.ui import safe, state, tables
from workbench.ui.evaluation import adapter_names, flash

HINTS = {
    "forgetting": "No forgetting check: the run did not answer the probe (runs with an adapter answer it by "
                  "default; tick \"Forgetting probe\" on the Run evaluation page).",
    "leakage": "No leakage check: the run has no adapter, so no training data to compare with.",
    "revalidation": "Not a revalidation: re-run this evaluation on another base model or adapter below to see "
                    "what regresses.",
}


def report_checks(settings: Settings, rec: runs.RunRecord) -> tuple[CheckSection, ...]:
    """The checks that apply to the run (computed once per page run: the tab and the exports share them)."""
    return checks.sections(settings, rec)


def _show(section: CheckSection, warn: bool) -> None:
    # Plain-text sentences that name adapters, datasets and question ids: escaped, never Markdown.
    st.subheader(safe.text(section.title))
    for s in section.sentences:
        (st.warning if warn else st.write)(safe.text(s))
    for caption, rows in section.tables:
        if rows:
            st.caption(safe.text(caption))
            tables.show(list(rows))


def forgetting_section(section: CheckSection | None) -> None:
    """Probe rates per condition and the adapter's shifts; a loss (interval below zero) is a warning."""
    if section is None:
        st.caption(HINTS["forgetting"])
        return
    lost = any(s["verdict"] == "worse" and s["kind"] == "all" for s in section.data["shifts"])
    _show(section, lost)


def leakage_section(section: CheckSection | None) -> None:
    """Questions found in the adapter's training data, and the verdict with and without them."""
    if section is None:
        st.caption(HINTS["leakage"])
        return
    _show(section, bool(section.data["leaks"]))


def revalidation_section(section: CheckSection | None) -> None:
    """For a revalidation run: per setup regressions with intervals, and the questions that changed."""
    if section is None:
        st.caption(HINTS["revalidation"])
        return
    worse = any(s["verdict"] == "worse" for s in section.data["setups"])
    _show(section, worse)


def revalidate_section(settings: Settings, rec: runs.RunRecord) -> None:
    """Re-run this evaluation (same questions and settings) on another base model or adapter."""
    st.subheader("Revalidate")
    if rec.spec.freshness:
        st.caption("A freshness re-run covers only the changed fact: revalidate the full run it re-checks.")
        return
    if not rec.summary:
        st.caption("The run has not ended yet: revalidate it once it has.")
        return
    has_adapter = bool(rec.spec.adapter or rec.spec.adapter_path)
    others = [a for a in adapter_names(settings) if a != rec.spec.adapter] if has_adapter else []
    with st.form("eval_revalidate"):
        base = st.text_input("Base model", value=rec.spec.base_model or settings.generator_model,
                             help="A model name the workbench can load (a local Hugging Face folder, or the bundled "
                                  "one). Leave it as is to change only the adapter.")
        adapter = st.selectbox("Adapter", ["(keep)", *others], disabled=not others,
                               help=None if has_adapter else "This run has no adapter setup.")
        go = st.form_submit_button("Revalidate", icon=":material/replay:")
    st.caption("The new run has the same questions, setups and generation settings; its report compares it with "
               "this one, per setup and per question.")
    if go:
        current = rec.spec.base_model or settings.generator_model
        new_base = base.strip() if base.strip() and base.strip() != current else None
        try:
            run_id = revalidation.revalidate(settings, rec.run_id, base_model=new_base,
                                             adapter=None if adapter == "(keep)" else adapter)
        except runs.RunError as e:
            st.error(safe.text(e))
            return
        st.session_state[state.EVAL_RUN] = run_id
        flash(f"Revalidation run {run_id} queued: its report shows what regressed against {rec.run_id}.")
        st.rerun()


def checks_section(settings: Settings, rec: runs.RunRecord, sections: tuple[CheckSection, ...]) -> None:
    """The Checks tab: forgetting, leakage and revalidation, each shown when the run has it, then Revalidate."""
    by_key = {s.key: s for s in sections}
    forgetting_section(by_key.get("forgetting"))
    st.divider()
    leakage_section(by_key.get("leakage"))
    st.divider()
    revalidation_section(by_key.get("revalidation"))
    revalidate_section(settings, rec)
