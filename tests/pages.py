"""The app's pages as declared in app.py (file, url path), read from its source for the UI tests."""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def declared_pages() -> list[tuple[str, str]]:
    """(page file, URL path) for every st.Page(...) call in app.py; "" for the default page."""
    tree = ast.parse((REPO / "app.py").read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("P", "Page") or (
            isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Page"
        ):
            file = node.args[0].value
            kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
            # Streamlit serves the default page at the root, whatever its url_path says.
            url = "" if kw.get("default") else kw.get("url_path", Path(file).stem)
            out.append((file, url))
    return out


def app_page(page: str, timeout: float = 90):
    """An AppTest of app.py switched to `page` ("pages/x.py"): the page runs inside the app's navigation, as
    served, so its st.page_link targets resolve."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=timeout)
    at.run()
    at.switch_page(page)
    return at


def rendered_text(markdown: str) -> str:
    """What a reader sees of a Markdown value AppTest returns: workbench.ui.safe's escapes, hard breaks and
    invisible joiners undone (the browser tests check Streamlit's real renderer)."""
    from workbench.ui.safe import WORD_JOINER

    return re.sub(r"\\(.)", r"\1", markdown.replace(WORD_JOINER, "").replace("&#32;", " ")).replace("  \n", "\n")
