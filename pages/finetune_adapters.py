"""Fine-tune > Adapters: every registered LoRA adapter; rename, delete, download for peft or a server."""
import streamlit as st

from workbench.finetune.adapters import AdapterRegistry
from workbench.ui import adapters
from workbench.ui.finetune import show_flash
from workbench.ui.resources import get_settings

st.title("Adapters")
st.caption("Each finished fine-tune registers an adapter in the standard PEFT format "
           "(adapter_config.json + adapter_model.safetensors).")
settings = get_settings()
show_flash()
reg = AdapterRegistry(settings)
if (name := adapters.adapters_section(reg)) is None:
    st.stop()
adapters.actions_section(reg, name)
adapters.export_section(settings, reg, name)
adapters.record_section(settings, reg, name)
