"""A collection's chunks held in memory for the sparse index and MMR, built once per content version."""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from workbench.knowledge.chunking import index_text
from workbench.types import Chunk

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# A short English stop list: BM25's IDF already discounts common words, this only keeps
# "what is the" from matching every chunk when a query has no rarer terms.
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its of on or that the their "
    "there these this to was were what when where which who why will with you your".split()
)


_STEMMER = None
_STEMMER_LOCK = threading.Lock()


def _stem_words(words: list[str]) -> list[str]:
    global _STEMMER
    with _STEMMER_LOCK:  # a PyStemmer object keeps a cache and is not safe to share between threads
        if _STEMMER is None:
            import Stemmer

            _STEMMER = Stemmer.Stemmer("english")
        return _STEMMER.stemWords(words)


def tokenize(text: str, stem: bool = True) -> list[str]:
    """Lower-cased word tokens without stop words, Snowball-stemmed (English) unless stem=False: the same
    for documents, queries and highlights, so "prices" finds "priced"."""
    words = [t for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]
    return _stem_words(words) if stem and words else words


def content_key(collection) -> str:
    """A cheap key that changes whenever the collection's chunks change."""
    fp = getattr(collection, "fingerprint", None)
    if callable(fp):
        return f"{collection.name}:{fp()}"
    # Document ids are content hashes and the config the index was built with decides the chunking,
    # so together with the Chroma key (new after a re-index) and the count they pin down the chunk
    # texts without reading every chunk back from Chroma on each query.
    try:
        docs = sorted(d.doc_id for d in collection.documents())
    except AttributeError:
        docs = []
    cfg = getattr(collection, "indexed_config", None) or getattr(collection, "config", None)
    cfg_json = cfg.to_json() if hasattr(cfg, "to_json") else repr(cfg)
    raw = json.dumps([collection.name, str(getattr(collection, "key", "")), cfg_json, collection.count(), docs])
    return hashlib.sha1(raw.encode()).hexdigest()


@dataclass
class Corpus:
    """Chunks of one collection version, with a lazily built BM25 index and embedding matrix."""

    key: str
    chunks: list[Chunk]
    _collection: object = field(repr=False, default=None)
    _bm25: object = field(repr=False, default=None)
    _vectors: np.ndarray | None = field(repr=False, default=None)
    _lock: threading.Lock = field(repr=False, default_factory=threading.Lock)

    def __post_init__(self):
        self.row_of = {c.chunk_id: i for i, c in enumerate(self.chunks)}
        self.doc_ids = np.array([c.doc_id for c in self.chunks], dtype=object)

    @property
    def bm25(self):
        """The bm25s index over the chunk texts (built on first use)."""
        with self._lock:
            if self._bm25 is None:
                import bm25s

                index = bm25s.BM25()
                # The index text: a chunk's heading path counts as its words, though it is not shown.
                tokens = [tokenize(index_text(c)) or ["\u2205"] for c in self.chunks]
                index.index(tokens, show_progress=False)
                self._bm25 = index
            return self._bm25

    @property
    def vectors(self) -> np.ndarray:
        """(n_chunks, dim) unit vectors aligned with `chunks` (read from the index on first use)."""
        with self._lock:
            if self._vectors is None:
                chunks, vecs = self._collection.embeddings()
                order = {c.chunk_id: i for i, c in enumerate(chunks)}
                idx = [order[c.chunk_id] for c in self.chunks]
                self._vectors = np.asarray(vecs, dtype=np.float32)[idx]
            return self._vectors

    def mask(self, doc_ids: tuple[str, ...]) -> np.ndarray | None:
        """1.0 for chunks of the chosen documents, 0.0 elsewhere; None when there is no filter."""
        if not doc_ids:
            return None
        return np.isin(self.doc_ids, list(doc_ids)).astype(np.float32)

    def bm25_scores(self, query: str, doc_ids: tuple[str, ...] = ()) -> np.ndarray:
        """BM25 score of every chunk for `query` (zeros when no query term is in the vocabulary)."""
        index = self.bm25
        ids = index.get_tokens_ids(tokenize(query))
        if not ids or not self.chunks:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return index.get_scores_from_ids(ids, weight_mask=self.mask(doc_ids))


_CACHE: OrderedDict[str, Corpus] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 4  # a few collections side by side; each 100k-chunk corpus is ~200 MB with vectors


def corpus_for(collection) -> Corpus:
    """The cached Corpus of `collection`, rebuilt only when its content key changes."""
    key = f"{collection.name}|{content_key(collection)}"
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    corpus = Corpus(key, list(collection.chunks()), _collection=collection)
    with _CACHE_LOCK:
        _CACHE[key] = corpus
        for old in [k for k in _CACHE if k != key and k.split("|")[0] == collection.name]:
            del _CACHE[old]  # an older version of the same collection is never asked for again
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return corpus


def forget(collection_name: str) -> None:
    """Drop every cached corpus of `collection_name` (after it was deleted)."""
    with _CACHE_LOCK:
        for key in [k for k in _CACHE if k.split("|")[0] == collection_name]:
            del _CACHE[key]
