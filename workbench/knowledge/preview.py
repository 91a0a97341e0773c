"""What a chunking setting does to a document, before anything is indexed: boundaries, overlaps, lengths."""
from __future__ import annotations

import html
from dataclasses import dataclass

from workbench.knowledge.config import CollectionConfig
from workbench.types import Chunk, Document, page_label

# Alternating chunk colours (light, readable under dark text); overlaps get their own marking.
PALETTE = ("#dbeafe", "#dcfce7", "#fef3c7", "#fce7f3", "#e0e7ff", "#ccfbf1")
OVERLAP_STYLE = "background:#fca5a5;text-decoration:underline wavy #b91c1c;"


@dataclass(frozen=True)
class Preview:
    """A document chunked under one config, with the numbers the chunking page shows."""

    doc: Document
    config: CollectionConfig
    chunks: tuple[Chunk, ...]
    token_limit: int  # the embedding model's input window

    @property
    def n_truncated(self) -> int:
        """Chunks longer than the model's window: their tail would be cut off silently when embedded."""
        return sum(1 for c in self.chunks if (c.n_tokens or 0) > self.token_limit)

    @property
    def tokens(self) -> list[int]:
        return [int(c.n_tokens or 0) for c in self.chunks]

    @property
    def coverage(self) -> float:
        """Share of the document's non-space characters inside some chunk."""
        covered = [False] * len(self.doc.text)
        for c in self.chunks:
            covered[c.start:c.end] = [True] * (c.end - c.start)
        solid = [i for i, ch in enumerate(self.doc.text) if not ch.isspace()]
        return sum(covered[i] for i in solid) / len(solid) if solid else 1.0


@dataclass(frozen=True)
class Segment:
    """A stretch of text covered by the same chunks: none (gap), one, or several (overlap)."""

    start: int
    end: int
    chunks: tuple[int, ...]  # chunk indexes covering it


def segments(chunks: tuple[Chunk, ...] | list[Chunk], start: int, end: int, extra=()) -> list[Segment]:
    """Split [start, end) at every chunk boundary (and `extra` cut points), noting which chunks cover each piece."""
    inside = [c for c in chunks if c.end > start and c.start < end]
    cuts = sorted({start, end} | {p for c in inside for p in (c.start, c.end) if start < p < end}
                  | {p for p in extra if start < p < end})
    out = []
    for a, b in zip(cuts, cuts[1:]):
        cover = tuple(c.index for c in inside if c.start <= a and c.end >= b)
        out.append(Segment(a, b, cover))
    return out


def render_html(doc: Document, chunks, start: int = 0, end: int | None = None) -> str:
    """The text in [start, end) with chunk boundaries in alternating colours and overlaps marked."""
    end = len(doc.text) if end is None else end
    starts = {c.start: c for c in chunks}
    pages = dict(doc.page_breaks(start, end))
    parts = []
    for seg in segments(chunks, start, end, extra=pages):
        if seg.start in pages:
            parts.append(f'<div class="wb-page">page {pages[seg.start]}</div>')
        if seg.start in starts:
            c = starts[seg.start]
            where = page_label(c.page, c.page_end)
            parts.append(f'<sup class="wb-n" title="chunk {c.index}: {c.n_tokens} tokens, chars {c.start}-{c.end}'
                         f'{", " + where if where else ""}">{c.index}</sup>')
        text = html.escape(doc.text[seg.start:seg.end])
        if not seg.chunks:
            parts.append(f'<span style="color:#6b7280">{text}</span>')
        elif len(seg.chunks) == 1:
            parts.append(f'<span style="background:{PALETTE[seg.chunks[0] % len(PALETTE)]}">{text}</span>')
        else:
            ids = ", ".join(str(i) for i in seg.chunks)
            parts.append(f'<span style="{OVERLAP_STYLE}" title="overlap of chunks {ids}">{text}</span>')
    body = "".join(parts)
    return ('<style>.wb-chunks{white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:0.85rem;'
            "line-height:1.6;color:#111827;background:#fff;padding:0.75rem;border:1px solid #e5e7eb;"
            "border-radius:0.5rem;max-height:36rem;overflow-y:auto}"
            ".wb-n{font-size:0.65rem;color:#fff;background:#374151;border-radius:0.3rem;padding:0 0.25rem;"
            "margin-right:0.1rem}.wb-page{color:#6b7280;font-size:0.75rem;border-top:1px dashed #9ca3af;"
            f'margin:0.4rem 0}}</style><div class="wb-chunks">{body}</div>')


def page_window(doc: Document, first_page: int, last_page: int) -> tuple[int, int]:
    """Character range of pages first..last (1-based, inclusive) of a PDF."""
    starts = list(doc.page_starts) + [len(doc.text)]
    first = max(1, min(first_page, len(doc.page_starts)))
    last = max(first, min(last_page, len(doc.page_starts)))
    return starts[first - 1], starts[last]
