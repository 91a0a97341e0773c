"""`python -m workbench.ui.serve [streamlit run options]`: start the app with the router in charge from the first request.

Streamlit would start in its old pages-directory mode (app.py sits next to pages/), so the first visit
to a deep link such as /evaluate would show "Page not found"; see workbench/ui/streamlit_compat.py.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

from workbench.settings import Settings

APP = Path(__file__).resolve().parents[2] / "app.py"


def upload_limit_mb(settings: Settings) -> int:
    """Streamlit's `server.maxUploadSize`: the largest upload any workbench page accepts, rounded up."""
    return math.ceil(max(settings.max_upload_mb, settings.max_dataset_mb))


def streamlit_args(argv: list[str], settings: Settings) -> list[str]:
    """`streamlit run` arguments: the app, the upload cap from Settings (unless given), then `argv`."""
    given = any(a.split("=")[0] == "--server.maxUploadSize" for a in argv)
    cap = [] if given else ["--server.maxUploadSize", str(upload_limit_mb(settings))]
    return ["run", str(APP), *cap, *argv]


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli

    from workbench.ui.streamlit_compat import use_navigation_from_start

    use_navigation_from_start()
    settings = Settings.from_env()
    # The models load while the server starts, not when the first visitor asks (a demo's first answer).
    from workbench import resources

    resources.warm_up(settings.ensure_dirs())
    # Streamlit reads an upload into memory before any page sees it: its cap is the workbench's limit.
    sys.argv = ["streamlit", *streamlit_args(sys.argv[1:] if argv is None else argv, settings)]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
