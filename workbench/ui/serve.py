"""`python -m workbench.ui.serve [streamlit run options]`: start the app with the router in charge from the first request.

Streamlit starts a server whose folder has a `pages/` directory in its old pages-directory mode and
leaves it only once app.py has called st.navigation, so the very first visit to a deep link such
as /evaluate shows a "Page not found" notice. Declaring the new mode before the server starts
removes that window.
"""
from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"


def main(argv: list[str] | None = None) -> None:
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.web import cli

    PagesManager.uses_pages_directory = False
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
