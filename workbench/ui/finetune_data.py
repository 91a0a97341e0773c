"""Sections of the Datasets page: upload with validation, the sample, stored datasets with preview, synthetic QA."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from workbench import jobs
from workbench.finetune import datasets as ds, sample, synthetic
from workbench.finetune.figures import length_histogram
from workbench.models.registry import ModelError
from workbench.names import check_name
from workbench.settings import Settings
from workbench.ui import safe, state, tables
from workbench.ui.finetune import flash
from workbench.ui.resources import base_tokenizer


@st.cache_data(show_spinner="Counting tokens...", max_entries=16)
def _lengths(_settings: Settings, name: str, content_hash: str) -> list[int]:
    """Token lengths of a stored dataset (first 5,000 examples); the hash keys the cache."""
    return ds.token_lengths(base_tokenizer(_settings), ds.load_examples(_settings, name)[:5000])


def upload_section(settings: Settings) -> None:
    """Upload -> row-level validation report -> save under a name."""
    up = st.file_uploader("Training data (.jsonl, .json or .csv)", type=["jsonl", "json", "csv"],
                          key="ft_uploader",
                          help="Rows as prompt/completion, Alpaca instruction/input/output, or chat `messages`.")
    if up is not None:
        key = (up.name, up.size)
        cached = st.session_state.get(state.FT_UPLOAD_RESULT)
        if not cached or cached[0] != key:
            try:
                parsed = ds.parse_dataset(up.name, up.getvalue(), max_bytes=int(settings.max_dataset_mb * 1e6))
            except ds.DatasetError as e:
                st.error(safe.text(e))
                return
            st.session_state[state.FT_UPLOAD_RESULT] = (key, parsed)
        parsed = st.session_state[state.FT_UPLOAD_RESULT][1]
        ok, bad = len(parsed.examples), len(parsed.errors)
        if not parsed.n_rows:
            st.error(f"{safe.text(up.name)} contains no rows.")
            return
        shapes = ", ".join(f"{n} {s}" for s, n in parsed.shapes.items()) or "none"
        (st.success if not bad else st.warning)(
            f"{parsed.n_rows} rows: {ok} usable ({shapes}), {bad} rejected.")
        if bad:
            tables.show([{"row": e.line, "reason": e.reason} for e in parsed.errors[:500]],
                        height=min(300, 38 + 35 * bad))
        if not ok:
            st.error("No usable examples: fix the rows above and upload again.")
            return
        with st.form("ft_save_upload"):
            name = st.text_input("Dataset name", value=Path(up.name).stem[:64])
            if st.form_submit_button("Save dataset", type="primary"):
                try:
                    info = ds.save_dataset(settings, name, parsed.examples, source=up.name, shapes=parsed.shapes)
                except ds.DatasetError as e:
                    st.error(safe.text(e))
                else:
                    st.session_state[state.FT_PREVIEW_DATASET] = info.name
                    st.session_state.pop(state.FT_UPLOAD_RESULT, None)
                    flash(f"Saved {info.n_examples} examples as '{safe.text(info.name)}'.")
                    st.rerun()


def datasets_table(infos: list[ds.DatasetInfo]) -> None:
    tables.show([{
        "name": i.name, "examples": i.n_examples, "source": i.source, "synthetic": i.synthetic,
        "shapes": ", ".join(f"{s}: {n}" for s, n in i.shapes.items()), "hash": i.content_hash,
    } for i in infos], width="stretch")


def preview_section(settings: Settings, infos: list[ds.DatasetInfo]) -> None:
    """Rendered examples, token-length histogram, over-length count and split sizes of one dataset."""
    names = [i.name for i in infos]
    cur = st.session_state.get(state.FT_PREVIEW_DATASET)
    name = st.selectbox("Preview dataset", names, index=names.index(cur) if cur in names else 0)
    st.session_state[state.FT_PREVIEW_DATASET] = name
    info = next(i for i in infos if i.name == name)
    if info.synthetic:
        st.info("Synthetic: the question/answer pairs were written by the local generator from a collection's "
                "chunks, so some are wrong or trivial. Use it to see what fine-tuning on knowledge does.")
    examples = ds.load_examples(settings, name)
    try:
        tok = base_tokenizer(settings)
    except ModelError as e:
        st.error(f"Model unavailable: {safe.text(e)}")
        return
    c1, c2, c3 = st.columns(3)
    max_len = c1.number_input("Max sequence length (tokens)", 16, 32768, 256, step=64)
    val_fraction = c2.slider("Validation fraction", 0.0, 0.5, 0.1, 0.05)
    seed = c3.number_input("Split seed", 0, 2**31 - 1, 0)
    lengths = _lengths(settings, name, info.content_hash)
    over = sum(n > max_len for n in lengths)
    train, val = ds.split(examples, val_fraction, int(seed))
    m = st.columns(4)
    m[0].metric("examples", len(examples))
    m[1].metric("train / validation", f"{len(train)} / {len(val)}",
                help="A training job scores at most its 'validation examples per check' of these (16 in the CPU "
                     "quick preset); the job's form shows and sets that cap.")
    m[2].metric("median tokens", int(pd.Series(lengths).median()) if lengths else 0)
    m[3].metric(f"over {max_len} tokens", over)
    st.plotly_chart(length_histogram(lengths, int(max_len)), key="ft_len_hist")
    if over:
        st.caption(f"{over} example(s) exceed the limit: training truncates them (or drops them, if the job says so); "
                   "an example whose prompt alone is too long is always dropped.")
    st.markdown("**Examples as the model sees them** (chat template; the loss is on the highlighted answer only)")
    for ex in train[:3]:
        prompt, completion = ds.render(tok, ex)
        st.code(prompt, language=None)
        st.code(completion, language="json" if completion.lstrip().startswith("{") else None)
    if st.button("Delete this dataset", icon=":material/delete:"):
        ds.delete_dataset(settings, name)
        st.session_state.pop(state.FT_PREVIEW_DATASET, None)
        flash(f"Deleted dataset '{safe.text(name)}'.")
        st.rerun()


def synthetic_section(settings: Settings) -> None:
    """Queue a background job that writes QA pairs from a collection's chunks."""
    try:
        from workbench.knowledge import KnowledgeBase

        collections = [c.name for c in KnowledgeBase(settings).list_collections()]
    except Exception as e:  # the knowledge base is optional for this page
        st.caption(f"Collections unavailable: {safe.text(e)}")
        return
    if not collections:
        st.caption("Create a collection on the Collections page first.")
        return
    with st.form("ft_synthetic"):
        coll = st.selectbox("Collection", collections)
        c1, c2 = st.columns(2)
        n = c1.number_input("Chunks to use", 1, 500, 20, help="About 5-10 s per chunk on a laptop CPU.")
        name = c2.text_input("Dataset name", value=f"synthetic-{coll}"[:64])
        if st.form_submit_button("Build in the background"):
            try:
                check_name(name, "dataset", ds.DatasetError)
                job = synthetic.submit(settings, coll, name, int(n))
            except (ds.DatasetError, jobs.JobError) as e:
                st.error(safe.text(e))
            else:
                flash(f"Queued job {job.job_id}; the dataset appears here when it finishes.")
                st.rerun()
    for j in jobs.list_jobs(settings, "synthetic_qa")[:3]:
        text = safe.text(f"{j.name}: {j.state}" + (f" ({j.step}/{j.total})" if j.total else ""))
        if j.state == jobs.FAILED:
            st.error(f"{text}: {safe.text(j.error)}")
        else:
            st.caption(text + (f" -> {j.result.get('pairs')} pairs" if j.result.get("pairs") is not None else ""))


def sample_section(settings: Settings) -> None:
    """The bundled behaviour dataset, one click away, and the synthetic QA builder."""
    st.write("280 questions answered as one-line JSON (`answer`, `confidence`, `source`): "
             "a behaviour a small adapter learns in minutes.")
    if st.button("Load sample behaviour dataset", icon=":material/download:"):
        try:
            flash(sample.load(settings))
        except ds.DatasetError as e:
            st.error(safe.text(e))
        else:
            st.session_state[state.FT_PREVIEW_DATASET] = sample.SAMPLE_NAME
            st.rerun()
    with st.expander("Build synthetic QA pairs from a collection"):
        synthetic_section(settings)


def stored_section(settings: Settings) -> None:
    """Every stored dataset in a table, and one previewed as the model sees it."""
    infos = ds.list_datasets(settings)
    st.subheader("Stored datasets")
    if not infos:
        st.info("No datasets yet: upload a file or load the sample.")
        return
    datasets_table(infos)
    preview_section(settings, infos)
