"""Shared widgets of the retrieval pages: collection picker, settings form, question sets, background tasks."""
from __future__ import annotations

import time

import streamlit as st

from workbench.questions import (
    FILE_TYPES, QuestionSet, QuestionSetError, list_sets, load_set, parse_questions, sample_question_set, to_jsonl,
)
from workbench.retrieval.config import MODE_LABELS, MODES, RetrievalSettings, load_defaults, save_defaults
from workbench.retrieval.tasks import BackgroundTask, load_result, save_result
from workbench.ui import safe, state
from workbench.ui.resources import get_kb, get_settings


def pick_collection(key: str = "retr"):
    """A collection selectbox (remembers the active one); None with a hint when there is none."""
    kb = get_kb()
    infos = [i for i in kb.list_collections()]
    if not infos:
        st.info("No collection yet. Create one and upload documents on **Collections**, or load the sample "
                "workspace on **System**.")
        st.page_link("pages/knowledge_collections.py", label="Go to Collections", icon=":material/library_books:")
        return None
    names = [i.name for i in infos]
    name = state.collection_box("Collection", names, f"{key}_collection",
                                format_func=lambda n: next(f"{i.name} ({i.n_documents} docs, {i.n_chunks} chunks)"
                                                           for i in infos if i.name == n))
    info = next(i for i in infos if i.name == name)
    if info.stale:
        st.warning("This collection's settings changed since it was indexed: results reflect the old index "
                   "until it is re-indexed on **Collections**.")
    if info.n_chunks == 0:
        st.info("This collection has no documents yet: upload some on **Collections** first.")
        return None
    return kb.get(name)


def settings_form(col, key: str = "retr", show_filter: bool = True) -> RetrievalSettings:
    """Widgets for mode, k, threshold, fusion weight, MMR lambda and document filter; starts at the saved defaults."""
    saved = load_defaults(get_settings(), col.name)
    p = f"{key}_{col.name}_"
    mode = st.radio("Mode", MODES, index=MODES.index(saved.mode), key=p + "mode", horizontal=True,
                    format_func=lambda m: MODE_LABELS[m])
    c1, c2, c3 = st.columns(3)
    k = c1.slider("Top-k", 1, 20, saved.k, key=p + "k")
    weight, lam = saved.hybrid_weight, saved.mmr_lambda
    if mode == "hybrid":
        weight = c2.slider("Dense weight in the fusion", 0.0, 1.0, saved.hybrid_weight, 0.05, key=p + "w",
                           help="0 = BM25 ranking only, 1 = dense ranking only; RRF with constant 60.")
    if mode == "mmr":
        lam = c2.slider("MMR lambda", 0.0, 1.0, saved.mmr_lambda, 0.05, key=p + "lam",
                        help="1 = pure relevance, lower values trade relevance for diversity.")
    metric = {"dense": "cosine similarity", "bm25": "BM25 score", "hybrid": "fused RRF score",
              "mmr": "cosine similarity"}[mode]
    use_t = c3.checkbox("Score threshold", value=saved.threshold is not None, key=p + "use_t",
                        help=f"Drop passages whose {metric} is below the threshold.")
    threshold = None
    if use_t:
        default = {"dense": 0.3, "mmr": 0.3, "bm25": 1.0, "hybrid": 0.01}[mode]
        step = {"dense": 0.01, "mmr": 0.01, "bm25": 0.1, "hybrid": 0.001}[mode]
        start = saved.threshold if saved.threshold is not None and saved.mode == mode else default
        threshold = c3.number_input(f"Minimum {metric}", value=float(start), step=step, format="%.3f",
                                    key=p + f"t_{mode}")
    doc_ids: tuple[str, ...] = ()
    if show_filter:
        docs = col.documents()
        chosen = st.multiselect("Only these documents", [d.doc_id for d in docs], key=p + "docs",
                                format_func=lambda i: next(d.name for d in docs if d.doc_id == i),
                                placeholder="All documents")
        doc_ids = tuple(chosen)
    rs = RetrievalSettings(mode=mode, k=k, threshold=threshold, hybrid_weight=weight, mmr_lambda=lam,
                           doc_ids=doc_ids)
    if st.button("Use these settings in the arena and evaluation", key=p + "save", icon=":material/save:",
                 help="Saves mode, k, threshold, weight and lambda as this collection's default."):
        save_defaults(get_settings(), rs, col.name)
        st.toast(f"Saved as the default retrieval settings for '{safe.text(col.name)}'.")
    return rs


def question_set_picker(col, key: str = "retr") -> QuestionSet | None:
    """Sample set, public benchmark, an upload (rows checked), a synthetic set, or a set saved on Run evaluation."""
    src = st.radio("Question set", ("Sample workspace", "Public benchmark (HaluEval QA)", "Upload CSV / JSONL",
                                    "Generate synthetic", "Saved set"), key=f"{key}_qsrc", horizontal=True)
    qs: QuestionSet | None = None
    if src.startswith("Public"):
        qs = _public_panel(col, key)
    elif src == "Sample workspace":
        qs = sample_question_set()
        st.caption("The sample workspace's questions with reference answers and source documents; they match "
                   "the sample knowledge base ('Load sample workspace' on System).")
    elif src == "Upload CSV / JSONL":
        up = st.file_uploader("Questions file", type=[t.lstrip(".") for t in FILE_TYPES], key=f"{key}_qfile",
                              help="Columns: question, plus reference (expected answer text) and/or "
                                   "source_document (file name) and source_page; the same files as Run evaluation.")
        if up is not None:
            try:
                qs = parse_questions(up.getvalue(), up.name, get_settings().max_dataset_mb)
            except QuestionSetError as e:
                st.error(f"{safe.text(up.name)}: {safe.text(e)}")
    elif src == "Saved set":
        names = list_sets(get_settings())
        if not names:
            st.info("No saved question set yet: sets saved on **Run evaluation** appear here.")
        else:
            name = st.selectbox("Saved set", names, key=f"{key}_qsaved")
            qs = QuestionSet(name, tuple(load_set(get_settings(), name)))
    else:
        qs = _synthetic_panel(col, key)
    if qs is None:
        return None
    if qs.errors:
        with st.expander(f"{len(qs.errors)} row(s) skipped", expanded=not qs.questions):
            st.write("\n".join(f"- {safe.text(e)}" for e in qs.errors[:200]))
    if not qs.questions:
        st.error("No usable question in this set.")
        return None
    n_un = sum(q.unanswerable for q in qs.questions)
    st.caption(f"**{safe.text(qs.name)}**: {len(qs.questions)} questions" + (" (synthetic)" if qs.synthetic else "")
               + (f"; {n_un} unanswerable ones have no gold passage and are not scored" if n_un else ""))
    return qs


def _public_panel(col, key: str) -> QuestionSet | None:
    """HaluEval's QA questions; they go with collection 'halueval-qa', which one click builds."""
    from workbench.sample import public

    try:
        qs = public.public_question_set()
    except public.PublicDataMissing as e:
        st.error(safe.text(e))
        return None
    st.caption(f"{public.PUBLIC_QUESTIONS} HotpotQA questions from HaluEval (a published data set, not written "
               f"here), each with the Wikipedia passage that answers it; gold = that passage. "
               f"{public.LICENCE}")
    if col.name != public.PUBLIC_COLLECTION:
        st.warning(f"These questions are about the passages in collection '{public.PUBLIC_COLLECTION}', "
                   f"not '{safe.text(col.name)}'.")
        if st.button(f"Build collection '{public.PUBLIC_COLLECTION}' and switch to it", key=f"{key}_public_go",
                     icon=":material/download:"):
            bar = st.progress(0.0, text="Embedding the passages...")
            msg = public.load_public_benchmark(get_settings(), progress=lambda f, m: bar.progress(
                min(1.0, max(0.0, f)), text=m))
            state.choose_collection(public.PUBLIC_COLLECTION)  # every collection box shows it on the next run
            state.flash(state.RETR_FLASH, f"Public benchmark loaded: {msg}.")
            st.rerun()
        return None
    state.show_flash(state.RETR_FLASH)
    return qs


def _synthetic_panel(col, key: str) -> QuestionSet | None:
    task_key = f"synth:{col.key}"  # the collection's identity, like the saved evaluation and sweep results
    c1, c2 = st.columns([1, 2])
    n = c1.number_input("Questions to generate", 2, 100, 10, key=f"{key}_synth_n")
    if c2.button("Generate with the local generator", key=f"{key}_synth_go", icon=":material/auto_awesome:",
                 disabled=running(task_key)):
        from workbench.questions import synthetic_question_set
        from workbench.ui.resources import get_generator

        gen = get_generator()
        chunks = col.chunks()
        start_task(task_key, "question synthesis",
                   lambda progress, cancel: synthetic_question_set(chunks, gen, int(n), progress=progress,
                                                                   cancel=cancel))
    result = task_panel(task_key)
    if isinstance(result, QuestionSet):
        st.caption("Synthetic questions are labelled as such: each one's gold is the chunk it was written from.")
        if result.notes:
            with st.expander(f"{len(result.notes)} chunk(s) gave no question", expanded=not result.questions):
                st.write("\n".join(f"- {safe.text(m)}" for m in result.notes[:200]))
        st.download_button("Download as JSONL", to_jsonl(result), file_name="synthetic_questions.jsonl",
                           key=f"{key}_synth_dl")
        return result
    return None


@st.cache_resource
def _tasks() -> dict[str, BackgroundTask]:
    """Tasks by key, per server process: a reload finds its running sweep again."""
    return {}


def _saved_path(task_key: str):
    import hashlib

    return get_settings().storage / "retrieval_results" / (hashlib.sha1(task_key.encode()).hexdigest()[:16] + ".pkl")


def start_task(task_key: str, label: str, fn, persist: bool = False) -> BackgroundTask:
    """Start `fn` in the background; `persist`: its result is saved and shown again after a restart."""
    path = _saved_path(task_key) if persist else None
    task = BackgroundTask(label, fn, on_done=(lambda t: save_result(path, t)) if persist else None).start()
    _tasks()[task_key] = task
    return task


def get_task(task_key: str):
    """The task in this server process, else the last result saved for `task_key` (started with `persist`)."""
    task = _tasks().get(task_key)
    if task is None and (saved := load_result(_saved_path(task_key))) is not None:
        _tasks()[task_key] = task = saved
    return task


def result_caption(task_key: str, what: str, col) -> None:
    """Which run the results below come from (and when, for one saved before a restart)."""
    t = get_task(task_key)
    when = f" (saved {time.strftime('%Y-%m-%d %H:%M', time.localtime(t.finished_at))})" if t.saved else ""
    st.caption(f"Results of the last {what} on '{safe.text(col.name)}'{when}: {safe.text(t.label)}.")


def running(task_key: str) -> bool:
    t = get_task(task_key)
    return t is not None and not t.done


def task_result(task_key: str, what: str, col, cancelled: str):
    """The task's result once done (else None), under a caption naming its run, and `cancelled` if it was."""
    res = task_panel(task_key)
    if res is not None:
        result_caption(task_key, what, col)
        if res.cancelled:
            st.warning(cancelled)
    return res


def task_panel(task_key: str):
    """Progress and a cancel button while the task runs (polled every second); its result once done."""
    task = get_task(task_key)
    if task is None:
        return None
    if not task.done:
        @st.fragment(run_every=1.0)
        def watch():
            t = get_task(task_key)
            if t is None:
                return
            if t.done:
                st.rerun()  # the whole page redraws once, now with the result
            st.progress(t.fraction, text=safe.text(f"{t.label}: {t.message}")
                        + (" (cancelling...)" if t.cancelling else ""))
            if st.button("Cancel", key=f"cancel_{task_key}", icon=":material/stop_circle:", disabled=t.cancelling):
                t.cancel()
        watch()
        return None
    if task.error:
        st.error(safe.text(f"{task.label} failed: {task.error}"))
        return None
    return task.result
