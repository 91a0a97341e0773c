"""Arena: one question, up to five setups (base, prompted, RAG, fine-tuned, hybrid), answers side by side."""
import streamlit as st

from workbench.ui import arena

st.title("Arena")
st.caption("One question to the base model, the prompt recipe, RAG, the fine-tuned model and the hybrid: each "
           "answer streams into its column with its citations, the prompt it was given and what it cost. Columns "
           "answer one after another on the one shared model; **Stop** under the question stops them all.")
arena.flash()
if (c := arena.controls_section()) is None:
    st.stop()
arena.conversation_section(c)
arena.footer(c.blind)
