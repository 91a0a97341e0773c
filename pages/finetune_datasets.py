"""Fine-tune > Datasets: upload and validate training data, preview it as the model sees it."""
import streamlit as st

from workbench.ui import finetune_data
from workbench.ui.finetune import show_flash
from workbench.ui.resources import get_settings

st.title("Datasets")
st.caption("Training data for LoRA fine-tunes: prompt/completion, Alpaca or chat rows. "
           "The loss is computed on the answer (the last assistant turn) only.")
settings = get_settings()
show_flash()
left, right = st.columns([3, 2])
with left:
    st.subheader("Upload")
    finetune_data.upload_section(settings)
with right:
    st.subheader("Sample")
    finetune_data.sample_section(settings)
finetune_data.stored_section(settings)
