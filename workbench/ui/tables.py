"""Tables as a reader sees them: a missing value is an em dash, a nested value is text, never a Python repr."""
from __future__ import annotations

import pandas as pd
import streamlit as st

MISSING = "—"


def readable(v) -> object:
    """A cell for display: numbers and text as they are; dicts and lists as 'key: value' / comma-joined text."""
    if isinstance(v, dict):
        return "; ".join(f"{k}: {readable(x)}" for k, x in v.items()) or MISSING
    if isinstance(v, (list, tuple, set, frozenset)):
        return ", ".join(str(readable(x)) for x in v) or MISSING
    return MISSING if v is None else v


def frame(rows, columns: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame of row dicts (or lists under `columns`) whose nested cells are text."""
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, columns=columns)
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = [readable(v) if isinstance(v, (dict, list, tuple, set, frozenset)) else v for v in df[c]]
    return df


def show(rows, columns: list[str] | None = None, **kwargs) -> None:
    """st.dataframe of `rows` (dicts, lists under `columns`, or a DataFrame) without its index, with
    missing values shown as an em dash and nested values as text; `kwargs` go to st.dataframe."""
    kwargs.setdefault("hide_index", True)
    st.dataframe(frame(rows, columns), placeholder=MISSING, **kwargs)
