"""Fine-tune > Datasets: upload and validate training data, preview it as the model sees it."""
import streamlit as st

from workbench.finetune import datasets as ds
from workbench.finetune import sample
from workbench.ui.finetune import flash, show_flash
from workbench.ui.finetune_data import datasets_table, preview_section, synthetic_section, upload_section
from workbench.ui import state
from workbench.ui.resources import get_settings

st.title("Datasets")
st.caption("Training data for LoRA fine-tunes: prompt/completion, Alpaca or chat rows. "
           "The loss is computed on the answer (the last assistant turn) only.")
settings = get_settings()
show_flash()

left, right = st.columns([3, 2])
with left:
    st.subheader("Upload")
    upload_section(settings)
with right:
    st.subheader("Sample")
    st.write("280 questions answered as one-line JSON (`answer`, `confidence`, `source`): "
             "a behaviour a small adapter learns in minutes.")
    if st.button("Load sample behaviour dataset", icon=":material/download:"):
        try:
            flash(sample.load(settings))
        except ds.DatasetError as e:
            st.error(str(e))
        else:
            st.session_state[state.FT_PREVIEW_DATASET] = sample.SAMPLE_NAME
            st.rerun()
    with st.expander("Build synthetic QA pairs from a collection"):
        synthetic_section(settings)

infos = ds.list_datasets(settings)
st.subheader("Stored datasets")
if not infos:
    st.info("No datasets yet: upload a file or load the sample.")
else:
    datasets_table(infos)
    preview_section(settings, infos)
