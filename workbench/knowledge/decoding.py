"""Bytes of a text upload -> str: a chosen encoding, a byte-order mark, UTF-8, a declared charset, then a
detector with a confidence floor; the result says which encoding was used and whether it was a guess."""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import numpy as np

# Offered when a user overrides a guess: the encodings text files are still saved in, by region.
ENCODINGS = ("utf-8", "utf-16", "cp1252", "iso8859-1", "iso8859-15", "cp1250", "iso8859-2", "cp1251",
             "koi8-r", "cp1253", "cp1254", "cp1255", "cp1256", "cp1257", "mac-roman", "cp932", "euc-jp",
             "gb18030", "big5", "euc-kr")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# The detector's answer counts as a finding only above this floor (charset-normalizer's measures: mess in
# the decoded text, 0-1, and how much it reads like a known language, 0-1); below it, it is a guess.
MAX_CHAOS = 0.1
MIN_COHERENCE = 0.3
_TIE = 0.02  # two candidates this close on both measures are indistinguishable to the detector
_ASCII = bytes(range(128))


class UndecodableText(ValueError):
    """Bytes that are not text in the encoding they claim or were given; the message is the reason."""


@dataclass(frozen=True)
class Decoded:
    """Decoded text, the codec that produced it (Python's name) and whether that codec was a guess."""

    text: str
    encoding: str
    guessed: bool = False


def codec_name(encoding: str) -> str:
    """Python's canonical name for an encoding ('latin-1' -> 'iso8859-1'); UndecodableText if unknown."""
    try:
        return codecs.lookup(encoding).name
    except (LookupError, TypeError):
        raise UndecodableText(f"'{encoding}' is not a known text encoding") from None


def looks_binary(data: bytes) -> bool:
    """NUL bytes or many control characters in the first 8 KB: not text, whatever the extension says."""
    head = data[:8192]
    if b"\x00" in head:
        return True
    ctrl = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return ctrl > max(4, len(head) // 100)


def _strict(data: bytes, encoding: str, what: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise UndecodableText(f"{what} is not valid {encoding} (byte {e.start}); choose its encoding "
                              "when uploading it again") from None


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le'/'-be' for BOM-less UTF-16 of mostly Latin text: NULs in every other byte, none between."""
    head = data[:8192]
    if len(head) < 4 or len(data) % 2:
        return None
    even, odd = head[0::2], head[1::2]
    for enc, zeros, other in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.6 * len(zeros) and other.count(0) == 0:
            return enc
    return None


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML file declares in a <meta> tag within its first 4 KB, if Python knows it."""
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE)
    if not m:
        return None
    try:
        enc = codec_name(m.group(1).decode("ascii"))
    except UndecodableText:
        return None
    # Browsers read a declared Latin-1 or ASCII page as windows-1252 (WHATWG Encoding), and so do we.
    return "cp1252" if enc in ("iso8859-1", "ascii") else enc


def decode(data: bytes, encoding: str | None = None, declared: str | None = None) -> Decoded:
    """Decode `data`: `encoding` if given (never a guess), else as found (see the module docstring)."""
    if encoding:
        enc = codec_name(encoding)
        if enc == "utf-8" and data.startswith(codecs.BOM_UTF8):
            enc = "utf-8-sig"
        return Decoded(_strict(data, enc, "the file"), codec_name(enc))
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return Decoded(_strict(data, enc, f"the file starts with a {enc} byte-order mark but"), enc)
    if enc := _utf16_without_bom(data):
        try:
            return Decoded(data.decode(enc), enc, guessed=True)
        except UnicodeDecodeError:
            pass
    if looks_binary(data):
        raise UndecodableText("contains binary data, not text (is the extension wrong?)")
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    if declared and declared not in ("utf-8", "utf-16", "utf-32"):
        try:
            return Decoded(data.decode(declared), declared)
        except UnicodeDecodeError:
            pass  # the declaration is wrong: find out like for any undeclared file
    return _detect(data)


def _single_byte(encoding: str) -> bool:
    # Code pages decode byte by byte with a plain incremental decoder; UTF-n and CJK codecs buffer.
    return len(codecs.getincrementaldecoder(encoding).__mro__) == 3


def _differs(data: bytes, distinct_high: bytes, a: str, b: str) -> bool:
    """Whether codecs a and b read `data` differently (exactly for code pages: on its distinct non-ASCII bytes)."""
    if _single_byte(a) and _single_byte(b):
        sample = distinct_high
    else:
        sample = data[:262_144]
    return sample.decode(a, errors="replace") != sample.decode(b, errors="replace")


def _detect(data: bytes) -> Decoded:
    """charset-normalizer's best reading if it clears the floor and no different reading ties with it;
    otherwise a guess: cp1252 for mostly-ASCII text (Latin-1 text reads the same in it), else the detector's."""
    try:
        from charset_normalizer import from_bytes

        matches = [m for m in from_bytes(data) if m.encoding]
    except Exception:  # noqa: BLE001 - detection failing leaves the fallback below, which always decodes
        matches = []
    best = matches[0] if matches else None
    if best is not None:
        # Code pages the detector cannot tell apart (cp1250 vs cp1252 on French) go to the Western one,
        # the most common; charset-normalizer otherwise picks by its own list order.
        western = next((m for m in matches if codec_name(m.encoding) == "cp1252"), None)
        if western and western.chaos <= best.chaos + _TIE and western.coherence >= best.coherence - _TIE:
            best = western
        enc = codec_name(best.encoding)
        high = data.translate(None, _ASCII)
        distinct_high = bytes(np.flatnonzero(np.bincount(np.frombuffer(high, np.uint8), minlength=256)).tolist())
        rivals = [m for m in matches if codec_name(m.encoding) != enc and m.chaos <= best.chaos + _TIE
                  and m.coherence >= best.coherence - _TIE
                  and _differs(data, distinct_high, enc, codec_name(m.encoding))]
        sure = best.chaos <= MAX_CHAOS and best.coherence >= MIN_COHERENCE and not rivals
        # Short or mostly-ASCII files are where detectors fail (a Latin-1 "Cafe" reads as UTF-16 to one).
        if sure or (len(high) > 0.3 * len(data) and best.chaos <= MAX_CHAOS):
            try:
                return Decoded(data.decode(enc), enc, guessed=not sure)
            except UnicodeDecodeError:
                pass
    try:
        return Decoded(data.decode("cp1252"), "cp1252", guessed=True)
    except UnicodeDecodeError:  # cp1252 leaves five bytes undefined; Latin-1 decodes every byte
        return Decoded(data.decode("iso8859-1"), "iso8859-1", guessed=True)


def _wide(encoding: str) -> bool:
    return codec_name(encoding).startswith(("utf-16", "utf-32"))


def rereadable(was: str, now: str) -> bool:
    """Reading the stored text of a file read as `was` with `now` (stored_bytes) gives what the file would:
    true but from byte-based encodings to UTF-16/32, where a dropped line end or blank shifts every pair."""
    return _wide(was) or not _wide(now)


def stored_bytes(text: str, encoding: str) -> bytes:
    """The bytes a text file read with `encoding` held, from its stored text: exact but for what parsing
    normalises (line endings, NULs, surrounding blank space), which are whole characters in every encoding
    offered, so a guessed encoding can be replaced without the file (where `rereadable` says so)."""
    try:
        return text.encode(codec_name(encoding))
    except UnicodeEncodeError as e:
        raise UndecodableText(f"its stored text has {text[e.start:e.end]!r}, which {encoding} cannot hold, so "
                              "it cannot be read again from here; upload the file again with its encoding chosen"
                              ) from None
