"""System: versions, device, models, storage use, settings, and the sample workspace."""
import streamlit as st

from workbench import resources
from workbench.ui import system
from workbench.ui.resources import get_settings

settings = get_settings()
st.title("System")
st.caption("What this workbench runs on, which models it has, and where its data lives.")
system.sample_section(settings)
system.benchmark_section(settings)
system.machine_section(settings)
system.models_section(settings)
loaded = resources.loaded()
st.write(f"Loaded in this process: {loaded['embedders']} embedder(s), {loaded['generators']} generator(s).")
system.load_buttons()
system.storage_section(settings)
system.settings_section(settings)
