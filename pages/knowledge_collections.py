"""Collections: list, create, rename, delete; upload documents with progress and per-file errors."""
import pandas as pd
import streamlit as st

from workbench.knowledge import CollectionConfig, KnowledgeError
from workbench.knowledge.config import STRATEGY_LABELS
from workbench.knowledge.sample import SAMPLE_COLLECTION, load as load_sample_kb
from workbench.ui import state
from workbench.ui.knowledge import (
    UPLOAD_TYPES, collection_picker, config_inputs, flash, show_flash, show_report,
)
from workbench.ui.resources import get_kb, get_settings

st.title("Collections")
st.caption("Named knowledge bases, each with its own embedding model and chunk settings.")
kb, settings = get_kb(), get_settings()
show_flash()

infos = kb.list_collections()
if not infos:
    st.info("No collections yet: create one below, or load the sample knowledge base.")
if st.button("Load sample knowledge base", icon=":material/download:",
             help=f"Creates '{SAMPLE_COLLECTION}' from the bundled Lumenkeel documents (idempotent)."):
    bar = st.progress(0.0, "Loading the sample knowledge base...")
    try:
        msg = load_sample_kb(settings, lambda f, m: bar.progress(min(1.0, f), m))
        flash("success", msg)
        state.choose_collection(SAMPLE_COLLECTION)
    except Exception as e:  # noqa: BLE001 - shown to the user, nothing is half-written
        flash("error", f"Could not load the sample: {e}")
    st.rerun()

if infos:
    st.dataframe(pd.DataFrame([{
        "collection": i.name, "documents": i.n_documents, "chunks": i.n_chunks,
        "strategy": STRATEGY_LABELS[i.config.strategy], "size": f"{i.config.chunk_size} {i.config.unit}",
        "overlap": i.config.chunk_overlap, "embedding model": i.config.embedding_model,
        "index": "settings changed - re-index" if i.stale else "up to date"} for i in infos]),
        hide_index=True, width="stretch")
    for i in infos:
        if i.stale:
            st.warning(f"**{i.name}**: its settings differ from those its index was built with. "
                       "Re-index it on the Chunking preview page.", icon=":material/sync_problem:")

upload_tab, create_tab, manage_tab = st.tabs(["Upload documents", "New collection", "Rename / delete"])
with upload_tab:
    if not infos:
        st.caption("Create a collection first (the **New collection** tab), then upload documents into it.")
    elif (name := collection_picker("kn_upload_collection")):
        gen = st.session_state.get(state.KNOWLEDGE_UPLOADER_GEN, 0)
        files = st.file_uploader(f"Documents ({', '.join(UPLOAD_TYPES)}; up to {settings.max_upload_mb:.0f} MB each)",
                                 accept_multiple_files=True, key=f"kn_uploader_{gen}")
        if files and st.button(f"Ingest {len(files)} file(s) into {name}", type="primary"):
            st.button("Cancel", help="Stops the upload; documents finished before it stay indexed.")
            # Shown only if this run is interrupted by Cancel; a finished upload replaces it below.
            flash(
                "warning", "Upload cancelled: documents finished before the cancel are indexed, the rest are not. "
                           "Upload the same files again to finish: finished ones are recognised as unchanged.")
            bar = st.progress(0.0, "Starting...")
            rep = kb.get(name).ingest([(f.name, f.getvalue()) for f in files],
                                      progress=lambda f, m: bar.progress(min(1.0, f), m))
            st.session_state.pop(state.KNOWLEDGE_FLASH, None)
            st.session_state[state.KNOWLEDGE_UPLOAD_REPORT] = (name, rep)
            st.session_state[state.KNOWLEDGE_UPLOADER_GEN] = gen + 1
            st.rerun()
        if last := st.session_state.get(state.KNOWLEDGE_UPLOAD_REPORT):
            show_report(*last)

with create_tab:
    with st.form("kn_create", border=False):
        new_name = st.text_input("Name", placeholder="e.g. product-docs")
        cfg = config_inputs(CollectionConfig(embedding_model=settings.embedding_model), "kn_create")
        if st.form_submit_button("Create collection", type="primary"):
            try:
                if isinstance(cfg, str):
                    raise KnowledgeError(cfg)
                kb.create(new_name, cfg)
                state.choose_collection(new_name.strip())
                flash("success", f"Created collection '{new_name.strip()}'.")
                st.rerun()
            except KnowledgeError as e:
                st.error(str(e))

with manage_tab:
    if not infos:
        st.caption("Nothing to rename or delete yet.")
    elif (target := collection_picker("kn_manage_collection")):
        c1, c2 = st.columns(2)
        renamed = c1.text_input("New name", value=target, key=f"kn_rename_{target}")
        if c1.button("Rename"):
            try:
                kb.rename(target, renamed)
                state.choose_collection(renamed.strip())
                flash("success", f"Renamed '{target}' to '{renamed.strip()}'.")
                st.rerun()
            except KnowledgeError as e:
                c1.error(str(e))
        sure = c2.checkbox(f"Yes, delete '{target}' and all its chunks", key=f"kn_sure_{target}")
        if c2.button("Delete collection", disabled=not sure):
            kb.delete(target)
            state.choose_collection(None)
            flash("success", f"Deleted collection '{target}'.")
            st.rerun()
