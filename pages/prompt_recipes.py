"""Prompting > Prompt recipes: named, versioned instructions, format statement and few-shot examples."""
import streamlit as st

from workbench.ui import recipes
from workbench.ui.resources import get_settings

st.title("Prompt recipes")
st.caption("Try prompt engineering first: instructions, a statement of the answer format and a few examples. The "
           "Prompted setup answers with a recipe, RAG adds passages to it, and the evaluation measures what it buys "
           "against what it costs in prompt tokens on every question. Each save is a new version; runs record "
           "which one they used.")
settings = get_settings()
recipes.show_flash()
if (source := recipes.library_section(settings)) is None:
    st.stop()
edit, preview = st.columns([3, 2], gap="large")
with edit:
    st.subheader("Edit")
    draft = recipes.editor_section(settings, source)
with preview:
    st.subheader("What the model sees")
    recipes.preview_section(settings, draft)
recipes.delete_section(settings, source)
