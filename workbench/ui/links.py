"""Links to the natural next step after an action, in the app and in single-page tests alike."""
from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitAPIException


def next_step(page: str, label: str, icon: str | None = None) -> None:
    """A link to `page` (a path under pages/); plain text when the page is not in this app's navigation."""
    try:
        st.page_link(page, label=label, icon=icon)
    except StreamlitAPIException:  # a page run on its own (AppTest) has no navigation to link into
        st.caption(f"Next: {label}")
