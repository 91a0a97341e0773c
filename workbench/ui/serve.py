"""`python -m workbench.ui.serve [streamlit run options]`: start the app with the router in charge from the first request.

Streamlit would start in its old pages-directory mode (app.py sits next to pages/), so the first visit
to a deep link such as /evaluate would show "Page not found"; see workbench/ui/streamlit_compat.py.
"""
from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app.py"


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    from workbench.ui.streamlit_compat import use_navigation_from_start

    use_navigation_from_start()
    sys.argv = ["streamlit", "run", str(APP), *(sys.argv[1:] if argv is None else argv)]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
