"""Which retrieved passages an answer draws on: its own [n] markers, else the passages it copies from.

A small model rarely writes "[1]" itself, but a RAG answer copies its fact word for word ("21 days"),
so the passage holding the longest run of the answer's words is the one it cites. A run must carry a
number or be at least MIN_RUN words long: two common words ("the plan") prove nothing.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from workbench.types import ScoredChunk

MARKER = re.compile(r"\[(\d{1,2})\]")  # "[1]" written in the answer
_WORD = re.compile(r"[$€£]?\d+(?:[.,:]\d+)*%?|\w+")
MIN_RUN = 3  # words in a run without a number before it counts as copied
MAX_CITED = 2  # attributed passages per answer (explicit markers are all kept)
# JSON keys and values of the house format appear in every answer and in no passage's fact.
_IGNORED = {"source", "answer", "confidence", "high", "medium", "low", "none", "unknown"}


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower())]


def _longest_run(answer: list[str], passage: list[str]) -> tuple[int, int]:
    """(1 if the longest shared run holds a number, its length) over contiguous word runs."""
    best = (0, 0)
    prev = [0] * (len(passage) + 1)
    for i in range(1, len(answer) + 1):
        cur = [0] * (len(passage) + 1)
        for j in range(1, len(passage) + 1):
            if answer[i - 1] == passage[j - 1] and answer[i - 1] not in _IGNORED:
                cur[j] = prev[j - 1] + 1
                run = answer[i - cur[j]:i]
                score = (int(any(any(c.isdigit() for c in w) for w in run)), cur[j])
                best = max(best, score)
        prev = cur
    return best


def cited_ranks(text: str, passages: Sequence[ScoredChunk]) -> list[int]:
    """The ranks of the passages `text` cites: its valid [n] markers if any, else the passages it copies from."""
    ranks = {p.rank for p in passages}
    marked = sorted({int(m) for m in MARKER.findall(text) if int(m) in ranks})
    if marked:
        return marked
    words = _words(text)
    if not words:
        return []
    scored = []
    for p in passages:
        digit, run = _longest_run(words, _words(p.chunk.text))
        if run >= MIN_RUN or (digit and run >= 1):
            scored.append(((digit, run), p.rank))
    if not scored:
        return []
    top = max(s for s, _ in scored)
    return sorted(r for s, r in scored if s == top)[:MAX_CITED]


def anchor(turn: int, rank: int) -> str:
    """The HTML id of passage `rank` of turn `turn` on the arena page."""
    return f"arena-t{turn}-p{rank}"
