"""Sections of the Home page: what this workspace holds, the steps with links, and a 5-minute demo script."""
from __future__ import annotations

import streamlit as st

from workbench.arena.suggestions import suggested_questions
from workbench.overview import workspace_counts
from workbench.ui import safe
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


def _question(n: int, fallback: str) -> str:
    qs = suggested_questions()
    return qs[n].question if len(qs) > n else fallback


def demo_script() -> list[tuple[str, str, str, str, str, str]]:
    """(time, page, link label, what to do, what to say, what the audience sees), in order.

    The questions are the arena's suggestions, measured to differ across setups (sample/data/arena_questions.json).
    """
    q1 = _question(0, "In what year was Lumenkeel Systems founded?")
    q2 = _question(1, "How much is the Lumenkeel employee referral bonus?")
    q3 = _question(2, "What is the battery runtime of the TideLog T3 at the default sampling interval?")
    return [
        ("0:00", "pages/knowledge_documents.py", "Documents",
         "Open the sample company's documents.",
         "Lumenkeel is invented: no language model has seen these facts, so a right answer has to come from "
         "retrieval.",
         "The handbook, price list, support policy, company page and datasheets, as text."),
        ("0:45", "pages/arena.py", "Arena",
         f"Collection sample-kb, the adapter you trained. Click the demo question \"{q1}\".",
         "Same question, five setups. The base model has to guess; RAG reads the company's own page.",
         "Base: a fluent, invented founding year. Prompted: the JSON house format, still a guess. RAG: 2016, read "
         "from the company page (company_overview.html), with a [1] after it that jumps to that passage. "
         "Fine-tuned learned the format, not the facts: it guesses too."),
        ("1:45", "pages/arena.py", "Arena",
         f"Click \"{q2}\", then \"{q3}\". Point at each column's prompt-token count.",
         "Each question is asked on its own, so one answer cannot leak into the next. Retrieval fixes what the "
         "model knows; prompting and fine-tuning fix how it answers: the recipe makes the model say \"unknown\" "
         "instead of inventing. The recipe pays ~550 prompt tokens on every question; the fine-tune pays once, at "
         "training time.",
         "RAG: $2,500 from the employee handbook, then 14 months from page 2 of the TideLog T3 datasheet (a PDF). "
         "Base: invented numbers. Prompted: one line of JSON that says unknown. The cost chart under the "
         "answers."),
        ("2:45", "pages/arena.py", "Arena",
         "Ask something open-ended (\"Write a long story about the sea\") and press Stop under the question.",
         "You are in control: Stop ends every column at once and keeps what was written.",
         "The answer being written stops mid-sentence, marked stopped; the columns after it never start."),
        ("3:15", "pages/evaluate_report.py", "Report",
         "Open the report of an evaluation run on the sample questions (run it before the demo).",
         "Three questions are anecdotes: each rung is compared with the one below on the same 53 questions, "
         "with a 95 % interval, and recommended only where the interval excludes zero.",
         "The ladder: Prompted vs Base (format), RAG vs Prompted (facts), Fine-tuned vs Prompted (format), "
         "Hybrid vs the best single setup."),
        ("4:15", "pages/evaluate_report.py", "Report (cost)",
         "Scroll to the cost panel.",
         "What each setup costs per year at your volume: prompt tokens for the recipe and RAG, a one-off "
         "training run for the fine-tune.",
         "Cost per setup, with every assumption shown and editable."),
    ]


def demo_section() -> None:
    """A 5-minute demo script for a presenter: what to prepare, then steps with links, words and what to show."""
    st.subheader("Presenting? A 5-minute demo")
    st.caption("Before the audience arrives: **System** > Load sample workspace; **Training jobs** > train an "
               "adapter on sample-behaviour with the Quick CPU demo preset (2 to 7 minutes); **Run evaluation** "
               "on the sample questions; open the **Arena** once, so the models are loaded and warm.")
    for time_mark, page, label, do, say, see in demo_script():
        with st.container(border=True):
            c1, c2 = st.columns([1, 5])
            c1.markdown(f"**{time_mark}**")
            c1.page_link(page, label=label, icon=":material/arrow_forward:")
            # Escaped: the questions come from a data file, and "$2,500 ... $" would render as math.
            c2.markdown(f"**Do:** {safe.text(do)}  \n**Say:** {safe.text(say)}  \n**They see:** {safe.text(see)}")
