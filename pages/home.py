"""Home: what the workbench is for, the five steps, and what this workspace holds."""
import streamlit as st

from workbench.overview import workspace_counts
from workbench.ui.resources import get_kb, get_settings

st.title("RAG & Fine-Tuning Workbench")
st.markdown(
    "Find out, on your own documents, what **retrieval (RAG)** and **LoRA fine-tuning** each do for a "
    "language model, and what both together do. RAG fixes what the model *knows* (fresh, citable "
    "facts); fine-tuning fixes how it *behaves* (format, tone, terminology); hybrid does both."
)

counts = workspace_counts(get_settings(), kb=get_kb())
cols = st.columns(5)
for col, (label, value) in zip(cols, [("Collections", counts.collections), ("Documents", counts.documents),
                                      ("Chunks", counts.chunks), ("Adapters", counts.adapters),
                                      ("Evaluation runs", counts.eval_runs)]):
    col.metric(label, value)
if counts.collections == 0:
    st.info("The workspace is empty. Load the sample workspace (a fictional company's documents, a "
            "behaviour dataset and an evaluation set) to try everything in a few clicks.")
    st.page_link("pages/system_overview.py", label="System: Load sample workspace", icon=":material/download:")

st.subheader("Five steps")
steps = [
    ("pages/knowledge_collections.py", "1. Knowledge", "Upload documents into a collection; tune chunking "
     "with a live preview of every boundary.", ":material/library_books:"),
    ("pages/retrieval_query.py", "2. Retrieval", "Ask questions and see exactly which passages come back "
     "and why; measure hit@k and sweep chunk settings.", ":material/search:"),
    ("pages/finetune_jobs.py", "3. Fine-tune", "Train a LoRA adapter in the background on a behaviour "
     "dataset; watch the loss curves.", ":material/model_training:"),
    ("pages/arena.py", "4. Arena", "One question, four answers: base, RAG, fine-tuned, hybrid, with "
     "citations and costs.", ":material/forum:"),
    ("pages/evaluate_run.py", "5. Evaluate", "Measure all four on a question set and get a report with a "
     "recommendation.", ":material/analytics:"),
]
for page, label, text, icon in steps:
    with st.container(border=True):
        st.page_link(page, label=label, icon=icon)
        st.caption(text)
