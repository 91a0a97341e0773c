"""PDF text as a reader reads it: spaces kept, two columns in order, words hyphenated across lines joined."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench.knowledge.parsing import _pdfium_text, parse as parse_document

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def two_column_pdf() -> bytes:
    """A title across the page, then two columns whose lines the content stream interleaves, then a footer."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=14)
    pdf.set_xy(10, 10)
    pdf.cell(190, 8, "Harbour Handbook: Mooring and Anchoring for Small Vessels")
    pdf.set_font("Helvetica", size=10)
    for i in range(20):  # left line i, then right line i: stream order is not reading order
        pdf.set_xy(10, 30 + 6 * i)
        pdf.cell(85, 6, f"left column sentence number {i} about mooring")
        pdf.set_xy(110, 30 + 6 * i)
        pdf.cell(85, 6, f"right column sentence number {i} about anchors")
    pdf.set_xy(10, 270)
    pdf.cell(190, 6, "Page footer across the whole width of the page for this handbook")
    return bytes(pdf.output())


def test_two_column_page_is_read_column_by_column():
    text = parse_document("twocol.pdf", two_column_pdf()).text
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    assert lines[0].startswith("Harbour Handbook")
    left = [i for i, ln in enumerate(lines) if ln.startswith("left column")]
    right = [i for i, ln in enumerate(lines) if ln.startswith("right column")]
    assert len(left) == len(right) == 20
    assert max(left) < min(right), "the right column must follow the whole left column"
    assert [int(re.search(r"\d+", lines[i]).group()) for i in left] == list(range(20))
    assert lines[-1].startswith("Page footer")


def test_one_column_page_keeps_its_order():
    from tests.test_knowledge_parsing import make_pdf

    text = parse_document("one.pdf", make_pdf(["First paragraph here. " * 30 + "\n" + "Second one. " * 30])).text
    assert text.index("First paragraph") < text.index("Second one")


def test_pdfium_hyphen_marks_join_words_and_keep_real_hyphens():
    # pdfium marks a hyphen it saw at a line end as U+FFFE and drops the break.
    assert _pdfium_text("about 25 pack\ufffeages supplied") == "about 25 packages supplied"
    assert _pdfium_text("the S and S\ufffePlus environment") == "the S and S-Plus environment"
    assert _pdfium_text("a\r\nb\x14c") == "a\nbc"


@pytest.mark.skipif(not (CORPUS / "debian-faq.en.pdf").is_file(), reason="../shared/corpus is not beside the repo")
def test_debian_faq_keeps_its_word_spaces():
    # pypdf glued whole lines together on this LaTeX PDF: 1,280 run-on "words" of 31+ characters (12.8 %).
    doc = parse_document("debian-faq.en.pdf", (CORPUS / "debian-faq.en.pdf").read_bytes())
    words = doc.text.split()
    run_ons = [w for w in words if len(w) > 30 and not re.search(r"https?://|www\.|/|@", w)]
    assert len(words) > 25_000 and len(run_ons) < 20, run_ons[:10]
    assert "package maintenance system" in doc.text
    assert len(doc.page_starts) == 73


def test_a_parser_librarys_own_error_is_a_message():
    """Fuzzing found zipfile's NotImplementedError ("zip file version 13.0") escaping parse() as a traceback."""
    from workbench.knowledge.parsing import ParseError
    from tests.test_knowledge_parsing import make_docx

    data = bytearray(make_docx(["hello world"]))
    at = data.find(b"PK\x01\x02")
    while at != -1:  # every central-directory entry claims it needs zip version 13.0 to extract
        data[at + 6] = 130
        at = data.find(b"PK\x01\x02", at + 4)
    with pytest.raises(ParseError, match=r"could not be read \(NotImplementedError: zip file version 13.0\)"):
        parse_document("odd.docx", bytes(data))
