"""Chunking strategies as spans over the document text, so every chunk maps back to its source exactly."""
from __future__ import annotations

import contextlib
import copy
import logging
import re
import threading
from collections.abc import Callable

import numpy as np

from workbench.knowledge.config import CollectionConfig
from workbench.models.embedder import Embedder
from workbench.types import Chunk, Document

Span = tuple[int, int]
EmbedFn = Callable[[list[str]], np.ndarray]

# Sentence ends: terminal punctuation (plus closing quotes/brackets) before whitespace, or a blank line.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026])[\"'\)\]\u201d\u2019]*\s+|\n[ \t]*\n\s*|\n(?=[ \t]*(?:[-*+]|\d+[.)]|#{1,6})\s)")
_MD_HEADER = re.compile(r"^(#{1,6})[ \t]+\S.*$", re.M)
_MD_FENCE = re.compile(r"^(```|~~~)", re.M)
_PIECE = re.compile(r"\w+|[^\w\s]+")
# Semantic breaks: distances above this percentile of the document's neighbour distances.
SEMANTIC_PERCENTILE = 90
# The file name as a title line did not pay: on the tune half of SQuADShifts NYT (titles are article slugs)
# MRR@10 0.866 without, 0.861 with; Amazon and HaluEval file names are ids. Heading paths are kept.
CONTEXT_TITLE = False

logging.getLogger("transformers.tokenization_utils_base").setLevel(logging.ERROR)


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


_pool: dict[int, tuple[object, list]] = {}
_pool_lock = threading.Lock()


@contextlib.contextmanager
def _tokenizer(embedder: Embedder):
    """A private copy of the embedder's tokenizer for the duration of the block: one Rust tokenizer used
    from two threads at once (the ingest parser counting, the model encoding) fails with 'Already
    borrowed'. Copies are pooled, so a new ingest thread does not pay for a deep copy."""
    tok = getattr(embedder, "tokenizer", None)
    if tok is None:
        yield None
        return
    with _pool_lock:
        entry = _pool.get(id(tok))
        if entry is None or entry[0] is not tok:
            entry = _pool[id(tok)] = (tok, [])
        mine = entry[1].pop() if entry[1] else None
    if mine is None:
        mine = copy.deepcopy(tok)
    try:
        yield mine
    finally:
        with _pool_lock:
            entry[1].append(mine)


def count_tokens(embedder: Embedder, texts: list[str]) -> list[int]:
    """Tokens per text in the embedder's tokenizer, special tokens included (as the model sees them)."""
    with _tokenizer(embedder) as tok:
        if tok is None:
            return embedder.count_tokens(texts)
        enc = tok(list(texts), add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
    return [len(ids) for ids in enc]


def length_fn(config: CollectionConfig, embedder: Embedder) -> Callable[[str], int]:
    """Length of a text in the config's unit (tokens include the model's special tokens)."""
    if config.unit == "tokens":
        return lambda s: count_tokens(embedder, [s])[0]
    return len


def n_special_tokens(embedder: Embedder) -> int:
    return count_tokens(embedder, [""])[0]


def token_offsets(text: str, embedder: Embedder) -> list[Span]:
    """Character span of every token of `text` in the embedder's own tokenizer (no special tokens)."""
    with _tokenizer(embedder) as tok:
        if tok is not None and getattr(tok, "is_fast", False):
            enc = tok(text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
            return [(a, b) for a, b in enc["offset_mapping"] if b > a]
    # The Embedder contract needs no tokenizer (only count_tokens): without a fast one, tokens are
    # approximated by words and runs of punctuation, so nothing is dropped.
    return [m.span() for m in _PIECE.finditer(text)]


def _locate(text: str, pieces: list[str], base: int = 0) -> list[Span]:
    """Spans of splitter output pieces in `text`, in order (each piece is a substring of the text)."""
    spans, prev = [], -1
    for piece in pieces:
        i = text.find(piece, prev + 1)
        if i < 0:
            i = text.find(piece)
        if i < 0:  # a splitter that rewrote whitespace: anchor on the piece's opening words
            i = max(text.find(piece[:40].strip(), prev + 1), prev + 1)
        end = min(len(text), i + len(piece))
        s, e = _trim(text, i, end)
        if e > s:
            spans.append((base + s, base + e))
        prev = i
    return spans


def _recursive(text: str, size: int, overlap: int, length: Callable[[str], int], base: int = 0,
               separators: list[str] | None = None) -> list[Span]:
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    splitter = RecursiveCharacterTextSplitter(
        chunk_size=size, chunk_overlap=overlap, length_function=length, separators=separators,
        keep_separator="end", strip_whitespace=True)
    return _locate(text, splitter.split_text(text), base)


def _token_windows(text: str, config: CollectionConfig, embedder: Embedder) -> list[Span]:
    # Never past the model's window: a longer chunk would be silently truncated when embedded.
    limit = min(config.chunk_size, embedder.max_tokens)
    specials = n_special_tokens(embedder)
    window = max(1, limit - specials)
    overlap = min(config.chunk_overlap, window - 1)
    offs = token_offsets(text, embedder)
    spans: list[Span] = []
    i = 0
    while i < len(offs):
        j = min(len(offs), i + window)
        # Re-tokenising a cut-out piece can merge differently at its edges; shrink until it fits.
        while j > i + 1 and count_tokens(embedder, [text[offs[i][0]:offs[j - 1][1]]])[0] > limit:
            j -= 1
        spans.append((offs[i][0], offs[j - 1][1]))
        if j >= len(offs):
            break
        i = max(i + 1, j - overlap)
    return spans


def sentence_spans(text: str) -> list[Span]:
    """Sentences (and list items, paragraphs) as trimmed spans."""
    spans, pos = [], 0
    for m in _SENTENCE_END.finditer(text):
        s, e = _trim(text, pos, m.start())
        if e > s:
            spans.append((s, e))
        pos = m.end()
    s, e = _trim(text, pos, len(text))
    if e > s:
        spans.append((s, e))
    return spans


def _split_long(text: str, spans: list[Span], size: int, length: Callable[[str], int]) -> list[Span]:
    """Sentences longer than a chunk are cut by the recursive splitter (no overlap inside)."""
    out = []
    for s, e in spans:
        if length(text[s:e]) > size:
            out.extend(_recursive(text[s:e], size, 0, length, base=s))
        else:
            out.append((s, e))
    return out


def _pack(text: str, units: list[Span], size: int, overlap: int, length: Callable[[str], int],
          breaks: set[int] | None = None) -> list[Span]:
    """Greedy packing of consecutive units into chunks of at most `size`, carrying `overlap` back."""
    chunks: list[Span] = []
    i, n = 0, len(units)
    while i < n:
        j = i + 1
        while j < n and (breaks is None or j not in breaks) and length(text[units[i][0]:units[j][1]]) <= size:
            j += 1
        chunks.append((units[i][0], units[j - 1][1]))
        if j >= n:
            break
        # Start the next chunk with the trailing units that fit into the overlap, always moving forward.
        k = j
        while overlap and k - 1 > i and length(text[units[k - 1][0]:units[j - 1][1]]) <= overlap:
            k -= 1
        i = k if (breaks is None or j not in breaks) else j
    return chunks


def _markdown(text: str, config: CollectionConfig, length: Callable[[str], int]) -> list[Span]:
    fences = [m.start() for m in _MD_FENCE.finditer(text)]

    def in_fence(pos: int) -> bool:
        return sum(1 for f in fences if f < pos) % 2 == 1

    starts = [m.start() for m in _MD_HEADER.finditer(text) if not in_fence(m.start())]
    bounds = sorted(set([0] + starts + [len(text)]))
    sections = [(a, b) for a, b in zip(bounds, bounds[1:]) if text[a:b].strip()]
    # A heading with no body of its own stays with the section that follows it.
    merged: list[Span] = []
    for s, e in sections:
        if merged:
            ps, pe = merged[-1]
            body = _MD_HEADER.sub("", text[ps:pe]).strip()
            if not body and length(text[ps:e]) <= config.chunk_size:
                merged[-1] = (ps, e)
                continue
        merged.append((s, e))
    separators = ["\n## ", "\n### ", "\n#### ", "\n\n", "\n", ". ", " ", ""]
    out: list[Span] = []
    for s, e in merged:
        if length(text[s:e]) <= config.chunk_size:
            ts, te = _trim(text, s, e)
            if te > ts:
                out.append((ts, te))
        else:
            out.extend(_recursive(text[s:e], config.chunk_size, config.chunk_overlap, length, s, separators))
    return out


def semantic_breaks(vectors: np.ndarray, percentile: float = SEMANTIC_PERCENTILE) -> tuple[np.ndarray, set[int]]:
    """(neighbour cosine distances, indexes i where a new chunk starts before unit i)."""
    if len(vectors) < 2:
        return np.zeros(0, dtype=np.float32), set()
    dist = 1.0 - np.sum(vectors[:-1] * vectors[1:], axis=1)
    threshold = float(np.percentile(dist, percentile))
    return dist, {i + 1 for i, d in enumerate(dist) if d > threshold and d > 0}


def split_spans(text: str, config: CollectionConfig, embedder: Embedder, embed: EmbedFn | None = None) -> list[Span]:
    """Chunk spans of `text` under `config`: trimmed, non-empty, in document order."""
    if not text.strip():
        return []
    length = length_fn(config, embedder)
    size, overlap = config.chunk_size, config.chunk_overlap
    if config.strategy == "recursive":
        return _recursive(text, size, overlap, length)
    if config.strategy == "token":
        return _token_windows(text, config, embedder)
    if config.strategy == "markdown":
        return _markdown(text, config, length)
    units = _split_long(text, sentence_spans(text), size, length)
    if config.strategy == "sentence":
        return _pack(text, units, size, overlap, length)
    if config.strategy == "semantic":
        vecs = (embed or embedder.embed_batch)([text[s:e] for s, e in units])
        _, breaks = semantic_breaks(np.asarray(vecs, dtype=np.float32))
        # Chunks never straddle a topic shift, so overlap (which would cross it) is not applied.
        return _pack(text, units, size, 0, length, breaks)
    raise ValueError(f"unknown strategy {config.strategy}")


def title_of(name: str) -> str:
    """A document's file name as words: 'price-list_2024.md' -> 'price list 2024'."""
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return " ".join(re.sub(r"[_\-]+", " ", stem).split())


def heading_paths(text: str) -> list[tuple[int, str]]:
    """(offset, 'H1 > H2 > H3') where each Markdown heading (outside code fences) starts a section."""
    fences = [m.start() for m in _MD_FENCE.finditer(text)]
    out, stack = [], []
    for m in _MD_HEADER.finditer(text):
        if sum(1 for f in fences if f < m.start()) % 2:
            continue
        level = len(m.group(1))
        title = m.group(0)[level:].strip().strip("#").strip()
        stack = [h for h in stack if h[0] < level] + [(level, title)]
        out.append((m.start(), " > ".join(t for _, t in stack)))
    return out


def chunk_context(doc: Document, starts: list[int], with_title: bool = CONTEXT_TITLE) -> list[str]:
    """For chunks starting at `starts`: the heading path in force there (after the title when with_title)."""
    title, paths = (title_of(doc.name) if with_title else ""), heading_paths(doc.text)
    out = []
    for s in starts:
        # A chunk that opens with its own heading gets that heading's path (it is the section it holds).
        path = next((p for off, p in reversed(paths) if off <= s), "")
        out.append(" > ".join(x for x in (title, path) if x))
    return out


def index_text(chunk: Chunk) -> str:
    """What is embedded and BM25-indexed for a chunk: its context line, then its text (shown without it)."""
    return f"{chunk.context}\n\n{chunk.text}" if chunk.context else chunk.text


def chunk_document(doc: Document, config: CollectionConfig, embedder: Embedder,
                   embed: EmbedFn | None = None) -> list[Chunk]:
    """The document's chunks with offsets, the pages they span and token count (counted once, here)."""
    spans = split_spans(doc.text, config, embedder, embed)
    texts = [doc.text[s:e] for s, e in spans]
    counts = count_tokens(embedder, texts) if texts else []
    contexts = chunk_context(doc, [s for s, _ in spans])
    pages = [doc.page_span(s, e) for s, e in spans]
    return [
        Chunk(chunk_id=f"{doc.doc_id}-{i:05d}", doc_id=doc.doc_id, doc_name=doc.name, text=t, start=s, end=e,
              index=i, page=first, page_end=last, n_tokens=int(n), context=ctx)
        for i, ((s, e), t, n, ctx, (first, last)) in enumerate(zip(spans, texts, counts, contexts, pages))
    ]
