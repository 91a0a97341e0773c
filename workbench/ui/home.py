"""Sections of the Home page: what this workspace holds, and the steps with links."""
from __future__ import annotations

import streamlit as st

from workbench.overview import workspace_counts
from workbench.ui.resources import get_kb, get_settings

STEPS = [  # (page, label, what it is for, icon)
    ("pages/prompt_recipes.py", "1. Prompt", "Try prompt engineering first: a recipe of instructions, a format "
     "statement and few-shot examples, paid for in prompt tokens on every question.", ":material/edit_note:"),
    ("pages/knowledge_collections.py", "2. Knowledge", "Upload documents into a collection; tune chunking "
     "with a live preview of every boundary.", ":material/library_books:"),
    ("pages/retrieval_query.py", "3. Retrieval", "Ask questions and see exactly which passages come back "
     "and why; measure retrieval and sweep chunk settings.", ":material/search:"),
    ("pages/finetune_jobs.py", "4. Fine-tune", "Train a LoRA adapter in the background on a behaviour "
     "dataset; watch the loss curves.", ":material/model_training:"),
    ("pages/arena.py", "5. Arena", "One question, five answers: base, prompted, RAG, fine-tuned, hybrid, with "
     "citations and costs.", ":material/forum:"),
    ("pages/evaluate_run.py", "6. Evaluate", "Measure them on a question set: each rung against the one "
     "before, with its 95 % interval, and a verdict only where the evidence holds.", ":material/analytics:"),
]


def counts_section() -> None:
    """Collections, documents, chunks, adapters and runs; a pointer to the sample when the workspace is empty."""
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


def steps_section() -> None:
    """The steps, each a link to its page."""
    st.subheader("Six steps")
    for page, label, text, icon in STEPS:
        with st.container(border=True):
            st.page_link(page, label=label, icon=icon)
            st.caption(text)
