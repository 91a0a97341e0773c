"""Document uploads stay bounded and honest (issue 14, items 4 and 5, and the knowledge base issue's
bad-input list): zip bombs are refused before they inflate, text decodes to what was written (and says
when its encoding was a guess), names compare in one normal form, a new version is never dropped."""
from __future__ import annotations

import io
import time
import tomllib
import tracemalloc
import unicodedata
import zipfile
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder
from tests.test_knowledge_parsing import encrypted_pdf, make_docx, make_pdf, scanned_pdf
from workbench.knowledge import CollectionConfig, KnowledgeBase, KnowledgeError
from workbench.knowledge.parsing import ParseError, check_file_name, parse
from workbench.settings import Settings
from workbench.ui.serve import streamlit_args, upload_limit_mb

REPO = Path(__file__).resolve().parents[1]
MB = 1_000_000


@pytest.fixture
def kb(settings):
    return KnowledgeBase(settings, embedder=FakeEmbedder())


@pytest.fixture
def col(kb):
    return kb.create("uploads", CollectionConfig(chunk_size=200, chunk_overlap=0))


def texts_of(col, name: str) -> list[str]:
    return [c.text for c in col.chunks() if c.doc_name == name]


# --- 4. Archives and uploads are bounded before they are expanded ---------------------------------------

PARAGRAPH = b"<w:p><w:r><w:t>All work and no play makes Jack a dull boy. </w:t></w:r></w:p>"


def docx_with_body(n_paragraphs: int, declared_size: int | None = None) -> bytes:
    """A real DOCX whose word/document.xml holds `n_paragraphs` copies of one paragraph, written streamed
    so the test never holds the inflated XML; `declared_size` forges the size its directory states."""
    base = zipfile.ZipFile(io.BytesIO(make_docx(["seed"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for info in base.infolist():
            if info.filename != "word/document.xml":
                z.writestr(info, base.read(info))
                continue
            xml = base.read(info)
            head, tail = xml.split(b"<w:body>")[0] + b"<w:body>", b"</w:body></w:document>"
            with z.open("word/document.xml", "w", force_zip64=False) as f:
                f.write(head)
                block = PARAGRAPH * 1000
                for _ in range(n_paragraphs // 1000):
                    f.write(block)
                f.write(tail)
    data = bytearray(out.getvalue())
    if declared_size is not None:
        # The central directory entry (what zipfile trusts): uncompressed size at +24, name length at
        # +28, the name itself at +46.
        pos = data.find(b"PK\x01\x02")
        while data[pos + 46:pos + 46 + int.from_bytes(data[pos + 28:pos + 30], "little")] != b"word/document.xml":
            pos = data.find(b"PK\x01\x02", pos + 4)
        data[pos + 24:pos + 28] = declared_size.to_bytes(4, "little")
    return bytes(data)


def parse_measured(name: str, data: bytes, **kw) -> tuple[Exception | None, float, int]:
    """(the ParseError or None, seconds, peak bytes allocated by Python while parsing)."""
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        parse(name, data, **kw)
        err = None
    except ParseError as e:
        err = e
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return err, seconds, peak


def test_docx_zip_bomb_is_refused_quickly_without_inflating(col):
    bomb = docx_with_body(1_500_000)  # ~120 MB of XML (~60 M characters of text)
    assert len(bomb) < 1 * MB
    err, seconds, peak = parse_measured("bomb.docx", bomb, max_bytes=50 * MB)
    assert err is not None and "expands to" in err.reason and "zip bomb" in err.reason
    assert seconds < 2 and peak < 10 * MB, (seconds, peak)
    rep = col.ingest([("bomb.docx", bomb), ("ok.txt", b"A normal note about buoys.")])
    assert rep.added == ("ok.txt",) and [f.name for f in rep.failed] == ["bomb.docx"]
    assert "zip bomb" in rep.failed[0].reason and col.count() == len(texts_of(col, "ok.txt"))


def test_zip_part_with_a_huge_ratio_is_refused_under_the_size_limit():
    dense = docx_with_body(60_000)  # ~4.8 MB of XML in a few KB: under 50 MB, over 100:1
    err, seconds, peak = parse_measured("dense.docx", dense, max_bytes=50 * MB)
    assert err is not None and "word/document.xml" in err.reason and ":1" in err.reason, err
    assert seconds < 2 and peak < 10 * MB


def test_a_forged_size_in_the_zip_directory_only_yields_what_it_declares():
    # The directory says 900 KB (ratio and size checks pass); the stream holds 24 MB. zipfile stops at the
    # declared size and fails the CRC check, so the lie costs nothing.
    forged = docx_with_body(300_000, declared_size=900_000)
    err, seconds, peak = parse_measured("forged.docx", forged, max_bytes=50 * MB)
    assert err is not None and "not a valid DOCX" in err.reason, err
    assert peak < 5 * MB, peak


def test_a_zip_with_too_many_parts_is_refused_before_zipfile_reads_them():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for i in range(10_001):
            z.writestr(f"p{i}", b"")
    with pytest.raises(ParseError, match="over 10000 files"):
        parse("many.docx", out.getvalue())


def test_a_real_docx_under_the_limits_still_parses():
    lines = [f"Line {i}: buoy {i % 97} reported {i * 7 % 1000} mg/l oxygen at {i % 24:02d}:00."
             for i in range(14_000)]
    data = make_docx(lines)
    member = zipfile.ZipFile(io.BytesIO(data)).getinfo("word/document.xml")
    assert member.file_size > 1 * MB and member.file_size < 100 * member.compress_size  # checked, and passes
    doc = parse("report.docx", data, max_bytes=50 * MB)
    assert doc.text.split("\n\n") == lines


def test_extracted_text_counts_against_the_limit():
    pdf = make_pdf(["All work and no play makes Jack a dull boy. " * 600] * 3)  # compressed page streams
    assert len(pdf) < 20_000
    with pytest.raises(ParseError, match="of text once extracted"):
        parse("long.pdf", pdf, max_bytes=20_000)
    assert "Jack" in parse("long.pdf", pdf, max_bytes=200_000).text
    with pytest.raises(ParseError, match="over the 0.4 MB limit"):
        parse("report.docx", docx_with_body(20_000), max_bytes=400_000)


def test_streamlit_upload_cap_is_the_workbench_limit():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == upload_limit_mb(Settings()) == 50
    args = streamlit_args(["--server.port", "9"], Settings.from_env({"WORKBENCH_MAX_UPLOAD_MB": "120"}))
    assert args[args.index("--server.maxUploadSize") + 1] == "120" and args[-2:] == ["--server.port", "9"]
    given = streamlit_args(["--server.maxUploadSize=7"], Settings())
    assert given.count("--server.maxUploadSize") == 0 and "--server.maxUploadSize=7" in given


# --- 5. Text decoding that does not lie -----------------------------------------------------------------

ROUND_TRIP = [
    ("très", "latin-1"), ("Café", "latin-1"), ("Café", "cp1252"), ("naïve – “quotes”", "cp1252"),
    ("Le café est très bon, la crème brûlée aussi. Où est la gare ?", "latin-1"),
    ("Straße und Größe über alles", "latin-1"),
]


@pytest.mark.parametrize("text,encoding", ROUND_TRIP, ids=[f"{t[:12]}-{e}" for t, e in ROUND_TRIP])
def test_latin1_and_cp1252_round_trip_and_say_they_were_guessed(text, encoding):
    doc = parse("note.txt", text.encode(encoding))
    assert doc.text == text
    assert doc.encoding == "cp1252" and doc.encoding_guessed


@pytest.mark.parametrize("text,encoding", [
    ("Привет, как дела? Это тестовый документ на русском языке.", "cp1251"),
    ("Zażółć gęślą jaźń – polski tekst dokumentu.", "cp1250"),
])
def test_other_code_pages_are_detected_when_the_detector_is_sure(text, encoding):
    doc = parse("note.txt", text.encode(encoding))
    assert doc.text == text and doc.encoding == encoding and not doc.encoding_guessed


@pytest.mark.parametrize("raw,encoding,guessed", [
    ("Café".encode("utf-8-sig"), "utf-8-sig", False),
    ("Café".encode("utf-16"), "utf-16", False),  # with its BOM
    ("Café au lait".encode("utf-16-le"), "utf-16-le", True),  # no BOM: NULs every other byte
    ("Café".encode(), "utf-8", False),
    (b"plain ASCII", "utf-8", False),
])
def test_unicode_forms_decode_exactly(raw, encoding, guessed):
    doc = parse("note.md", raw)
    assert doc.text.startswith("Caf") or doc.text == "plain ASCII"
    assert "\ufeff" not in doc.text and "\ufffd" not in doc.text and "䍡" not in doc.text
    assert (doc.encoding, doc.encoding_guessed) == (encoding, guessed)


def test_html_declared_charset_is_used_and_is_not_a_guess():
    doc = parse("page.html", '<html><head><meta charset="windows-1252"></head><body><p>Très “bien”</p>'
                             '</body></html>'.encode("cp1252"))
    assert doc.text == "Très “bien”" and doc.encoding == "cp1252" and not doc.encoding_guessed
    latin1 = parse("old.htm", b'<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
                              b'<p>na\xefve \x93quotes\x94</p>')  # as browsers read it: windows-1252
    assert latin1.text == "naïve “quotes”" and latin1.encoding == "cp1252" and not latin1.encoding_guessed


def test_a_guessed_encoding_is_reported_shown_and_can_be_overridden(col):
    raw = "Café".encode("latin-1")
    rep = col.ingest([("menu.txt", raw)])
    assert rep.added == ("menu.txt",) and any("menu.txt" in n and "cp1252, a guess" in n for n in rep.notes)
    info = col.documents()[0]
    assert (info.encoding, info.encoding_guessed) == ("cp1252", True)
    assert col.get_document(info.doc_id).text == "Café"
    # The user says it is Central European: the same bytes are read again, not skipped as unchanged.
    rep = col.ingest([("menu.txt", raw)], encoding="cp1250")
    assert rep.replaced == ("menu.txt",) and not rep.unchanged and not rep.notes
    info = col.documents()[0]
    assert (info.encoding, info.encoding_guessed) == ("cp1250", False) and len(col.documents()) == 1
    assert texts_of(col, "menu.txt") == ["Café".encode("latin-1").decode("cp1250")]
    assert col.ingest([("menu.txt", raw)], encoding="cp1250").unchanged == ("menu.txt",)
    assert col.ingest([("menu.txt", raw)]).unchanged == ("menu.txt",)  # no override: nothing to redo
    # A chosen encoding that does not fit the bytes, or does not exist, is refused with the reason.
    rep = col.ingest([("menu.txt", raw)], encoding="utf-8")
    assert "not valid utf-8" in rep.failed[0].reason and texts_of(col, "menu.txt")
    rep = col.ingest([("menu.txt", raw)], encoding="klingon")
    assert "not a known text encoding" in rep.failed[0].reason


def test_aes_pdf_that_needs_no_password_opens(col):
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(["Open AES page about mooring lines."]))).pages:
        w.add_page(page)
    w.encrypt("", owner_password="owner", algorithm="AES-256")
    buf = io.BytesIO()
    w.write(buf)
    assert "mooring lines" in parse("aes.pdf", buf.getvalue()).text
    w = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(["Closed."]))).pages:
        w.add_page(page)
    w.encrypt("hunter2", algorithm="AES-128")
    closed = io.BytesIO()
    w.write(closed)
    rep = col.ingest([("aes.pdf", buf.getvalue()), ("closed.pdf", closed.getvalue())])
    assert rep.added == ("aes.pdf",) and "password-protected" in rep.failed[0].reason


# --- 5. Names normalised once; new versions never dropped -----------------------------------------------

def test_surrounding_spaces_replace_the_same_document(col):
    col.ingest([("lead.txt", b"First version of the lead note.")])
    rep = col.ingest([(" lead.txt", b"Second version of the lead note.")])
    assert rep.replaced == ("lead.txt",)
    rep = col.ingest([("lead.txt  ", b"Third version of the lead note.")])
    assert rep.replaced == ("lead.txt",)
    assert [d.name for d in col.documents()] == ["lead.txt"]
    assert texts_of(col, "lead.txt") == ["Third version of the lead note."]
    assert col.ingest([("\tlead.txt", b"Third version of the lead note.")]).unchanged == ("lead.txt",)


def test_nfc_and_nfd_names_are_one_document(col):
    nfd, nfc = unicodedata.normalize("NFD", "Café.txt"), "Café.txt"
    assert nfd != nfc
    assert col.ingest([(nfd, b"Menu, first version.")]).added == (nfc,)
    assert col.ingest([(nfc, b"Menu, second version.")]).replaced == (nfc,)
    rep = col.ingest([(nfd, b"Menu, second version."), (nfc, b"Menu, second version.")])
    assert rep.unchanged == (nfc,) and "appears twice" in rep.failed[0].reason
    assert [d.name for d in col.documents()] == [nfc]


@pytest.mark.parametrize("name,shown", [
    ("invoice\u202eexe.txt", "\\u202e"),  # right-to-left override: reads as invoicetxt.exe
    ("\u2066notes\u2069.txt", "\\u2066"),  # isolates
    ("bell\x07.txt", "\\u0007"),
    ("line\nbreak.txt", "\\u000a"),
    ("nul\x00.txt", "\\u0000"),
])
def test_control_and_bidi_characters_are_refused_with_a_message(col, name, shown):
    with pytest.raises(ParseError) as e:
        check_file_name(name)
    assert "control or invisible formatting" in e.value.reason and shown in e.value.name
    rep = col.ingest([(name, b"text")])
    assert not rep.added and "control or invisible formatting" in rep.failed[0].reason
    assert "\u202e" not in str(rep.failed[0]) and shown in rep.failed[0].name
    with pytest.raises(KnowledgeError, match="not a valid collection name"):
        col.kb.create(name.replace(".txt", ""))


@pytest.mark.parametrize("name,ok", [
    ("report..v2.txt", True), ("..notes.md", True), ("v1.2 final (draft).txt", True), ("روسی.txt", True),
    ("../x.txt", False), ("..\\x.txt", False), ("a/b.txt", False), (".", False), ("..", False),
    ("   ", False), ("x" * 252 + ".txt", False),
])
def test_file_names_dots_and_separators(name, ok):
    if ok:
        assert parse(name, b"text").name == name
    else:
        with pytest.raises(ParseError):
            parse(name, b"text")


def test_new_version_with_another_documents_bytes_is_stored(col):
    col.ingest([("a.txt", b"Alpha note about anchors."), ("b.txt", b"Bravo note about buoys.")])
    a_old = next(d for d in col.documents() if d.name == "a.txt")
    rep = col.ingest([("a.txt", b"Bravo note about buoys.")])
    assert rep.replaced == ("a.txt",) and not rep.unchanged and not rep.notes
    docs = {d.name: d for d in col.documents()}
    assert set(docs) == {"a.txt", "b.txt"} and docs["a.txt"].content_hash == docs["b.txt"].content_hash
    assert docs["a.txt"].doc_id not in (docs["b.txt"].doc_id, a_old.doc_id)
    assert texts_of(col, "a.txt") == texts_of(col, "b.txt") == ["Bravo note about buoys."]
    assert col.count() == 2 and not any("Alpha" in c.text for c in col.chunks())
    assert col.ingest([("a.txt", b"Bravo note about buoys.")]).unchanged == ("a.txt",)
    col.delete_document(docs["b.txt"].doc_id)
    assert texts_of(col, "a.txt") == ["Bravo note about buoys."] and col.count() == 1
    # A new name with bytes already indexed is still reported as a copy, not indexed twice.
    rep = col.ingest([("c.txt", b"Bravo note about buoys.")])
    assert rep.unchanged == ("c.txt",) and "a.txt" in rep.notes[0] and col.count() == 1


# --- The knowledge base issue's bad-input list, through one real upload ---------------------------------

def test_bad_input_list_in_one_upload(col, settings):
    col.ingest([("guide.md", b"# Guide\n\nThe guide explains anchors.")])
    indexed = texts_of(col, "guide.md")
    bad = {
        "corrupt.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage without xref", "corrupt"),
        "locked.pdf": (encrypted_pdf(), "password-protected"),
        "scan.pdf": (scanned_pdf(), "no text layer"),
        "empty.txt": (b"", "empty"),
        "image.txt": (bytes(range(256)) * 8, "binary"),
        "guide.md": (b"\x00\x01\x02" * 100, "binary"),  # a failed new version keeps the indexed one
        "huge.txt": (b"a " * int(settings.max_upload_mb * MB), "upload limit"),
        "program.exe": (b"MZ\x90\x00", "unsupported file type"),
        "../etc/passwd.txt": (b"root", "path separator"),
        "..": (b"x", "not file names"),
        "broken.docx": (b"PK\x03\x04 not really a zip", "not a valid DOCX"),
    }
    good = [("menu.txt", "Café crème".encode("cp1252")), ("report..v2.txt", b"Second report."),
            ("notes.docx", make_docx(["Docx notes about chains."]))]
    rep = col.ingest([(n, d) for n, (d, _) in bad.items()] + good)
    assert sorted(rep.added) == sorted(n for n, _ in good)
    reasons = {f.name: f.reason for f in rep.failed}
    assert set(reasons) == set(bad)
    for name, (_, why) in bad.items():
        assert why in reasons[name], (name, reasons[name])
    assert texts_of(col, "guide.md") == indexed
    assert col.get_document(next(d.doc_id for d in col.documents() if d.name == "menu.txt")).text == "Café crème"


# --- The pages: the guess is shown, and the user overrides it -------------------------------------------

@pytest.fixture
def pages_ready(monkeypatch, fake_embedding_model):
    import streamlit as st

    from tests.fakes import FAKE_MODEL

    monkeypatch.setenv("WORKBENCH_EMBEDDING_MODEL", FAKE_MODEL)
    st.cache_resource.clear()  # get_settings() must see this test's storage
    st.cache_data.clear()
    yield
    st.cache_resource.clear()
    st.cache_data.clear()


def test_pages_show_a_guessed_encoding_and_take_an_override(pages_ready):
    from tests.test_knowledge_pages import create_collection, ok, page

    raw = "Café crème\r\nTrès bon.\r\n".encode("latin-1")
    at = create_collection("menus")
    at.file_uploader[0].set_value([("menu.txt", raw, "text/plain"), ("page.html", b"<p>Tr\xe8s</p>", "text/html")])
    ok(at)
    next(b for b in at.button if b.label.startswith("Ingest 2 file(s)")).click()
    ok(at)
    assert any("2 added" in s.value for s in at.success)
    shown = [i.value.replace("\\", "") for i in at.info]  # messages are escaped Markdown
    assert any("menu.txt" in i and "cp1252, a guess" in i for i in shown), shown
    docs = ok(page("knowledge_documents"))
    assert list(docs.dataframe[0].value["encoding"]) == ["cp1252 (guessed)"] * 2
    assert any("read as cp1252, a guess" in w.value.replace("\\", "") for w in docs.warning)
    # The user says it is Central European: read again from what is stored, no new upload.
    menu_id = next(i for i, n in zip(docs.dataframe[0].value["id"], docs.dataframe[0].value["document"])
                   if n == "menu.txt")
    docs.selectbox(key="kn_docs_doc").set_value(menu_id)
    ok(docs)
    docs.selectbox(key=f"kn_docs_encoding_{menu_id}").set_value("cp1250")
    docs.button(key=f"kn_docs_reread_{menu_id}").click()
    ok(docs)
    assert any("read again as cp1250" in s.value for s in docs.success), [e.value for e in docs.error]
    table = docs.dataframe[0].value
    assert sorted(table["document"]) == ["menu.txt", "page.html"]
    assert list(table[table["document"] == "menu.txt"]["encoding"]) == ["cp1250"]
    from workbench.ui.resources import get_kb

    col = get_kb().get("menus")
    menu = next(d for d in col.documents() if d.name == "menu.txt")
    assert col.get_document(menu.doc_id).text == "Café crčme\nTrčs bon."  # as cp1250 reads those bytes
    assert [c.text for c in col.chunks(menu.doc_id)] == ["Café crčme\nTrčs bon."]
    # The same document, read differently: its id (and the file hash of the upload) are kept.
    assert menu.doc_id == menu_id
    # Uploading the original file again is "unchanged", not a silent return to the guess.
    assert col.ingest([("menu.txt", raw)]).unchanged == ("menu.txt",)
    assert col.get_document(menu_id).text == "Café crčme\nTrčs bon."
    # A new version of the file is read with the codec the user chose, not guessed again.
    rep = col.ingest([("menu.txt", "Příliš žluťoučký kůň\n".encode("cp1250"))])
    assert rep.ok and not rep.unchanged
    new = next(d for d in col.documents() if d.name == "menu.txt")
    assert new.encoding == "cp1250" and not new.encoding_guessed
    assert col.get_document(new.doc_id).text == "Příliš žluťoučký kůň"
    # HTML's stored text is extracted from its markup: only the file itself can be read again.
    html_id = next(d.doc_id for d in col.documents() if d.name == "page.html")
    docs.selectbox(key="kn_docs_doc").set_value(html_id)
    ok(docs)
    assert any("upload it again" in w.value for w in docs.warning)
    assert not any(b.key == f"kn_docs_reread_{html_id}" for b in docs.button)


@pytest.mark.parametrize("raw", ["Café crème\r\nTrès bon.\r\n\n".encode("latin-1"),
                                 "  naïve – “quotes”\n\n\n\nend".encode("cp1252"),
                                 "Café au lait".encode("utf-16-le")])
def test_reading_the_stored_text_again_is_reading_the_file_again(raw):
    """What the Documents page's override relies on: the stored text's bytes, read with the chosen encoding,
    give what the file itself would."""
    from workbench.knowledge.decoding import ENCODINGS, UndecodableText, rereadable, stored_bytes

    def read(data, chosen):
        try:
            return parse("note.txt", data, encoding=chosen).text
        except ParseError as e:
            return e.reason.split(" (byte")[0]

    doc = parse("note.txt", raw)
    assert doc.encoding_guessed
    offered = [e for e in ENCODINGS if rereadable(doc.encoding, e)]
    assert "cp1250" in offered and ("utf-16" in offered) == doc.encoding.startswith("utf-16")
    for chosen in offered:
        assert read(stored_bytes(doc.text, doc.encoding), chosen) == read(raw, chosen), chosen
    with pytest.raises(UndecodableText, match="cannot hold"):
        stored_bytes("中文", "cp1252")


def test_deeply_nested_html_is_refused_in_linear_time():
    import time

    from workbench.knowledge.parsing import MAX_HTML_DEPTH, html_depth

    bomb = ("<div>" * 200_000 + "x" + "</div>" * 200_000).encode()
    t0 = time.perf_counter()
    with pytest.raises(ParseError, match="levels deep"):
        parse("deep.html", bomb)
    assert time.perf_counter() - t0 < 5
    ok = "<html><body>" + "<div>" * 40 + "<p>fine<br>text</p>" + "</div>" * 40 + "</body></html>"
    assert html_depth(ok) == 43 and "fine" in parse("ok.html", ok.encode()).text
    assert html_depth("<div>" * (MAX_HTML_DEPTH + 5)) == MAX_HTML_DEPTH + 1
