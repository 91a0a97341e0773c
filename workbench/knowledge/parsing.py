"""Uploaded bytes -> `Document`: PDF (pages kept), TXT, Markdown, HTML (text only) and DOCX."""
from __future__ import annotations

import hashlib
import io
import re
import warnings

from workbench.types import Document

KINDS = {".pdf": "pdf", ".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md",
         ".html": "html", ".htm": "html", ".docx": "docx"}
SUPPORTED = tuple(sorted(KINDS))
PAGE_SEPARATOR = "\n\n"  # between PDF pages, so a chunker's paragraph split falls on page breaks


class ParseError(Exception):
    """A file that cannot be ingested; `str()` names the file and the reason."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_file_name(name: str) -> str:
    """The file name if it is a plain name; ParseError for path parts, '..' or control characters."""
    if not name or not name.strip():
        raise ParseError(name or "(unnamed)", "the file has no name")
    if "/" in name or "\\" in name or ".." in name:
        raise ParseError(name, "the file name contains a path separator or '..'; upload plain file names only")
    if any(ord(c) < 32 for c in name) or len(name) > 255:
        raise ParseError(name[:80], "the file name contains control characters or is over 255 characters")
    return name.strip()


def kind_of(name: str) -> str:
    """Document kind from the extension; ParseError for unsupported types."""
    m = re.search(r"\.[A-Za-z0-9]+$", name)
    ext = m.group(0).lower() if m else ""
    if ext not in KINDS:
        shown = ext or "no extension"
        raise ParseError(name, f"unsupported file type ({shown}); supported: {', '.join(SUPPORTED)}")
    return KINDS[ext]


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KB: not text, whatever the extension says."""
    head = data[:8192]
    if b"\x00" in head:
        # UTF-16 text has NULs too; it carries a BOM when it is meant to be read as text.
        return not head.startswith((b"\xff\xfe", b"\xfe\xff"))
    ctrl = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return ctrl > max(4, len(head) // 100)


def decode_text(name: str, data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 first, then the detected encoding, else cp1252 (never fails)."""
    if looks_binary(data):
        raise ParseError(name, "contains binary data, not text (is the extension wrong?)")
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(enc, errors="replace"), enc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            return str(best), best.encoding
    except Exception:  # detection is a nicety; cp1252 below always decodes
        pass
    return data.decode("cp1252", errors="replace"), "cp1252"


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return re.sub(r"\n{3,}", "\n\n", text)


def _pdf(name: str, data: bytes) -> tuple[str, tuple[int, ...]]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ParseError(name, "is not a valid PDF (no PDF header); the file may be corrupt")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                # Owner-password-only PDFs open with the empty user password; real protection does not.
                try:
                    ok = reader.decrypt("")
                except Exception:
                    ok = 0
                if not ok:
                    raise ParseError(name, "is password-protected; remove the password and upload it again")
            texts = []
            for page in reader.pages:
                texts.append(_normalise(page.extract_text() or "").strip())
    except ParseError:
        raise
    except FileNotDecryptedError:
        raise ParseError(name, "is password-protected; remove the password and upload it again") from None
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as e:
        raise ParseError(name, f"is a corrupt PDF that cannot be read ({type(e).__name__}: {e})") from None
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


_DROP_TAGS = ("script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas", "head")
_BLOCK_TAGS = ("p", "div", "section", "article", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "br",
               "table", "ul", "ol", "pre", "blockquote", "header", "footer", "main", "nav")


def _html(name: str, data: bytes) -> str:
    from bs4 import BeautifulSoup

    raw, _ = decode_text(name, data)
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


def _docx(name: str, data: bytes) -> str:
    import zipfile

    import docx

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


def parse(name: str, data: bytes, max_bytes: int | None = None) -> Document:
    """Parse one uploaded file; ParseError (file name + reason) for anything that cannot be ingested."""
    name = check_file_name(name)
    kind = kind_of(name)
    if max_bytes is not None and len(data) > max_bytes:
        raise ParseError(name, f"is {len(data) / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB upload limit")
    if not data or not data.strip():
        raise ParseError(name, "is empty")
    page_starts: tuple[int, ...] = (0,)
    if kind == "pdf":
        text, page_starts = _pdf(name, data)
    elif kind == "html":
        text = _html(name, data)
    elif kind == "docx":
        text = _docx(name, data)
    else:
        text, _ = decode_text(name, data)
    if kind != "pdf":
        text = _normalise(text).strip()
    if not text.strip():
        raise ParseError(name, "contains no text after parsing")
    h = content_hash(data)
    return Document(doc_id=h[:16], name=name, kind=kind, text=text, page_starts=page_starts, content_hash=h)
