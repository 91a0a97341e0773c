"""Sections of the Retrieval evaluation page: the run's settings and launch, then scores per mode and per question."""
from __future__ import annotations

import streamlit as st

from workbench.retrieval.config import MODES, load_defaults
from workbench.retrieval.evaluate import DEPTH, RetrievalEval
from workbench.retrieval.figures import gold_rank_histogram, metrics_by_mode
from workbench.retrieval.jobs import EVAL_KIND, latest_job, submit_evaluation
from workbench.ui import safe, tables
from workbench.ui.links import next_step
from workbench.ui.resources import get_settings
from workbench.ui.retrieval import collection_result, inputs_check, is_active, question_set_picker, start_job


def run_section(col) -> None:
    """Question set, modes and k, and the Run button, which starts the evaluation as a background job."""
    qs = question_set_picker(col, "eval")
    c1, c2 = st.columns([2, 1])
    modes = c1.multiselect("Modes", MODES, default=list(MODES), key="eval_modes")
    settings = get_settings()
    k = c2.slider("k", 1, 20, load_defaults(settings, col.name).k, key="eval_k")
    ready = qs is not None and bool(modes) and inputs_check(col, qs)
    if ready:
        st.caption(f"{len(qs.questions)} questions x {len(modes)} modes = {len(qs.questions) * len(modes)} searches "
                   "(no model answers: this takes seconds to a few minutes).")
    if st.button("Run evaluation", type="primary", icon=":material/play_arrow:",
                 disabled=not ready or is_active(latest_job(settings, EVAL_KIND, col))):
        start_job(submit_evaluation, settings, col, qs, modes, k, load_defaults(settings, col.name))


def results_section(col) -> None:
    """The collection's last evaluation: progress while it runs; then metrics per mode, where gold passages
    ranked, and a row per question."""
    ev = collection_result(col, EVAL_KIND, "evaluation", RetrievalEval.from_json,
                           "Cancelled: the scores below cover only the questions finished before the cancel.")
    if ev is None:
        return
    if ev.skipped:
        with st.expander(f"{len(ev.skipped)} question(s) have no gold passage in this collection"):
            st.write("\n".join(f"- {safe.text(s)}" for s in ev.skipped))
    if not ev.rows:
        st.error("No question could be scored: none has a gold passage in this collection. Is it the "
                 "right collection for this question set?")
        return
    st.plotly_chart(metrics_by_mode(ev.summaries), width="stretch")
    st.plotly_chart(gold_rank_histogram(ev.rows, DEPTH), width="stretch")
    st.subheader("Per question")
    st.caption(f"Rank of the first gold passage per mode (read to depth {DEPTH}; empty = not found).")
    df = eval_table(ev)
    tables.show(df, width="stretch", column_config={
        "id": st.column_config.TextColumn(pinned=True, width="small"),
        "question": st.column_config.TextColumn(width="large"),
        **{c: st.column_config.NumberColumn(width="small") for c in df.columns if c.startswith("rank (")},
        **{c: st.column_config.TextColumn(width="large") for c in df.columns if c.startswith("top passage")}})
    next_step("pages/retrieval_sweep.py", "Next: find better chunk settings for these questions (Chunk sweep)",
              ":material/tune:")


def eval_table(ev):
    """One row per question: gold rank under each mode, how the gold was matched, the top passage."""
    import pandas as pd

    modes = list(dict.fromkeys(r.mode for r in ev.rows))
    by_q: dict[str, dict] = {}
    for r in ev.rows:
        row = by_q.setdefault(r.qid, {"id": r.qid, "question": r.question, "gold matched by": r.matched_by,
                                      "gold chunks": r.n_gold})
        row[f"rank ({r.mode})"] = r.gold_rank
        if r.mode == modes[0]:
            row[f"top passage ({r.mode})"] = f"[{r.top_source}] {r.top_passage}"
    df = pd.DataFrame(list(by_q.values()))
    ranks = [f"rank ({m})" for m in modes]
    for c in ranks:
        df[c] = df[c].astype("Int64")
    first = ["id", "question"] + ranks
    return df[first + [c for c in df.columns if c not in first]]
