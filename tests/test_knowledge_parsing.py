"""Parsing uploads: every supported type, and every kind of bad input with a message naming file and reason."""
from __future__ import annotations

import io

import pytest

from workbench.knowledge.parsing import ParseError, parse


def make_pdf(pages: list[str]) -> bytes:
    """A real PDF with a text layer, one string per page (fpdf2, core font)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    return bytes(pdf.output())


def make_docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(["Top secret pricing."]))).pages:
        w.add_page(page)
    w.encrypt(user_password="hunter2", owner_password="owner")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def scanned_pdf() -> bytes:
    """Pages without any text layer, as a scanner produces them (minus the image)."""
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    w.add_blank_page(612, 792)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


def test_pdf_keeps_pages():
    doc = parse("manual.pdf", make_pdf(["Alpha page one text.", "Bravo page two text.", "Charlie three."]))
    assert doc.kind == "pdf" and len(doc.page_starts) == 3
    for page, word in ((1, "Alpha"), (2, "Bravo"), (3, "Charlie")):
        pos = doc.text.index(word)
        assert doc.page_of(pos) == page
    assert doc.doc_id == doc.content_hash[:16]


def test_html_is_text_only_and_fetches_nothing(monkeypatch):
    import socket

    def no_network(*a, **k):
        raise AssertionError("parsing HTML must not open connections")

    monkeypatch.setattr(socket, "create_connection", no_network)
    html = (b"<html><head><title>Pricing</title><script>alert('x')</script>"
            b"<link rel=stylesheet href='http://example.com/a.css'></head><body><h1>Plans</h1>"
            b"<p>Basic costs 10 EUR.</p><img src='http://example.com/x.png'><style>p{}</style>"
            b"<iframe src='http://example.com'></iframe><p>Pro costs 20 EUR.</p></body></html>")
    doc = parse("page.html", html)
    assert "Basic costs 10 EUR." in doc.text and "Pro costs 20 EUR." in doc.text
    assert "alert" not in doc.text and "p{}" not in doc.text and "example.com" not in doc.text
    assert doc.text.startswith("Pricing")


def test_docx_paragraphs_and_tables():
    doc = parse("notes.docx", make_docx(["First paragraph.", "Second one."], [["SKU", "Price"], ["T3", "990"]]))
    assert "First paragraph." in doc.text and "Second one." in doc.text and "T3 | 990" in doc.text


def test_markdown_and_crlf_text():
    doc = parse("a.md", b"# Title\r\n\r\nBody line.\r\n")
    assert doc.kind == "md" and doc.text == "# Title\n\nBody line."


def test_non_utf8_text_is_decoded_sensibly():
    raw = "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e costs 5 \u20ac at the Stra\u00dfe counter.".encode("cp1252")
    doc = parse("menu.txt", raw)
    assert "Caf\u00e9" in doc.text and "Stra\u00dfe" in doc.text and "\ufffd" not in doc.text


BAD = [
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref", "corrupt"),
    ("fake.pdf", b"this is not a pdf at all", "not a valid PDF"),
    ("locked.pdf", None, "password-protected"),
    ("scan.pdf", None, "no text layer"),
    ("empty.txt", b"", "empty"),
    ("blank.md", b"   \n\n  ", "empty"),
    ("image.txt", bytes(range(256)) * 8, "binary"),
    ("program.exe", b"MZ\x90\x00", "unsupported file type"),
    ("noext", b"hello", "unsupported file type"),
    ("../../etc/passwd.txt", b"root", "path separator"),
    ("dir/notes.txt", b"hello", "path separator"),
    ("dir\\notes.txt", b"hello", "path separator"),
    ("broken.docx", b"PK\x03\x04 not really a zip", "not a valid DOCX"),
]


@pytest.mark.parametrize("name,data,reason", BAD, ids=[b[0] for b in BAD])
def test_bad_input_names_file_and_reason(name, data, reason):
    if data is None:
        data = encrypted_pdf() if name == "locked.pdf" else scanned_pdf()
    with pytest.raises(ParseError) as e:
        parse(name, data)
    assert reason in e.value.reason
    assert name.split("/")[-1].split("\\")[-1] in str(e.value)


def test_size_limit():
    with pytest.raises(ParseError, match="over the 1 MB upload limit"):
        parse("big.txt", b"word " * 300_000, max_bytes=1_000_000)
