"""Evaluation: one question set through the setups (base, prompted, RAG, fine-tuned, hybrid); metrics, verdict, report.

Flow: a question set (workbench.questions) -> runs (background: retrieve once, then generate per setup) ->
metrics (deterministic scores as k/n, diagnosis tags) -> decision (the verdict up the ladder, with intervals
from stats) and cost -> report (sections, exports).
"""
