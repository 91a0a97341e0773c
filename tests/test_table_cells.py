"""Cells in the app's tables and in the exports: no None, no Python dict or list reprs."""
from __future__ import annotations

from workbench.evaluation.report import MISSING, _html_table, _md_table, cell_text
from workbench.ui.tables import frame, readable


def test_export_cells_are_text_a_reader_reads():
    assert [cell_text(v) for v in (None, "", True, False, 0.123456, 2.0, float("nan"), 3)] == [
        MISSING, MISSING, "yes", "no", "0.123", "2", MISSING, "3"]
    assert cell_text({"exact": 2, "near": None}) == f"exact: 2; near: {MISSING}"
    assert cell_text(["a", 1.5]) == "a, 1.5" and cell_text([]) == MISSING
    page = _html_table(["a", "b"], [[None, {"k": [1, 2]}]])
    md = "\n".join(_md_table(["a", "b"], [[None, {"k": [1, 2]}]]))
    for text in (page, md):
        assert "None" not in text and "{" not in text and "[" not in text and "k: 1, 2" in text, text


def test_ui_frames_turn_nested_cells_into_text_and_keep_numbers():
    df = frame([{"n": 1.5, "tags": ["a", "b"], "span": {"start": 0}, "none": None}])
    assert df.loc[0, "tags"] == "a, b" and df.loc[0, "span"] == "start: 0" and df.loc[0, "n"] == 1.5
    assert readable(None) == MISSING and readable(()) == MISSING
