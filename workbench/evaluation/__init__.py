"""Evaluation: one question set through base, RAG, fine-tuned and hybrid; metrics, report, decision.

Flow: a question set (workbench.questions) -> runs (background: retrieve once, then generate per setup) ->
metrics (deterministic scores, diagnosis tags) -> decision (recommendation, cost) -> report (export).
"""
