"""How a retrieved passage is shown: query terms highlighted, and the text around it."""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from workbench.retrieval.corpus import tokenize
from workbench.types import Chunk, Document


# A word as a reader sees it: letters and digits joined by ".", "_", "-" or "'" (data.frame, red-ish, O'Neil).
_WORD = re.compile(r"\w+(?:[._'\-]\w+)*")
# Visible on light and dark themes, and without the padding that set "data.frame" apart as "data . frame".
MARK_STYLE = "background:#ffd43b;color:#1a1a1a;padding:0;border-radius:2px"


def highlight_spans(text: str, query: str) -> list[tuple[int, int]]:
    """(start, end) of every whole word of `text` that contains a query term, in order (never part of a word)."""
    terms = set(tokenize(query))
    if not terms:
        return []
    return [m.span() for m in _WORD.finditer(text) if terms.intersection(tokenize(m.group(0)))]


def highlight_html(text: str, query: str, mark: str = "mark") -> str:
    """`text` HTML-escaped, with words holding query terms wrapped in a visible <mark> (safe to render as HTML)."""
    out, pos = [], 0
    for s, e in highlight_spans(text, query):
        out += [html.escape(text[pos:s]), f'<{mark} style="{MARK_STYLE}">', html.escape(text[s:e]), f"</{mark}>"]
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


@dataclass(frozen=True)
class PassageContext:
    """A chunk in its document: the text just before, the chunk itself, and the text just after."""

    before: str
    passage: str
    after: str
    start: int
    end: int
    doc_length: int
    page_breaks: tuple[tuple[int, int], ...] = ()  # (offset in the document, page) of pages beginning in view


def in_context(doc: Document, chunk: Chunk, window: int = 600) -> PassageContext:
    """`chunk` with up to `window` characters either side, cut at whitespace where possible, and where pages begin."""
    text = doc.text
    start, end = max(0, chunk.start), min(len(text), chunk.end)
    lo, hi = max(0, start - window), min(len(text), end + window)
    # Start and stop on a word boundary so the context does not open mid-word.
    if lo > 0:
        ws = text.find(" ", lo, start)
        lo = ws + 1 if ws != -1 else lo
    if hi < len(text):
        ws = text.rfind(" ", end, hi)
        hi = ws if ws != -1 else hi
    return PassageContext(text[lo:start], text[start:end], text[end:hi], start, end, len(text),
                          tuple(doc.page_breaks(lo, hi)))


PAGE_STYLE = "display:block;color:#6b7280;font-size:0.75rem;border-top:1px dashed #9ca3af;margin:0.3rem 0"


def _paged(text: str, offset: int, breaks, render) -> str:
    """`text` (starting at document offset `offset`) rendered piece by piece, with a page marker where a page begins."""
    out, pos = [], 0
    for off, page in breaks:
        if offset <= off < offset + len(text):
            out += [render(text[pos:off - offset]), f'<span style="{PAGE_STYLE}">page {page}</span>']
            pos = off - offset
    out.append(render(text[pos:]))
    return "".join(out)


def context_html(ctx: PassageContext, query: str) -> str:
    """The context as HTML: surrounding text dimmed, the passage boxed, query terms marked, page starts marked."""
    def para(s: str) -> str:
        return s.replace("\n", "<br>")

    lo = ctx.start - len(ctx.before)
    before = ("&hellip;" if lo > 0 else "") + _paged(ctx.before, lo, ctx.page_breaks,
                                                     lambda s: para(html.escape(s)))
    after = _paged(ctx.after, ctx.end, ctx.page_breaks, lambda s: para(html.escape(s))) + (
        "&hellip;" if ctx.end + len(ctx.after) < ctx.doc_length else "")
    middle = _paged(ctx.passage, ctx.start, ctx.page_breaks, lambda s: para(highlight_html(s, query)))
    return (f'<div style="line-height:1.5"><span style="opacity:0.55">{before}</span>'
            f'<span style="background:rgba(255,200,0,0.12);outline:1px solid rgba(255,170,0,0.6)">{middle}</span>'
            f'<span style="opacity:0.55">{after}</span></div>')
