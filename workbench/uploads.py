"""What every upload parser (question sets, training datasets) tells the user about JSON it could not read."""
from __future__ import annotations

import json


def json_problem(e: BaseException) -> str:
    """Why a JSON text from outside did not load, in words for the user (no traceback, no internals)."""
    if isinstance(e, json.JSONDecodeError):
        return f"not valid JSON ({e.msg}, column {e.colno})"
    if isinstance(e, RecursionError):
        return "not readable: its JSON is nested too deeply"
    if "integer string conversion" in str(e):
        return "not readable as JSON (a number has more than 4,300 digits)"
    return f"not readable as JSON ({str(e)[:200]})"
