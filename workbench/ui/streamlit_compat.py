"""The one Streamlit internal the app relies on (streamlit is pinned in requirements.txt).

Streamlit starts a server whose folder has a `pages/` directory in its old pages-directory mode and
leaves it only once app.py has called st.navigation, so the very first visit to a deep link such as
/evaluate shows a "Page not found" notice. Setting the class attribute
`streamlit.runtime.pages_manager.PagesManager.uses_pages_directory` to False before the server starts
declares the st.navigation mode up front. tests/test_compat.py fails when an upgrade renames the
attribute or stops honouring a value set in advance.
"""
from __future__ import annotations


def use_navigation_from_start() -> None:
    """Make a server started after this call route with st.navigation from its first request."""
    from streamlit.runtime.pages_manager import PagesManager

    if not hasattr(PagesManager, "uses_pages_directory"):
        # Setting a missing attribute would succeed silently and fix nothing.
        raise RuntimeError("streamlit's PagesManager has no uses_pages_directory any more: "
                           "update workbench/ui/streamlit_compat.py for this Streamlit version")
    PagesManager.uses_pages_directory = False
