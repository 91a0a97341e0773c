"""Arena: one question, up to four setups (base, RAG, fine-tuned, hybrid), answers side by side."""
import streamlit as st

from workbench.ui import arena

st.title("Arena")
st.caption("One question to the base model, RAG, the fine-tuned model and the hybrid: each answer streams "
           "into its column with its citations, the prompt it was given and what it cost. Columns answer one "
           "after another on the one shared model; **Stop** (top right) cancels the answer being written.")

arena.flash()
c = arena.controls()
if not c.setups:
    st.warning("Choose at least one column.")
    st.stop()
for i, turn in enumerate(arena.conversation().turns):
    arena.show_turn(i, turn, c.blind)
question = st.chat_input("Ask all columns...", key="arena_question")
problem = arena.validate_question(question)
if problem:
    st.error(problem)
elif question:
    arena.ask(question, c)
arena.footer(c.blind)
