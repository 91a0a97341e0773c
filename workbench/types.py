"""Frozen value types that flow through the pipeline (ingest -> chunk -> index -> retrieve -> generate), and
the row error every upload parser reports."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """A parsed source document: its text and where each page starts in it."""

    # Content hash (sha256 hex, first 16 chars) of the raw bytes; in a collection where another name
    # already holds the same bytes, a hash of name and content instead.
    doc_id: str
    name: str  # file name as uploaded (trimmed, NFC, no path parts)
    kind: str  # "pdf", "txt", "md", "html", "docx"
    text: str
    # Character offset in `text` where each page begins; [0] for documents without pages.
    page_starts: tuple[int, ...] = (0,)
    content_hash: str = ""
    encoding: str | None = None  # the codec text files (TXT, MD, HTML) were decoded with; None for PDF, DOCX
    encoding_guessed: bool = False  # True when `encoding` is the detector's guess, not found or chosen

    def page_of(self, offset: int) -> int | None:
        """1-based page number containing character `offset`, None for page-less documents."""
        if self.kind != "pdf":
            return None
        page = 1
        for i, start in enumerate(self.page_starts):
            if start <= offset:
                page = i + 1
            else:
                break
        return page

    def page_breaks(self, start: int, end: int) -> list[tuple[int, int]]:
        """(offset, page) of every page that begins in [start, end); none for page-less documents."""
        if self.kind != "pdf":
            return []
        return [(off, i + 1) for i, off in enumerate(self.page_starts) if start <= off < end]

    def page_span(self, start: int, end: int) -> tuple[int | None, int | None]:
        """(first, last) page of the text in [start, end), ignoring blank text at either end: a chunk that
        runs onto the next page spans both; one that merely ends on the page break spans one."""
        if self.kind != "pdf":
            return None, None
        piece = self.text[start:end]
        lead, body = len(piece) - len(piece.lstrip()), len(piece.strip())
        if not body:
            return self.page_of(start), self.page_of(start)
        return self.page_of(start + lead), self.page_of(start + lead + body - 1)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that gets embedded; offsets index into Document.text."""

    chunk_id: str
    doc_id: str
    doc_name: str
    text: str
    start: int  # character offset in the document text (inclusive)
    end: int  # character offset (exclusive); text == document.text[start:end]
    index: int  # position of the chunk within its document
    page: int | None = None  # the first page it spans (1-based), None for page-less documents
    page_end: int | None = None  # the last page it spans; left out, the chunk lies on `page` alone
    n_tokens: int | None = None  # embedding-model tokens, when counted
    # Heading path (and title, where enabled) prepended to what is embedded and BM25-indexed; never shown.
    context: str = ""

    def __post_init__(self):
        if self.page is None or self.page_end is None or self.page_end < self.page:
            object.__setattr__(self, "page_end", self.page)

    def on_page(self, page: int) -> bool:
        """Whether the chunk spans page `page` (False for page-less documents)."""
        return self.page is not None and self.page <= page <= self.page_end


def page_label(page: int | None, page_end: int | None = None) -> str:
    """How every citation names a passage's pages: 'page 3', 'pages 3-4', or '' without a page."""
    if not page:
        return ""
    if page_end is None or page_end <= page:
        return f"page {page}"
    return f"pages {page}-{page_end}"


def source_label(source: str, page: int | None, page_end: int | None = None) -> str:
    """A passage's citation: 'handbook.pdf, pages 3-4', or the bare source without a page."""
    pages = page_label(page, page_end)
    return f"{source}, {pages}" if pages else source


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its raw score and the name of the metric behind it."""

    chunk: Chunk
    score: float
    metric: str  # "cosine similarity", "BM25", "fused rank (RRF)", "MMR"
    rank: int  # 1-based
    details: dict = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class GenerationStats:
    """What one generation cost: the numbers shown under every answer."""

    latency_s: float
    ttft_s: float | None
    prompt_tokens: int
    completion_tokens: int
    prompt_reused: int = 0  # prompt tokens whose cached KV the engine reused instead of reading them again

    @property
    def tokens_per_s(self) -> float:
        gen_time = self.latency_s - (self.ttft_s or 0.0)
        return self.completion_tokens / gen_time if gen_time > 0 else 0.0


@dataclass(frozen=True)
class Answer:
    """One setup's answer to one question, with what it saw and what it cost."""

    setup: str  # "base", "rag", "finetuned", "hybrid"
    text: str
    stats: GenerationStats | None = None
    passages: tuple[ScoredChunk, ...] = ()
    prompt: str = ""  # the exact prompt string sent to the model
    error: str | None = None
    note: str | None = None  # something the reader should know (prompt trimmed, no passages found)


@dataclass(frozen=True)
class RowError:
    """Why one row of an uploaded file (question set, fine-tuning dataset) was rejected; the other rows still load."""

    line: int  # 1-based: the file's line (a CSV's header is line 1), or the item's position in a JSON list
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"
