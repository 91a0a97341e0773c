"""Uploaded bytes -> `Document`: PDF (pages kept), TXT, Markdown, HTML (text only) and DOCX, each bounded
by the upload limit before it is expanded and again by the size of its text."""
from __future__ import annotations

import hashlib
import io
import re
import warnings
import zipfile
import zlib

from workbench.knowledge.decoding import UndecodableText, declared_charset, decode
from workbench.names import hidden_characters, normalise, shown
from workbench.settings import Settings
from workbench.types import Document

KINDS = {".pdf": "pdf", ".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md",
         ".html": "html", ".htm": "html", ".docx": "docx"}
SUPPORTED = tuple(sorted(KINDS))
TEXT_KINDS = ("txt", "md", "html")  # decoded from bytes, so they carry an encoding
ZIP_KINDS = ("docx",)  # zip containers: bounded by check_archive before anything inflates them
PAGE_SEPARATOR = "\n\n"  # between PDF pages, so a chunker's paragraph split falls on page breaks
DEFAULT_MAX_BYTES = int(Settings.max_upload_mb * 1e6)  # when a caller gives no limit
MAX_NAME_BYTES = 255  # the longest file name common file systems store
# Zip bombs: python-docx inflates every part in memory (about 8x the XML's size once parsed), so an
# archive is refused on the sizes it declares, then each part is inflated once in small reads to prove
# them, before python-docx sees it. Word's own XML compresses 5-40x; 100:1 is OWASP's zip-bomb threshold.
MAX_MEMBERS = 10_000
MAX_RATIO = 100
RATIO_FLOOR = 1_000_000  # members smaller than this may compress better without costing anything


class ParseError(Exception):
    """A file that cannot be ingested; `str()` names the file and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_file_name(name: str | None) -> str:
    """The upload's file name trimmed and NFC (names.normalise); ParseError for path parts, '.', '..',
    control or bidi characters, or over 255 bytes."""
    clean = normalise(name)
    label = shown(clean) or "(unnamed)"
    if not clean:
        raise ParseError(label, "the file has no name")
    if hidden := hidden_characters(clean):
        raise ParseError(label, f"the file name contains control or invisible formatting characters "
                                f"({', '.join(hidden)}), which can disguise what a file is; rename it")
    if "/" in clean or "\\" in clean:
        raise ParseError(label, "the file name contains a path separator ('/' or '\\'); "
                                "upload plain file names only")
    if clean in (".", ".."):
        raise ParseError(label, "'.' and '..' are not file names")
    if len(clean.encode()) > MAX_NAME_BYTES:
        raise ParseError(label, f"the file name is over {MAX_NAME_BYTES} bytes")
    return clean


def kind_of(name: str) -> str:
    """Document kind from the extension; ParseError for unsupported types."""
    m = re.search(r"\.[A-Za-z0-9]+$", name)
    ext = m.group(0).lower() if m else ""
    if ext not in KINDS:
        shown = ext or "no extension"
        raise ParseError(name, f"unsupported file type ({shown}); supported: {', '.join(SUPPORTED)}")
    return KINDS[ext]


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} KB"


def check_archive(name: str, data: bytes, max_bytes: int) -> None:
    """Refuse a zip container that would inflate past `max_bytes`, or by more than MAX_RATIO, before it is opened."""
    # Counted on the raw bytes first: zipfile builds an object per entry before anything can be checked.
    if data.count(b"PK\x01\x02") > MAX_MEMBERS:
        raise ParseError(name, f"holds over {MAX_MEMBERS} files; it is not a document (a zip bomb?)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as e:
        raise ParseError(name, f"is not a valid DOCX file (corrupt or another format: {e})") from None
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise ParseError(name, f"expands to {_mb(total)} when unpacked, over the {max_bytes / 1e6:g} MB limit "
                               "(a zip bomb, or a document too large to ingest: split it)")
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(1, m.compress_size):
            raise ParseError(name, f"part {shown(m.filename, 60)} is compressed "
                                   f"{m.file_size / max(1, m.compress_size):.0f}:1 ({_mb(m.compress_size)} -> "
                                   f"{_mb(m.file_size)}), more than {MAX_RATIO}:1: a zip bomb, not a document")
    # zipfile cuts a part at its declared size, but reading a part whole (as python-docx does) inflates
    # its entire stream first: a forged small size would not bound memory. Small reads do, and reaching
    # the end checks the CRC, so a part that holds more than it declares fails here.
    try:
        for m in members:
            with archive.open(m) as part:
                while part.read(1 << 16):
                    pass
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as e:
        raise ParseError(name, f"is not a valid DOCX file (a part does not unpack as declared: {e})") from None


def decode_text(name: str, data: bytes, encoding: str | None = None, declared: str | None = None):
    """`decoding.decode` with its refusals as ParseError naming the file."""
    try:
        return decode(data, encoding, declared)
    except UndecodableText as e:
        raise ParseError(name, str(e)) from None


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text)


def _text_limit(name: str, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ParseError(name, f"holds over {max_bytes / 1e6:g} MB of text once extracted, over the upload "
                               "limit; split it into smaller documents")


def _pdf(name: str, data: bytes, max_bytes: int) -> tuple[str, tuple[int, ...]]:
    """The text of each page, joined by PAGE_SEPARATOR, and where each page starts."""
    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ParseError(name, "is not a valid PDF (no PDF header); the file may be corrupt")
    try:
        texts = _pdfium_pages(name, data, max_bytes)
    except _PdfiumUnreadable:  # pdfium refused a file pypdf may still repair
        texts = _pypdf_pages(name, data, max_bytes)
    if not texts:
        raise ParseError(name, "is a PDF with no pages")
    if not any(texts):
        raise ParseError(name, f"has no text layer ({len(texts)} page(s), probably scanned images); "
                         "OCR is not supported, upload a PDF with selectable text")
    starts, parts, pos = [], [], 0
    for t in texts:
        starts.append(pos)
        parts.append(t)
        pos += len(t) + len(PAGE_SEPARATOR)
    return PAGE_SEPARATOR.join(parts), tuple(starts)


class _PdfiumUnreadable(Exception):
    """pdfium could not open the file for a reason other than a password."""


# pdfium marks a line-end hyphen it inferred as U+FFFE and drops the line break: "pack\ufffeages".
_SOFT_HYPHEN = re.compile("(?<=[a-z])\ufffe(?=[a-z])")
_PDF_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\ufeff]")


def _pdfium_text(raw: str) -> str:
    """pdfium's text as plain lines: hyphenated words joined, other break hyphens kept, controls dropped."""
    text = _SOFT_HYPHEN.sub("", raw.replace("\r\n", "\n"))
    return _normalise(_PDF_CONTROL.sub(lambda m: "-" if m.group(0) == "\ufffe" else "", text)).strip()


def _page_text(page, textpage) -> str:
    """A page's text in reading order: a two-column page is read column by column."""
    width, height = page.get_size()
    rects = [textpage.get_rect(i) for i in range(textpage.count_rects())]  # (left, bottom, right, top)
    gutter = _gutter(rects, width)
    if gutter is None:
        return _pdfium_text(textpage.get_text_range())
    inside = [r for r in rects if r[2] <= gutter or r[0] >= gutter]
    top, bottom = max(r[3] for r in inside), min(r[1] for r in inside)
    parts = [textpage.get_text_bounded(0, top, width, height),  # a title across both columns
             textpage.get_text_bounded(0, bottom, gutter, top),
             textpage.get_text_bounded(gutter, bottom, width, top),
             textpage.get_text_bounded(0, 0, width, bottom)]  # a footer across both columns
    return _pdfium_text("\n".join(p for p in parts if p.strip()))


def _gutter(rects: list[tuple[float, float, float, float]], width: float) -> float | None:
    """The x of an empty vertical band with text lines on both sides, or None for a one-column page.

    Two columns: in the middle half of the page a band of x crosses no line of the columns' height, and
    each side holds at least a quarter of the lines, spread over a quarter of the page's width. Lines
    across the gutter may sit above or below the columns (titles, footers), never between them.
    """
    if len(rects) < 8:
        return None
    runs, run = [], []  # runs of neighbouring x that qualify; the widest run is the gutter
    for step in range(0, 101):
        x = width * (0.25 + step * 0.005)
        if _splits_columns(rects, x, width):
            run.append(x)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    if not runs:
        return None
    best = max(runs, key=len)
    return best[len(best) // 2]


def _splits_columns(rects: list[tuple[float, float, float, float]], x: float, width: float) -> bool:
    left = [r for r in rects if r[2] <= x]
    right = [r for r in rects if r[0] >= x]
    if min(len(left), len(right)) < len(rects) / 4:
        return False
    # Columns of text, not a table of contents' column of page numbers: text spread wide on both sides.
    if min(_extent(left), _extent(right)) < 0.25 * width:
        return False
    across = [r for r in rects if r[0] < x < r[2]]
    inside = left + right
    top, bottom = max(r[3] for r in inside), min(r[1] for r in inside)
    return all(r[1] >= top - 1 or r[3] <= bottom + 1 for r in across)


def _extent(rects: list[tuple[float, float, float, float]]) -> float:
    """How wide a side's text spreads (pdfium splits lines at dot leaders, so single rects can be narrow)."""
    return max(r[2] for r in rects) - min(r[0] for r in rects)


def _pdfium_pages(name: str, data: bytes, max_bytes: int) -> list[str]:
    """Page texts through pdfium (pypdfium2): keeps the spaces that pypdf loses on many LaTeX PDFs."""
    try:
        import pypdfium2 as pdfium
    except ImportError:
        raise _PdfiumUnreadable() from None
    try:
        doc = pdfium.PdfDocument(data)  # an owner-password-only (e.g. AES) PDF opens with the empty password
    except pdfium.PdfiumError as e:
        if "password" in str(e).lower():
            raise ParseError(name, "is password-protected; remove the password and upload it again") from None
        raise _PdfiumUnreadable(str(e)) from None
    texts, size = [], 0
    try:
        for i in range(len(doc)):
            page = doc[i]
            try:
                textpage = page.get_textpage()
                try:
                    texts.append(_page_text(page, textpage))
                finally:
                    textpage.close()
            finally:
                page.close()
            size += len(texts[-1].encode("utf-8", "replace")) + len(PAGE_SEPARATOR)
            _text_limit(name, size, max_bytes)  # page by page: a PDF's streams inflate too
    except pdfium.PdfiumError as e:
        raise ParseError(name, f"is a corrupt PDF that cannot be read ({e})") from None
    finally:
        doc.close()
    return texts


def _pypdf_pages(name: str, data: bytes, max_bytes: int) -> list[str]:
    """Page texts through pypdf: the fallback when pdfium cannot open a file."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                # Owner-password-only PDFs open with the empty user password; real protection does not.
                try:
                    ok = reader.decrypt("")
                except DependencyError:
                    raise
                except Exception:
                    ok = 0
                if not ok:
                    raise ParseError(name, "is password-protected; remove the password and upload it again")
            texts, size = [], 0
            for page in reader.pages:
                texts.append(_normalise(page.extract_text() or "").strip())
                size += len(texts[-1].encode("utf-8", "replace")) + len(PAGE_SEPARATOR)
                _text_limit(name, size, max_bytes)
    except ParseError:
        raise
    except DependencyError as e:  # AES needs `cryptography` (requirements.txt); say so, not "corrupt"
        raise ParseError(name, f"is an encrypted PDF this installation cannot open ({e}); "
                               "run `make install` to install the missing package") from None
    except FileNotDecryptedError:
        raise ParseError(name, "is password-protected; remove the password and upload it again") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        raise ParseError(name, f"is a corrupt PDF that cannot be read ({type(e).__name__}: {e})") from None
    return texts


_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "head")
_BLOCK_TAGS = ("p", "div", "section", "article", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br",
               "table", "ul", "ol", "pre", "blockquote", "header", "footer", "main", "nav")


MAX_HTML_DEPTH = 512  # real pages nest a few dozen levels; the tree builder slows with depth squared
_VOID_TAGS = frozenset("area base br col embed hr img input link meta param source track wbr".split())


def html_depth(raw: str, limit: int = MAX_HTML_DEPTH) -> int:
    """How deep the tags of `raw` nest, counted in one linear pass (stops counting past `limit`)."""
    from html.parser import HTMLParser

    class Depth(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=False)
            self.depth = self.deepest = 0

        def handle_starttag(self, tag, attrs):
            if tag not in _VOID_TAGS:
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)
                if self.deepest > limit:
                    raise StopIteration

        def handle_endtag(self, tag):
            if tag not in _VOID_TAGS:
                self.depth = max(0, self.depth - 1)

    d = Depth()
    try:
        d.feed(raw)
    except StopIteration:
        pass
    return d.deepest


def _html(name: str, raw: str) -> str:
    from bs4 import BeautifulSoup

    # Checked before the tree is built: 200,000 nested <div>s would take the tree builder many minutes.
    if html_depth(raw) > MAX_HTML_DEPTH:
        raise ParseError(name, f"nests its HTML tags more than {MAX_HTML_DEPTH} levels deep; no real page "
                               "does (save it as text or simplify it)")
    # html.parser only builds a tree: nothing is executed and no src/href is ever fetched.
    soup = BeautifulSoup(raw, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(_BLOCK_TAGS):
        tag.insert_before("\n")
        tag.insert_after("\n")
    lines = [re.sub(r"[ \t\xa0]+", " ", ln).strip() for ln in soup.get_text().splitlines()]
    body = "\n".join(ln for ln in lines if ln)
    if title and not body.startswith(title):
        body = f"{title}\n{body}"
    return body


def _docx(name: str, data: bytes, max_bytes: int) -> str:
    import docx

    check_archive(name, data, max_bytes)
    try:
        d = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ParseError(name, f"is not a valid DOCX file (corrupt or another format: {e})") from None
    except Exception as e:  # python-docx raises its own PackageNotFoundError and friends
        raise ParseError(name, f"is not a valid DOCX file ({type(e).__name__}: {e})") from None
    parts = [p.text for p in d.paragraphs if p.text.strip()]
    for table in d.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells]
            if any(cells):
                parts.append(" | ".join(cells))
    return "\n\n".join(parts)


def parse(name: str, data: bytes, max_bytes: int | None = None, encoding: str | None = None) -> Document:
    """Parse one uploaded file; ParseError (file name + reason) for anything that cannot be ingested.

    `max_bytes` bounds the file, what an archive unpacks to and the extracted text (default: the
    default upload limit); `encoding` overrides detection for text files (TXT, Markdown, HTML).
    """
    name = check_file_name(name)
    kind = kind_of(name)
    max_bytes = DEFAULT_MAX_BYTES if max_bytes is None else max_bytes
    if len(data) > max_bytes:
        raise ParseError(name, f"is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB upload limit")
    if not data or not data.strip():
        raise ParseError(name, "is empty")
    page_starts: tuple[int, ...] = (0,)
    decoded = None
    try:
        if kind == "pdf":
            text, page_starts = _pdf(name, data, max_bytes)
        elif kind in ZIP_KINDS:
            text = _docx(name, data, max_bytes)
        else:
            decoded = decode_text(name, data, encoding, declared_charset(data) if kind == "html" else None)
            text = _html(name, decoded.text) if kind == "html" else decoded.text
    except ParseError:
        raise
    except MemoryError:
        raise ParseError(name, "needs more memory to read than this machine has; split it into smaller files") \
            from None
    except Exception as e:  # a parser library's own failure on a damaged file: a message, never a traceback
        raise ParseError(name, f"could not be read ({type(e).__name__}: {str(e)[:200]}); the file may be "
                               "damaged or use a feature the reader does not support") from None
    if kind != "pdf":
        text = _normalise(text).strip()
        _text_limit(name, len(text.encode("utf-8", "replace")), max_bytes)
    if not text.strip():
        raise ParseError(name, "contains no text after parsing")
    h = content_hash(data)
    return Document(doc_id=h[:16], name=name, kind=kind, text=text, page_starts=page_starts, content_hash=h,
                    encoding=decoded.encoding if decoded else None,
                    encoding_guessed=bool(decoded and decoded.guessed))
