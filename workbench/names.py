"""The one rule for names people give things: collections, adapters, datasets and question sets.

Each store used to have its own rule (collections allowed any script and brackets, adapters no spaces,
datasets and question sets ASCII with spaces). The rule below accepts the union of those, minus what is
unsafe as a file or folder name on some operating system, since datasets, adapters and question sets
are stored under their names:

- surrounding whitespace is dropped and the name is normalised to Unicode NFC, so a name typed on macOS
  (decomposed accents) and on Linux is the same name (`normalise`, shared with uploaded file names);
- control, line-separator and invisible format characters (bidirectional overrides among them, which
  make `txt.exe` read as `exe.txt`) are refused, for file names too (`hidden_characters`);
- 1-64 characters (and at most 192 bytes as UTF-8, which keeps `.NAME.jsonl.tmp` under 255 bytes);
- letters and digits of any script, spaces, '_', '-', '.', '(' and ')': so no path separators, quotes
  or control characters;
- it starts with a letter or digit (no hidden `.x` names, no `-x` that reads as a command-line option)
  and does not end with '.' (Windows drops a trailing dot, so `a.` and `a` would be one folder);
- no '..' anywhere, and not a Windows device name (CON, NUL, COM1, ..., also with an extension);
- case is kept as typed and is significant: 'Docs' and 'docs' are two names, as in every store before.

Run labels and job names are free-text descriptions shown next to an id, not names, so this rule does
not apply to them. Run and job ids come from `time_id`: they sort by creation time, even within a second.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
import unicodedata

MAX_CHARS = 64
MAX_BYTES = 192
_NAME = re.compile(r"[^\W_][\w .()-]*")  # \w is Unicode-aware: letters and digits of any script, and '_'
_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
RULE = (f"use 1-{MAX_CHARS} letters, digits, spaces, '.', '-', '_' or brackets, "
        "starting with a letter or digit and not ending with '.'")


# Zero-width (non-)joiners are format characters that Persian, Indic scripts and emoji need in words.
_JOINERS = {"\u200c", "\u200d"}


def normalise(name: str | None) -> str:
    """The name trimmed and in Unicode NFC: the form every comparison of names uses."""
    return unicodedata.normalize("NFC", (name or "").strip())


def hidden_characters(name: str) -> list[str]:
    """Control, separator and invisible format characters (bidi overrides, ...) in `name`, as 'U+XXXX'."""
    return sorted({f"U+{ord(c):04X}" for c in name
                   if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") and c not in _JOINERS})


def shown(name: str, limit: int = 80) -> str:
    """`name` safe to print in a message: hidden characters spelled as \\uXXXX, cut to `limit` characters."""
    out = "".join(f"\\u{ord(c):04x}" if hidden_characters(c) else c for c in name)
    return out if len(out) <= limit else out[:limit - 3] + "..."


class InvalidName(ValueError):
    """A name that breaks the rule; the message says which thing it names and what a name may contain."""


def check_name(name: str | None, what: str = "collection", error: type[Exception] = InvalidName) -> str:
    """The name, stripped and NFC-normalised; raises `error` (InvalidName by default) saying what is wrong."""
    name = normalise(name)
    if not name:
        raise error(f"{'An' if what[:1].lower() in 'aeiou' else 'A'} {what} needs a name.")
    if hidden := hidden_characters(name):
        reason = f"it contains control or invisible formatting characters ({', '.join(hidden)})"
    elif len(name) > MAX_CHARS or len(name.encode()) > MAX_BYTES:
        reason = f"it is too long ({RULE})"
    elif ".." in name:
        reason = "it contains '..'"
    elif name.split(".")[0].rstrip().upper() in _DEVICES:
        reason = "that is a reserved device name on Windows"
    elif not _NAME.fullmatch(name) or name.endswith("."):
        reason = RULE
    else:
        return name
    raise error(f"'{shown(name)}' is not a valid {what} name: {reason}.")


_last_us = 0  # the last time_id's microsecond stamp in this process
_last_lock = threading.Lock()


def time_id(*parts: str) -> str:
    """A new id `YYYYMMDD-HHMMSS-ffffff[-parts]-xxxxxx` (local time to the microsecond): ids sort by creation."""
    # A repeated microsecond is bumped, so ids from one process strictly increase; the random tail keeps
    # ids from different processes apart. Local time, like the older ids, so new ids still sort after them.
    global _last_us
    with _last_lock:
        _last_us = us = max(time.time_ns() // 1000, _last_us + 1)
    secs, micro = divmod(us, 1_000_000)
    return "-".join([time.strftime("%Y%m%d-%H%M%S", time.localtime(secs)), f"{micro:06d}", *parts,
                     secrets.token_hex(3)])
