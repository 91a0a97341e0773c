"""Retrieval evaluation: hit@k, MRR and nDCG per mode on a question set, and where each gold passage ranked."""
import streamlit as st

from workbench.retrieval.config import MODES, load_defaults
from workbench.retrieval.evaluate import DEPTH, evaluate
from workbench.retrieval.figures import gold_rank_histogram, metrics_by_mode
from workbench.ui.resources import get_settings
from workbench.ui.retrieval import (
    eval_table, pick_collection, question_set_picker, result_caption, running, start_task, task_panel,
)

st.title("Retrieval evaluation")
st.caption("Score every retrieval mode on a question set: hit@k, MRR and nDCG, and the rank of each "
           "question's gold passage (the chunk holding the expected answer, or from the expected source).")

col = pick_collection("eval")
if col is not None:
    qs = question_set_picker(col, "eval")
    c1, c2 = st.columns([2, 1])
    modes = c1.multiselect("Modes", MODES, default=list(MODES), key="eval_modes")
    k = c2.slider("k", 1, 20, load_defaults(get_settings(), col.name).k, key="eval_k")
    task_key = f"eval:{col.key}"  # the collection's identity: a rename keeps its saved results
    if st.button("Run evaluation", type="primary", icon=":material/play_arrow:",
                 disabled=qs is None or not modes or running(task_key)):
        base = load_defaults(get_settings(), col.name)
        questions = list(qs.questions)
        start_task(task_key, f"{qs.name}: {len(questions)} questions x {len(modes)} modes, k={k}",
                   lambda progress, cancel: evaluate(col, questions, modes, base, k=k, progress=progress,
                                                     cancel=cancel), persist=True)
    ev = task_panel(task_key)
    if ev is not None:
        result_caption(task_key, "run", col)
        if ev.cancelled:
            st.warning("Cancelled: the scores below cover only the questions finished before the cancel.")
        if ev.skipped:
            with st.expander(f"{len(ev.skipped)} question(s) have no gold passage in this collection"):
                st.write("\n".join(f"- {s}" for s in ev.skipped))
        if not ev.rows:
            st.error("No question could be scored: none has a gold passage in this collection. Is it the "
                     "right collection for this question set?")
        else:
            st.plotly_chart(metrics_by_mode(ev.summaries), width="stretch")
            st.plotly_chart(gold_rank_histogram(ev.rows, DEPTH), width="stretch")
            st.subheader("Per question")
            st.caption(f"Rank of the first gold passage per mode (read to depth {DEPTH}; empty = not found).")
            st.dataframe(eval_table(ev), width="stretch", hide_index=True)
