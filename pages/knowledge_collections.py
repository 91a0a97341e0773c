"""Collections: list, create, rename, delete; upload documents with progress and per-file errors."""
import streamlit as st

from workbench.ui import collections
from workbench.ui.knowledge import show_flash

st.title("Collections")
st.caption("Named knowledge bases, each with its own embedding model and chunk settings.")
show_flash()
infos = collections.overview_section()
upload_tab, create_tab, manage_tab = st.tabs(["Upload documents", "New collection", "Rename / delete"])
with upload_tab:
    collections.upload_section(infos)
with create_tab:
    collections.create_section()
with manage_tab:
    collections.manage_section(infos)
