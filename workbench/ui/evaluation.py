"""Sections of the Run evaluation page: set choice and upload, launch, live runs and history, freshness."""
from __future__ import annotations

import streamlit as st

from workbench import jobs, questions
from workbench.answering import setups
from workbench.answering.recipes import list_recipes
from workbench.evaluation import freshness, run_index, runs
from workbench.evaluation.sample import SAMPLE_SET
from workbench.names import check_name
from workbench.settings import Settings
from workbench.ui import safe, state, tables
from workbench.ui.jobs import status_text
from workbench.ui.recipes import recipe_choice, with_adapter_toggle
from workbench.ui.resources import get_settings

POLL_S = 2.0
SAMPLE_COLLECTION = "sample-kb"


def flash(msg: str, kind: str = "success", then: tuple[str, str] | None = None) -> None:
    state.flash(state.EVAL_FLASH, msg, kind, then)


def show_flash() -> None:
    state.show_flash(state.EVAL_FLASH)


def collection_names(settings: Settings) -> list[str]:
    try:
        from workbench.knowledge import KnowledgeBase

        return KnowledgeBase(settings).names()
    except Exception:  # no knowledge base yet (or not built): the RAG setups are simply unavailable
        return []


def adapter_names(settings: Settings) -> list[str]:
    try:
        from workbench.finetune.adapters import AdapterRegistry

        return [a.name for a in AdapterRegistry(settings).list()]
    except Exception:
        return []


def set_section(settings: Settings) -> str | None:
    """Pick, load or upload an evaluation set; returns the chosen set's name."""
    st.subheader("1. Evaluation set")
    names = questions.list_sets(settings)
    if SAMPLE_SET not in names and st.button("Load the sample evaluation set", icon=":material/download:"):
        from workbench.evaluation.sample import load

        flash(load(settings))
        st.session_state[state.EVAL_SET] = SAMPLE_SET
        st.rerun()
    with st.expander("Upload a set (CSV or JSONL)", expanded=not names):
        st.caption("Columns: question, reference (required); id, expected_format ('json', 'regex:<pattern>' or a "
                   "JSON schema), source_document, source_page, unanswerable (true/false). Bad rows are listed "
                   "with their line and left out. The same files work for retrieval evaluation.")
        gen = st.session_state.get(state.EVAL_UPLOADER_GEN, 0)
        up = st.file_uploader("Evaluation set", type=[t.lstrip(".") for t in questions.FILE_TYPES], key=f"eval_uploader_{gen}")
        if up is not None:
            try:
                st.session_state[state.EVAL_UPLOAD] = (up.name, questions.parse_questions(
                    up.getvalue(), up.name, settings.max_dataset_mb))
            except questions.QuestionSetError as e:
                st.session_state.pop(state.EVAL_UPLOAD, None)
                st.error(f"{safe.text(up.name)}: {safe.text(e)}")
        if state.EVAL_UPLOAD in st.session_state:
            fname, rep = st.session_state[state.EVAL_UPLOAD]
            # Answers are scored against the reference: a retrieval-only row (source, no reference) cannot be.
            usable = [q for q in rep.questions if q.reference]
            st.write(f"**{safe.text(fname)}**: {len(usable)} valid questions, {len(rep.errors)} rejected rows.")
            if len(usable) < len(rep.questions):
                st.caption(f"{len(rep.questions) - len(usable)} question(s) name a source document but no reference "
                           "answer: they serve retrieval evaluation, but their answers cannot be scored, so they "
                           "are left out here.")
            if rep.errors:
                tables.show([{"line": e.line, "reason": e.reason} for e in rep.errors],
                            height=min(300, 40 + 35 * len(rep.errors)))
            name = st.text_input("Save as", value=fname.rsplit(".", 1)[0][:64], key="eval_upload_name")
            if st.button("Save the valid questions", disabled=not usable):
                try:
                    questions.save_set(settings, name, usable)
                except questions.QuestionSetError as e:
                    st.error(safe.text(e))
                else:
                    st.session_state.pop(state.EVAL_UPLOAD)
                    st.session_state[state.EVAL_UPLOADER_GEN] = gen + 1  # a fresh (empty) uploader
                    st.session_state[state.EVAL_SET] = check_name(name, "question set")
                    flash(f"Saved {len(usable)} questions as '{safe.text(name)}'.")
                    st.rerun()
    names = questions.list_sets(settings)
    if not names:
        st.info("No evaluation set yet: load the sample set or upload one.")
        return None
    current = st.session_state.get(state.EVAL_SET)
    chosen = st.selectbox("Set", names, index=names.index(current) if current in names else 0)
    st.session_state[state.EVAL_SET] = chosen
    items = questions.load_set(settings, chosen)
    n_un = sum(i.unanswerable for i in items)
    n_fmt = sum(bool(i.expected_format) for i in items)
    n_src = sum(bool(i.source_document) for i in items)
    st.caption(f"{len(items)} questions: {n_un} unanswerable, {n_fmt} with an expected format, {n_src} with a known "
               "source document.")
    with st.expander("Questions"):
        hidden = ("expected_format", "span")
        tables.show([{k: v for k, v in i.to_json().items() if k not in hidden} for i in items],
                    column_config={"question": st.column_config.TextColumn(width="large")})
    return chosen


def submit(settings: Settings, build_spec, items: list, message: str) -> None:
    """Queue the run `build_spec()` describes and show it next (`message` may name {run_id}); or say why not."""
    try:
        run_id = runs.submit_run(settings, build_spec(), items)
    except (runs.RunError, jobs.JobError) as e:
        st.error(safe.text(e))
    else:
        st.session_state[state.EVAL_RUN] = run_id
        flash(message.format(run_id=run_id))
        st.rerun()


def launch_section(settings: Settings, set_name: str, entries: list[run_index.RunEntry]) -> None:
    """Setups, collection, adapter and generation settings of a new run, and its Start button."""
    st.subheader("2. Setups and settings")
    items = questions.load_set(settings, set_name)
    cols = collection_names(settings)
    adapters = adapter_names(settings)
    available = [s.key for s in setups.SETUPS if (not s.retrieves or cols) and (not s.adapter or adapters)]
    missing = [s.short_label for s in setups.SETUPS if s.key not in available]
    if missing:
        st.info(f"Not available yet: {', '.join(missing)} (RAG needs a collection, fine-tuned needs a trained "
                "adapter; the System page loads the sample workspace, the Training jobs page trains one).")
    pace = recent_pace(entries)
    if pace:
        n = len(items) * len(available)
        st.caption(f"Answers have taken {pace:.1f} s each on this machine (last run): all {len(items)} questions "
                   f"x {len(available)} setups = {n} answers, about {n * pace / 60:.0f} min. Fewer questions "
                   "give a quicker first look.")
    with st.form("eval_launch"):
        # Prompted is chosen by default only when there is a recipe to answer with.
        default = [k for k in available if list_recipes(settings) or k not in setups.needing_recipe()]
        chosen = st.multiselect("Setups", available, default=default, format_func=setups.short_label)
        c1, c2 = st.columns(2)
        default_col = SAMPLE_COLLECTION if SAMPLE_COLLECTION in cols else (cols[0] if cols else None)
        collection = c1.selectbox("Collection (RAG, hybrid)", cols, index=cols.index(default_col) if cols else None)
        adapter = c2.selectbox("Adapter (fine-tuned, hybrid)", adapters, index=0 if adapters else None)
        c1, c2 = st.columns(2)
        recipe = recipe_choice(settings, "eval_recipe", c1)
        with_adapter = with_adapter_toggle("eval_recipe_with_adapter", c2)
        c1, c2, c3 = st.columns(3)
        max_new = c1.number_input("Max new tokens", 1, 1024, 64)
        temperature = c2.number_input("Temperature", 0.0, 2.0, 0.0, 0.1, help="0 = greedy: repeatable runs")
        limit = c3.number_input("Questions", 1, len(items), len(items), help="The first N questions of the set")
        label = st.text_input("Run label (optional)")
        probe = st.checkbox("Forgetting probe", value=True, help="With an adapter: after the questions, general "
                            "items outside the domain are answered by the base model and by the adapter, to show what "
                            "the adapter lost or gained (the report's Checks tab).")
        st.caption("Retrieval uses the collection's saved defaults (Retrieval > Query lab). Every setup gets the "
                   "same generation settings; retrieval happens once, before generation, and is stored with the run.")
        go = st.form_submit_button("Start the run", type="primary", icon=":material/play_arrow:")
    if go and recipe is None and any(s in setups.needing_recipe() for s in chosen):
        st.error("The Prompted setup answers with a prompt recipe, and none is chosen: pick one above (write one on "
                 "**Prompt recipes**, or load the sample workspace on **System**), or leave Prompted out.")
    elif go:
        submit(settings, lambda: runs.RunSpec(
            set_name=set_name, setups=tuple(chosen),
            collection=collection if any(s in setups.retrieving() for s in chosen) else None,
            adapter=adapter if any(s in setups.adapted() for s in chosen) else None,
            max_new_tokens=int(max_new), temperature=float(temperature),
            recipe=recipe.to_json() if recipe is not None else None, recipe_with_adapter=with_adapter,
            question_ids=tuple(i.id for i in items[:int(limit)]), label=label.strip(),
            probe=probe and any(s in setups.adapted() for s in chosen)),
            items, "Run {run_id} queued: it runs in the background; you can leave this page.")


def recent_pace(entries: list[run_index.RunEntry]) -> float | None:
    """Mean seconds per answer in the newest of the last five runs that has one (for a duration estimate)."""
    return next((e.mean_latency_s for e in entries[:5] if e.mean_latency_s), None)


def live_runs(entries: list[run_index.RunEntry], announce: bool = False) -> None:
    """The runs of `entries` still queued or running, with progress and cancel; refreshes itself. With
    `announce`, a run that ends is said once, with a link to its report."""
    _live_runs(tuple(e for e in entries if not e.ended)[:20], announce)


@st.fragment(run_every=POLL_S)
def _live_runs(pending: tuple[run_index.RunEntry, ...], announce: bool = False) -> None:
    # Every POLL_S it reads only the job status of the runs that had not ended when the page ran.
    settings = get_settings()
    statuses = [(e, run_index.job_status(settings, e.job_id)) for e in pending]
    active = [(e, js) for e, js in statuses if js and not js.is_final]
    # A run that ended since the page was drawn: redraw the whole page once, so the runs table below
    # (outside this fragment) stops saying "running 49/212".
    ended = {e.run_id for e, js in statuses if js and js.is_final}
    refreshed = st.session_state.setdefault(state.EVAL_REFRESHED, set())
    if ended - refreshed:
        refreshed.update(ended)
        if announce:
            last = next(e for e in pending if e.run_id in ended)  # the newest
            js = next(j for e, j in statuses if e.run_id == last.run_id)
            st.session_state[state.EVAL_RUN] = last.run_id
            flash(f"Run {last.run_id} ended: {js.state}.", "success" if js.state == jobs.SUCCEEDED else "warning",
                  ("pages/evaluate_report.py", "Open its report"))
        st.rerun(scope="app")
    if not active:
        st.caption("No run in progress.")
        return
    for e, js in active:
        with st.container(border=True):
            done = runs.answers_so_far(e, js)
            eta = f", about {js.eta_s:.0f} s left" if js.eta_s else ""
            st.write(f"**{safe.text(e.title)}**: {status_text(js.state, js.message)}{eta}")
            st.progress(min(1.0, done / e.expected) if e.expected else 0.0, text=f"{done}/{e.expected} answers")
            if st.button("Cancel", key=f"cancel_{e.run_id}", icon=":material/stop:"):
                runs.cancel_run(settings, e.run_id)
                st.toast(f"Cancelling {e.run_id}...")


def history_section(settings: Settings, entries: list[run_index.RunEntry]) -> None:
    """Live runs, and a table of every run from the index (no run folder is read)."""
    st.subheader("3. Runs")
    live_runs(entries, announce=True)
    rows = []
    for e in entries:
        state_, js = run_index.state(settings, e)
        rows.append({"run": e.run_id, "label": e.label, "set": e.set_name, "state": state_,
                     "setups": ", ".join(setups.short_label(s) for s in e.setups),
                     "answers": f"{runs.answers_so_far(e, js)}/{e.expected}",
                     "error": (js.error if js is not None else "") or ""})
    if rows:
        tables.show(rows, column_config={"error": st.column_config.TextColumn(width="large")},
                    column_order=["state", "run", "answers", "label", "set", "setups", "error"])
        st.page_link("pages/evaluate_report.py", label="Open the report", icon=":material/analytics:")
    stopped = [e.run_id for e, r in zip(entries, rows) if r["state"] in run_index.CUT_SHORT]
    if stopped:
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        rid = c1.selectbox("Resume a run that stopped short (only its missing answers are generated)", stopped,
                           format_func=lambda r: f"{r} · {next(x['state'] for x in rows if x['run'] == r)}",
                           key="eval_resume_pick")
        if c2.button("Resume", key="eval_resume", icon=":material/play_arrow:"):
            resume(settings, rid)


def resume(settings: Settings, run_id: str) -> None:
    """Queue the continuation of a run that stopped short and show it next, or say why not."""
    try:
        job_id = runs.resume_run(settings, run_id)
    except (runs.RunError, jobs.JobError) as e:
        st.error(safe.text(e))
    else:
        st.session_state[state.EVAL_RUN] = run_id
        flash(f"Run {run_id} resumed (job {job_id}): only its missing answers are generated.")
        st.rerun()


def freshness_section(settings: Settings, entries: list[run_index.RunEntry]) -> None:
    """Change a fact in the sample collection, re-index, re-run the affected questions."""
    st.subheader("4. Freshness check")
    if SAMPLE_COLLECTION not in collection_names(settings):
        st.caption("Load the sample workspace (System page) to try the freshness check.")
        return
    change = freshness.sample_change()
    is_applied = freshness.applied(settings, SAMPLE_COLLECTION, change)
    st.write(f"In **{change.doc_name}**, change **{change.old}** to **{change.new}**; affected questions: "
             f"{', '.join(change.question_ids)}. RAG and hybrid should follow the new fact after re-indexing; the "
             "fine-tuned-only setup answers from its weights and keeps the old one.")
    st.caption(f"The collection currently says: {change.new if is_applied else change.old}.")
    candidates = [e.run_id for e in entries
                  if not e.freshness and set(e.question_ids) >= set(change.question_ids) and e.ended]
    c1, c2 = st.columns(2)
    if c1.button("Restore the original fact" if is_applied else "Change the fact and re-index",
                 icon=":material/edit_note:"):
        try:
            with st.spinner("Re-indexing the document..."):
                msg = freshness.apply_change(settings, SAMPLE_COLLECTION, change, revert=is_applied)
        except Exception as e:
            st.error(f"Could not change the fact: {safe.text(e)}")
        else:
            flash(msg)
            st.rerun()
    if not candidates:
        st.info("First run an evaluation (with the affected questions) on the original documents: it is the "
                "'before' of the check.")
        return
    before = c2.selectbox("Before run", candidates)
    if st.button("Re-run the affected questions", disabled=not is_applied, type="primary",
                 help=None if is_applied else "Change the fact first"):
        try:
            run_id = freshness.submit_after(settings, before, change)
        except (runs.RunError, jobs.JobError) as e:
            st.error(safe.text(e))
        else:
            st.session_state[state.EVAL_RUN] = run_id
            flash(f"Freshness re-run {run_id} queued: RAG and hybrid answer again; with greedy decoding the setups "
                  "that do not read the index keep the before run's answers. Its report shows the before/after table.")
            st.rerun()

