"""Router: sections and pages of the workbench.

Every page follows one convention. A page file (pages/<section>_<page>.py) is its docstring, `st.title`,
`st.caption`, and calls, in order, to section functions of `workbench.ui.<module>`: one function renders one
section (its widgets, their keys, its messages) and returns what the next section needs, or None when there is
nothing more to show, and the page then calls `st.stop()`. A page may get shared objects from
`workbench.ui.resources`, call the core for one line of plain work (`jobs.reconcile`, `run_index.entries`), and
place sections in columns or tabs; it holds no other widget or business logic. Widget modules are named for what
they hold (ui/collections.py, ui/sweep.py, ...), widgets shared by a section of the app live in its area module
(ui/knowledge.py, ui/retrieval.py), session-state keys in ui/state.py, the work in the core (`workbench.*`), and
figures in each package's figures.py.
"""
from pathlib import Path

import streamlit as st

from workbench.ui.resources import warm_up

# A local file, not ":material/science:": Streamlit fetches a Material favicon from fonts.gstatic.com, and the
# workbench makes no request off the machine (the page icons below use the font bundled with Streamlit).
st.set_page_config(page_title="RAG & Fine-Tuning Workbench", layout="wide",
                   page_icon=Path(__file__).parent / "workbench" / "ui" / "favicon.svg")
# The models load in a background thread from the first page view, so the first question does not wait.
warm_up()

P = st.Page
pages = {
    "": [
        P("pages/home.py", title="Home", icon=":material/home:", default=True),
    ],
    "Prompting": [
        P("pages/prompt_recipes.py", title="Prompt recipes", icon=":material/edit_note:", url_path="recipes"),
    ],
    "Knowledge": [
        P("pages/knowledge_collections.py", title="Collections", icon=":material/library_books:",
          url_path="collections"),
        P("pages/knowledge_chunking.py", title="Chunking preview", icon=":material/view_agenda:",
          url_path="chunking"),
        P("pages/knowledge_documents.py", title="Documents", icon=":material/description:",
          url_path="documents"),
    ],
    "Retrieval": [
        P("pages/retrieval_query.py", title="Query lab", icon=":material/search:", url_path="query"),
        P("pages/retrieval_eval.py", title="Retrieval evaluation", icon=":material/rule:",
          url_path="retrieval-eval"),
        P("pages/retrieval_sweep.py", title="Chunk sweep", icon=":material/grid_on:", url_path="sweep"),
    ],
    "Fine-tune": [
        P("pages/finetune_datasets.py", title="Datasets", icon=":material/dataset:", url_path="datasets"),
        P("pages/finetune_jobs.py", title="Training jobs", icon=":material/model_training:",
          url_path="jobs"),
        P("pages/finetune_adapters.py", title="Adapters", icon=":material/extension:", url_path="adapters"),
    ],
    "Arena": [
        P("pages/arena.py", title="Arena", icon=":material/forum:", url_path="compare"),
    ],
    "Evaluate": [
        P("pages/evaluate_run.py", title="Run evaluation", icon=":material/play_circle:",
          url_path="evaluate"),
        P("pages/evaluate_report.py", title="Report", icon=":material/analytics:", url_path="report"),
    ],
    "System": [
        P("pages/system_overview.py", title="System", icon=":material/settings:", url_path="system"),
        P("pages/system_jobs.py", title="Jobs", icon=":material/work_history:", url_path="all-jobs"),
    ],
}

st.navigation(pages).run()
