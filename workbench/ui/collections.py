"""Sections of the Collections page: the list (and sample), uploads with their report, create, rename and delete."""
from __future__ import annotations

import streamlit as st

from workbench import jobs
from workbench.jobs.results import latest

from workbench.knowledge import CollectionConfig, IngestReport, KnowledgeError
from workbench.knowledge.config import STRATEGY_LABELS
from workbench.knowledge.decoding import ENCODINGS
from workbench.knowledge.parsing import SUPPORTED
from workbench.knowledge.jobs import latest_ingest, report_from_json, runs_as_job, submit_ingest
from workbench.knowledge.sample import SAMPLE_COLLECTION
from workbench.sample import jobs as sample_jobs
from workbench.ui import safe, state, tables
from workbench.ui.knowledge import collection_picker, config_inputs, flash
from workbench.ui.links import next_step
from workbench.ui.resources import get_kb, get_settings
from workbench.ui.retrieval import finished_here, is_active, job_panel, job_result, start_job

UPLOAD_TYPES = [e.lstrip(".") for e in SUPPORTED]
SAMPLE_KB_STARTED, INGEST_STARTED = "sample_kb", "ingest"  # finished_here keys of jobs this session started


def overview_section() -> list:
    """The sample button and a table of every collection, with a warning per stale index; returns their infos."""
    infos = get_kb().list_collections()
    if not infos:
        st.info("No collections yet: create one below, or load the sample knowledge base.")
    sample_kb_job()
    if infos:
        tables.show([{
            "collection": i.name, "documents": i.n_documents, "chunks": i.n_chunks,
            "strategy": STRATEGY_LABELS[i.config.strategy], "size": f"{i.config.chunk_size} {i.config.unit}",
            "overlap": i.config.chunk_overlap, "embedding model": i.config.embedding_model,
            "index": "settings changed - re-index" if i.stale else "up to date"} for i in infos],
            width="stretch")
        for i in infos:
            if i.stale:
                st.warning(f"**{safe.text(i.name)}**: its settings differ from those its index was built with. "
                           "Re-index it on the Chunking preview page.", icon=":material/sync_problem:")
    return infos


def sample_kb_job() -> None:
    """A button that builds the sample knowledge base in a background job, its panel, and once the job this
    session started has ended, its outcome as a message with that collection chosen."""
    settings = get_settings()
    if (done := finished_here(settings, SAMPLE_KB_STARTED)) is not None:
        if done.state == jobs.SUCCEEDED:
            flash("success", safe.text("; ".join(job_result(settings, done, sample_jobs.messages_from_json) or [])))
            state.choose_collection(SAMPLE_COLLECTION)
        elif done.state == jobs.CANCELLED:
            flash("warning", "Loading the sample knowledge base was cancelled: the documents finished before "
                             "the cancel are indexed; load it again to finish.")
        else:
            flash("error", f"Could not load the sample: {safe.text(done.error)}")
        st.rerun()
    job = latest(settings, sample_jobs.SAMPLE_KB_KIND, sample_jobs.KEY)
    if st.button("Load sample knowledge base", icon=":material/download:", disabled=is_active(job),
                 help=f"Creates '{SAMPLE_COLLECTION}' from the bundled Lumenkeel documents (idempotent)."):
        start_job(sample_jobs.submit_sample_kb, settings, started_key=SAMPLE_KB_STARTED)
    if is_active(job):
        job_panel(settings, job, "Loading the sample knowledge base")


def _picked(infos: list, key: str, empty: str) -> str | None:
    """The collection picked for a tab, or None (with `empty` said when there is no collection)."""
    if not infos:
        st.caption(empty)
        return None
    return collection_picker(key)


def upload_section(infos: list) -> None:
    """Files into a collection with progress and Cancel (a background job for a large upload), then the upload's report."""
    name = _picked(infos, "kn_upload_collection",
                   "Create a collection first (the **New collection** tab), then upload documents into it.")
    if not name:
        return
    gen = st.session_state.get(state.KNOWLEDGE_UPLOADER_GEN, 0)
    files = st.file_uploader(f"Documents ({', '.join(UPLOAD_TYPES)}; up to {get_settings().max_upload_mb:.0f} MB each)",
                             accept_multiple_files=True, key=f"kn_uploader_{gen}")
    encoding = st.selectbox("Text encoding", [None, *ENCODINGS], key="kn_upload_encoding",
                            format_func=lambda e: e or "Detect (UTF-8, byte-order marks, then a guess)",
                            help="For TXT, Markdown and HTML files. Choose one when a document's encoding was "
                                 "guessed wrong (the upload report and the Documents page say which was used): "
                                 "its unchanged file is then read again with this one.")
    settings = get_settings()
    if (done := finished_here(settings, INGEST_STARTED)) is not None:
        if (rep := job_result(settings, done, report_from_json)) is not None:
            st.session_state[state.KNOWLEDGE_UPLOAD_REPORT] = (done.result.get("collection", name), rep)
        elif done.state == jobs.FAILED:
            flash("error", f"The upload failed: {safe.text(done.error)}")
        st.rerun()
    job = latest_ingest(settings, name)
    if is_active(job):
        job_panel(settings, job, f"Ingesting into '{name}'")
    elif files and runs_as_job([f.size for f in files]):
        if st.button(f"Ingest {len(files)} file(s) into {safe.text(name)}", type="primary",
                     help="A large upload runs in the background: you may leave this page meanwhile."):
            st.session_state[state.KNOWLEDGE_UPLOADER_GEN] = gen + 1  # the next run starts with an empty uploader
            st.session_state.pop(state.KNOWLEDGE_UPLOAD_REPORT, None)
            start_job(submit_ingest, settings, name, [(f.name, f.getvalue()) for f in files], encoding,
                      started_key=INGEST_STARTED)
            st.session_state[state.KNOWLEDGE_UPLOADER_GEN] = gen  # not started (the error is shown): files stay
    elif files and st.button(f"Ingest {len(files)} file(s) into {safe.text(name)}", type="primary"):
        st.button("Cancel", help="Stops the upload; documents finished before it stay indexed.")
        # Shown only if this run is interrupted by Cancel; a finished upload replaces it below.
        flash(
            "warning", "Upload cancelled: documents finished before the cancel are indexed, the rest are not. "
                       "Upload the same files again to finish: finished ones are recognised as unchanged.")
        bar = st.progress(0.0, "Starting...")
        rep = get_kb().get(name).ingest([(f.name, f.getvalue()) for f in files],
                                        progress=lambda f, m: bar.progress(min(1.0, f), safe.text(m)),
                                        encoding=encoding)
        st.session_state.pop(state.KNOWLEDGE_FLASH, None)
        st.session_state[state.KNOWLEDGE_UPLOAD_REPORT] = (name, rep)
        st.session_state[state.KNOWLEDGE_UPLOADER_GEN] = gen + 1
        st.rerun()
    if last := st.session_state.get(state.KNOWLEDGE_UPLOAD_REPORT):
        show_report(*last)


def show_report(name: str, rep: IngestReport) -> None:
    """One upload's outcome: what was added, replaced, unchanged, and each failure with its reason."""
    done = len(rep.added) + len(rep.replaced)
    msg = (f"**{safe.text(name)}**: {len(rep.added)} added, {len(rep.replaced)} replaced, "
           f"{len(rep.unchanged)} unchanged, {len(rep.failed)} failed; {rep.n_chunks} chunks written, {rep.n_embedded} texts embedded "
           f"in {rep.seconds:.1f} s.")
    if rep.cancelled:
        st.warning(msg + f" Cancelled: {len(rep.skipped)} file(s) not processed.")
    elif rep.failed and not done:
        st.error(msg)
    elif rep.failed:
        st.warning(msg)
    else:
        st.success(msg)
    for f in rep.failed:
        st.error(f"**{safe.text(f.name)}**: {safe.text(f.reason)}", icon=":material/error:")
    for n in rep.notes:
        st.info(safe.text(n))
    if done or rep.unchanged:
        next_step("pages/retrieval_query.py", "Next: ask these documents a question in the Query lab",
                  ":material/search:")


def _change(action, name: str, message: str, where=st) -> None:
    """Create or rename: on success make `name` the active collection and rerun with `message`; else say why."""
    try:
        action()
    except KnowledgeError as e:
        where.error(safe.text(e))
        return
    state.choose_collection(name)
    flash("success", message)
    st.rerun()


def create_section() -> None:
    """A form for a new collection: name, embedding model and chunk settings."""
    with st.form("kn_create", border=False):
        new_name = st.text_input("Name", placeholder="e.g. product-docs")
        cfg = config_inputs(CollectionConfig(embedding_model=get_settings().embedding_model), "kn_create")
        if st.form_submit_button("Create collection", type="primary"):
            def create() -> None:
                if isinstance(cfg, str):
                    raise KnowledgeError(cfg)
                get_kb().create(new_name, cfg)

            _change(create, new_name.strip(), f"Created collection '{safe.text(new_name.strip())}'.")


def manage_section(infos: list) -> None:
    """Rename or delete (after a confirmation) one collection."""
    if not (target := _picked(infos, "kn_manage_collection", "Nothing to rename or delete yet.")):
        return
    kb = get_kb()
    c1, c2 = st.columns(2)
    renamed = c1.text_input("New name", value=target, key=f"kn_rename_{target}")
    if c1.button("Rename"):
        _change(lambda: kb.rename(target, renamed), renamed.strip(),
                f"Renamed '{safe.text(target)}' to '{safe.text(renamed.strip())}'.", where=c1)
    sure = c2.checkbox(f"Yes, delete '{safe.text(target)}' and all its chunks", key=f"kn_sure_{target}")
    if c2.button("Delete collection", disabled=not sure):
        kb.delete(target)
        state.choose_collection(None)
        flash("success", f"Deleted collection '{safe.text(target)}'.")
        st.rerun()
