"""Shared widgets of the retrieval pages: collection picker, settings form, question sets; the one background-job panel."""
from __future__ import annotations

import time

import streamlit as st

from workbench import jobs
from workbench.jobs.results import ResultError, latest, read_result
from workbench.knowledge import KnowledgeError
from workbench.questions import (
    FILE_TYPES, QuestionSet, QuestionSetError, list_sets, load_set, parse_questions, sample_question_set, to_jsonl,
)
from workbench.retrieval.config import MODE_LABELS, MODES, RetrievalSettings, load_defaults, save_defaults
from workbench.retrieval.jobs import SYNTH_KIND, latest_job, question_set_from_json, submit_synthetic
from workbench.retrieval.precheck import coverage, embedding_speed
from workbench.sample import jobs as sample_jobs, public
from workbench.ui import safe, state
from workbench.ui.resources import get_kb, get_settings

POLL_S = 1.0  # how often a job panel re-reads its job's status
PUBLIC_STARTED = "public_benchmark"  # finished_here key of a public-benchmark job this session started


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
                           help="0 = BM25 score only, 1 = cosine only; each min-max scaled over the candidates.")
    if mode == "mmr":
        lam = c2.slider("MMR lambda", 0.0, 1.0, saved.mmr_lambda, 0.05, key=p + "lam",
                        help="1 = pure relevance, lower values trade relevance for diversity.")
    metric = {"dense": "cosine similarity", "bm25": "BM25 score", "hybrid": "fused score",
              "mmr": "cosine similarity"}[mode]
    use_t = c3.checkbox("Score threshold", value=saved.threshold is not None, key=p + "use_t",
                        help=f"Drop passages whose {metric} is below the threshold.")
    threshold = None
    if use_t:
        default = {"dense": 0.3, "mmr": 0.3, "bm25": 1.0, "hybrid": 0.3}[mode]
        step = {"dense": 0.01, "mmr": 0.01, "bm25": 0.1, "hybrid": 0.01}[mode]
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
                                    "Generate synthetic", "Saved set"), key=f"{key}_qsrc", horizontal=True,
                   on_change=_follow_question_set, args=(f"{key}_qsrc",))
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


def _follow_question_set(radio_key: str) -> None:
    """Picking the sample or the public questions picks the collection they were written for, when it exists."""
    from workbench.knowledge.sample import SAMPLE_COLLECTION

    src = st.session_state.get(radio_key, "")
    name = SAMPLE_COLLECTION if src == "Sample workspace" else public.PUBLIC_COLLECTION if src.startswith("Public") \
        else None
    if name and name in {i.name for i in get_kb().list_collections()}:
        state.choose_collection(name)


def inputs_check(col, qs: QuestionSet) -> bool:
    """Refuse (with the reason) a question set that has no gold passage in `col`; warn when only part has."""
    cov = coverage(col, list(qs.questions))
    if cov.problem:
        st.error(safe.text(cov.problem))
        return False
    if cov.warning:
        st.warning(safe.text(cov.warning))
    return True


def measured_speed(col) -> float:
    """The embedder's speed on this collection's chunks, measured once per session and collection."""
    speeds = st.session_state.setdefault(state.EMBED_SPEED, {})
    if col.key not in speeds:
        speeds[col.key] = embedding_speed(col)
    return speeds[col.key]


def _public_panel(col, key: str) -> QuestionSet | None:
    """HaluEval's QA questions; they go with collection 'halueval-qa', which one click builds."""
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
        public_benchmark_job(get_settings(), f"Build collection '{public.PUBLIC_COLLECTION}' and switch to it",
                             f"{key}_public_go")
        return None
    state.show_flash(state.RETR_FLASH)
    return qs


def public_benchmark_job(settings, label: str, button_key: str) -> None:
    """A button that builds collection 'halueval-qa' in a background job, its panel, and once the job this
    session started ends well, that collection chosen on every page with a message saying what was loaded."""
    if (done := finished_here(settings, PUBLIC_STARTED)) is not None and done.state == jobs.SUCCEEDED:
        msgs = job_result(settings, done, sample_jobs.messages_from_json) or ["done"]
        state.choose_collection(public.PUBLIC_COLLECTION)  # every collection box shows it on the next run
        state.flash(state.RETR_FLASH, f"Public benchmark loaded: {safe.text('; '.join(msgs))}.")
        st.rerun()
    job = latest(settings, sample_jobs.PUBLIC_KIND, sample_jobs.KEY)
    if st.button(label, key=button_key, icon=":material/download:", disabled=is_active(job)):
        # The size is read here, in the app, so the worker builds the same draw as the question set shown.
        start_job(sample_jobs.submit_public, settings, public.PUBLIC_QUESTIONS, started_key=PUBLIC_STARTED)
    job_panel(settings, job, "Loading the public benchmark")


def _synthetic_panel(col, key: str) -> QuestionSet | None:
    """Generate questions from the collection's chunks in a background job; its set once done."""
    settings = get_settings()
    job = latest_job(settings, SYNTH_KIND, col)  # the collection's identity, like evaluation and sweep results
    c1, c2 = st.columns([1, 2])
    n = c1.number_input("Questions to generate", 2, 100, 10, key=f"{key}_synth_n")
    if c2.button("Generate with the local generator", key=f"{key}_synth_go", icon=":material/auto_awesome:",
                 disabled=is_active(job)):
        start_job(submit_synthetic, settings, col, int(n))
    result = job_result(settings, job_panel(settings, job, "Question synthesis"), question_set_from_json)
    if result is None:
        return None
    st.caption("Synthetic questions are labelled as such: each one's gold is the chunk it was written from.")
    if result.notes:
        with st.expander(f"{len(result.notes)} chunk(s) gave no question", expanded=not result.questions):
            st.write("\n".join(f"- {safe.text(m)}" for m in result.notes[:200]))
    st.download_button("Download as JSONL", to_jsonl(result), file_name="synthetic_questions.jsonl",
                       key=f"{key}_synth_dl")
    return result


# --- background jobs: one panel for every page that starts one ---------------------------------------
def is_active(job: jobs.JobStatus | None) -> bool:
    """True while `job` is queued or running (its page's start button waits)."""
    return job is not None and not job.is_final


def start_job(submit, *args, started_key: str | None = None) -> None:
    """Call a submit helper and rerun the page (now with the job's panel), or say why it could not start.
    With `started_key`, `finished_here(started_key)` reports the job's end to this session."""
    try:
        job = submit(*args)
    except (jobs.JobError, KnowledgeError, OSError) as e:
        st.error(f"Could not start the job: {safe.text(e)}")
        return None
    if started_key:
        st.session_state.setdefault(state.JOBS_STARTED, {})[started_key] = job.job_id
    st.rerun()


def finished_here(settings, started_key: str) -> jobs.JobStatus | None:
    """The job this session started under `started_key`, once (the first run after it ended); else None."""
    started = st.session_state.get(state.JOBS_STARTED, {})
    if started_key not in started:
        return None
    try:
        job = jobs.get(settings, started[started_key])
    except jobs.JobError:
        started.pop(started_key, None)
        return None
    if not job.is_final:
        return None
    started.pop(started_key, None)
    return job


def _show_progress(settings, job: jobs.JobStatus, what: str) -> None:
    if job.state == jobs.QUEUED:
        why = jobs.waiting_reason(settings, job) or job.message
        st.progress(0.0, text=safe.text(f"{what}: queued ({why})"))
        return
    eta = f", about {job.eta_s:.0f} s left" if job.eta_s is not None and job.eta_s >= 1 else ""
    asked = job.job_id in st.session_state.get(state.JOBS_CANCEL_ASKED, set())
    st.progress(job.fraction, text=safe.text(f"{what}: {job.message or 'starting'}{eta}")
                + (" (cancelling...)" if asked else ""))


def job_panel(settings, job: jobs.JobStatus | None, what: str) -> jobs.JobStatus | None:
    """A job's progress, message and Cancel while it is queued or running (redrawn every POLL_S seconds, the
    whole page once when it ends), its error once it failed; returns it once it succeeded or was cancelled."""
    if job is None:
        return None
    if not job.is_final:
        @st.fragment(run_every=POLL_S)
        def watch():
            try:
                cur = jobs.get(settings, job.job_id)
            except jobs.JobError:  # deleted meanwhile (on the jobs page)
                st.rerun()
            if cur.is_final:
                st.rerun()  # the whole page redraws once, now with the result
            _show_progress(settings, cur, what)
            asked = st.session_state.setdefault(state.JOBS_CANCEL_ASKED, set())
            if st.button("Cancel", key=f"cancel_{cur.job_id}", icon=":material/stop_circle:",
                         disabled=cur.job_id in asked):
                asked.add(cur.job_id)
                try:
                    jobs.cancel(settings, cur.job_id)
                    st.toast("Cancel requested: the job stops within a few seconds.")
                except jobs.JobError as e:  # deleted or settled meanwhile
                    st.toast(safe.text(e))
        watch()
        return None
    if job.state == jobs.FAILED:
        st.error(f"{safe.text(what)} failed: {safe.text(job.error or job.message or 'no reason was recorded')}")
        return None
    return job


def job_result(settings, job: jobs.JobStatus | None, from_json):
    """The ended job's result.json through `from_json`; None (with a message when it is damaged) otherwise."""
    if job is None:
        return None
    try:
        res = read_result(jobs.job_dir(settings, job.job_id), from_json)
    except (ResultError, jobs.JobError) as e:
        st.error(safe.text(e))
        return None
    if res is None and job.state == jobs.CANCELLED:
        st.info(f"{safe.text(job.name)}: cancelled before it had any result.")
    return res


def collection_result(col, kind: str, what: str, from_json, cancelled: str):
    """The newest `kind` job of this collection: its panel while it runs, then its result under a caption
    naming the run (and `cancelled` when it was); None while there is none."""
    settings = get_settings()
    job = job_panel(settings, latest_job(settings, kind, col), f"The {what}")
    res = job_result(settings, job, from_json)
    if res is None:
        return None
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(job.finished_at or time.time()))
    st.caption(f"Results of the last {what} on '{safe.text(col.name)}' (finished {when}): "
               f"{safe.text(job.result.get('label', job.name))}.")
    if getattr(res, "cancelled", False):
        st.warning(cancelled)
    return res
