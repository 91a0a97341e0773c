"""Deterministic answer metrics, per-answer scores with diagnosis tags, and per-setup aggregates as k/n."""
from __future__ import annotations

import json
import re
import statistics
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from workbench.answering.records import passage_from_json
from workbench.evaluation.stats import Rate
from workbench.questions import Question
from workbench.questions import formats
from workbench.retrieval.gold import relevance_fn

# Answers that count as "the model declined"; matched on the normalised answer text.
ABSTENTION_PHRASES = (
    "i don't know", "i do not know", "not in the context", "not mentioned", "not provided",
    "no information", "cannot find", "can't find", "cannot answer", "can't answer", "not available",
    "does not say", "doesn't say", "does not mention", "doesn't mention", "not specified", "unknown",
    "no answer", "unable to answer", "not stated",
)
# A token-F1 at or above this counts as correct even without the reference as a substring:
# it accepts "27 vacation days" for "27 days" and rejects an answer sharing one word of three.
F1_CORRECT = 0.5
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation if c not in "%$.,"})
_SEP = re.compile(r"(?<!\d)[.,]|[.,](?!\d)")  # sentence punctuation, but keep 8.4 and 1,400


def normalise(text: str) -> str:
    """Lower case, no articles, punctuation folded to spaces (decimal points kept), single spaces."""
    text = str(text).lower().replace("\u2019", "'").translate(_PUNCT)
    text = _SEP.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


_ABSTAIN_NORMALISED = tuple(normalise(p) for p in ABSTENTION_PHRASES)


def exact_match(prediction: str, reference: str) -> bool:
    return normalise(prediction) == normalise(reference)


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD-style token F1 over normalised words."""
    pred, ref = normalise(prediction).split(), normalise(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def contains_reference(prediction: str, reference: str) -> bool:
    """The normalised reference appears in the normalised prediction, on word boundaries."""
    ref = normalise(reference)
    if not ref:
        return False
    return f" {ref} " in f" {normalise(prediction)} "


def parse_json_object(text: str):
    """The JSON value in `text` (a ```json fence is tolerated), or None when it does not parse."""
    body = text.strip()
    fence = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.S)
    if fence:
        body = fence.group(1)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply; ValueError: not JSON, huge ints
        return None


def answer_text(raw: str) -> str:
    """What to score: the "answer" field of a JSON answer, otherwise the raw text."""
    parsed = parse_json_object(raw)
    if isinstance(parsed, dict) and "answer" in parsed:
        return str(parsed["answer"])
    return raw


def is_abstention(raw: str) -> bool:
    """The answer declines (the one definition used everywhere): "unknown", "I don't know", ..."""
    text = f" {normalise(answer_text(raw))} "
    if not text.strip():
        return True
    return any(f" {p} " in text for p in _ABSTAIN_NORMALISED)


def format_ok(raw: str, spec: str) -> bool | None:
    """Whether `raw` has the expected format; None when the item expects none.

    User patterns and schemas run bounded (workbench/questions/formats.py): a check that runs past its
    time budget, or a schema that is invalid or refers outside itself, counts as not ok."""
    if not spec:
        return None
    if spec.startswith("regex:"):
        return formats.matches_pattern(spec[len("regex:"):], raw.strip())
    parsed = parse_json_object(raw)
    if spec == "json":
        return parsed is not None
    if parsed is None:
        return False
    try:
        schema = json.loads(spec)
    except (ValueError, RecursionError):
        return False
    return formats.matches_schema(parsed, schema)


def source_document_retrieved(passages: Sequence[dict], source_document: str | None) -> bool | None:
    """Some retrieved passage comes from the question's source document (any page); None if the source is unknown."""
    if not source_document:
        return None
    return any(p.get("doc_name") == source_document for p in passages)


def gold_passage_retrieved(passages: Sequence[dict], item: Question) -> bool | None:
    """A retrieved passage is the gold one, as the Retrieval lab defines it (workbench.retrieval.gold).

    Measured only where the question pins its passage down, by a page or a span: the span's passage, else
    the page's passage holding the reference, else a passage of that page; a passage running over a page
    break belongs to each page it spans. None otherwise.
    """
    if item.unanswerable or not item.source_document or (item.span is None and item.source_page is None):
        return None
    chunks = [passage_from_json(p).chunk for p in passages]
    return relevance_fn(item, chunks)[1] > 0


# Diagnosis tags, shown beside each answer in the report.
TAG_ERROR = "errored (counts as wrong)"
TAG_SOURCE_NOT_RETRIEVED = "source document not retrieved"
TAG_GOLD_NOT_RETRIEVED = "gold passage not retrieved"
TAG_NOT_USED = "retrieved but not used"
TAG_FROM_MEMORY = "answered from memory"
TAG_WRONG_FORMAT = "wrong format"
TAG_SHOULD_ABSTAIN = "answered an unanswerable question"
TAG_FALSE_ABSTAIN = "abstained although answerable"
TAGS = (TAG_ERROR, TAG_SOURCE_NOT_RETRIEVED, TAG_GOLD_NOT_RETRIEVED, TAG_NOT_USED, TAG_FROM_MEMORY,
        TAG_WRONG_FORMAT, TAG_SHOULD_ABSTAIN, TAG_FALSE_ABSTAIN)


@dataclass(frozen=True)
class AnswerScore:
    """The deterministic scores of one setup's answer to one question (an errored answer scores as wrong)."""

    id: str
    setup: str
    exact: bool
    f1: float
    contains: bool
    correct: bool  # answerable: contains or F1 >= F1_CORRECT; unanswerable: abstained; errored: False
    abstained: bool
    format_ok: bool | None  # None when the question expects no format; errored: False
    source_retrieved: bool | None  # only for setups that retrieved, and questions with a known source
    gold_retrieved: bool | None  # only for setups that retrieved, and questions giving a page or span
    tags: tuple[str, ...]
    error: str | None = None  # the answer failed; it stays in every denominator

    @property
    def usable(self) -> bool:
        """Correct and well-formed (or no format expected): what an application can use as is."""
        return self.correct and self.format_ok is not False

    def to_json(self) -> dict:
        return {**asdict(self), "tags": list(self.tags)}


def _retrieval(item: Question, passages: Sequence[dict] | None) -> tuple[bool | None, bool | None]:
    if passages is None:
        return None, None
    return source_document_retrieved(passages, item.source_document), gold_passage_retrieved(passages, item)


def score_answer(item: Question, setup: str, raw: str, passages: Sequence[dict] | None) -> AnswerScore:
    """Score one answer; `passages` is what the answer saw (None for setups without retrieval)."""
    text = answer_text(raw)
    abstained = is_abstention(raw)
    em = exact_match(text, item.reference)
    f1 = token_f1(text, item.reference)
    has = contains_reference(text, item.reference)
    if item.unanswerable:
        correct = abstained
    else:
        correct = not abstained and (em or has or f1 >= F1_CORRECT)
    fmt = format_ok(raw, item.expected_format)
    source, gold = _retrieval(item, passages)
    tags: list[str] = []
    if item.unanswerable:
        if not abstained:
            tags.append(TAG_SHOULD_ABSTAIN)
    else:
        if source is False:
            tags.append(TAG_SOURCE_NOT_RETRIEVED)
        elif gold is False:
            tags.append(TAG_GOLD_NOT_RETRIEVED)
        found = gold if gold is not None else source  # the most precise retrieval measure there is
        if found and not correct:
            tags.append(TAG_NOT_USED)
        # No gold passage in front of the model, yet it answered: the answer came from its weights.
        if not found and not abstained:
            tags.append(TAG_FROM_MEMORY)
        if abstained:
            tags.append(TAG_FALSE_ABSTAIN)
    if fmt is False:
        tags.append(TAG_WRONG_FORMAT)
    return AnswerScore(item.id, setup, em, f1, has, correct, abstained, fmt, source, gold, tuple(tags))


def score_error(item: Question, setup: str, error: str, passages: Sequence[dict] | None) -> AnswerScore:
    """A failed answer: wrong, ill-formed where a format is expected; its retrieval (done before) still counts."""
    source, gold = _retrieval(item, passages)
    fmt = False if item.expected_format else None
    return AnswerScore(item.id, setup, False, 0.0, False, False, False, fmt, source, gold, (TAG_ERROR,), error)


def _rate(values: list) -> Rate | None:
    """k/n over the values that apply (None = not applicable); None when none applies."""
    values = [bool(v) for v in values if v is not None]
    return Rate.of(values) if values else None


def _mean(values: list) -> float | None:
    values = [float(v) for v in values if v is not None]
    return sum(values) / len(values) if values else None


@dataclass(frozen=True)
class SetupSummary:
    """One setup's aggregate over a run: rates as k/n (errored answers in every n), None when not measurable."""

    setup: str
    n: int  # answers in, errored ones included
    expected: int  # questions in the run: n < expected while the run is in progress (or was cancelled)
    correct: Rate | None  # over all questions (abstaining counts as correct on unanswerable ones)
    usable: Rate | None  # correct and in the expected format: what an application can use as is
    fact_correct: Rate | None  # over answerable questions only
    exact: Rate | None
    f1: float | None  # mean token F1 over answerable questions (a mean, not a rate)
    contains: Rate | None
    format_ok: Rate | None  # over questions with an expected format
    source_retrieved: Rate | None  # answerable questions with a known source, retrieving setups only
    gold_retrieved: Rate | None  # answerable questions giving a page or span, retrieving setups only
    abstention: Rate | None  # correct abstentions over unanswerable questions
    false_abstention: Rate | None  # abstentions over answerable questions
    latency_s: float | None  # mean seconds per answer (answers that did not error)
    latency_p50_s: float | None
    prompt_tokens: float | None  # mean per answer
    completion_tokens: float | None
    errors: int = 0

    @property
    def error_rate(self) -> Rate:
        return Rate(self.errors, self.n)

    def value(self, key: str) -> float | None:
        """A metric as a plain number: a rate's fraction, or the mean itself."""
        v = getattr(self, key)
        return v.value if isinstance(v, Rate) else v

    def to_json(self) -> dict:
        out = asdict(self)
        for k, v in vars(self).items():
            if isinstance(v, Rate):
                out[k] = rate_json(v)
        return out


def rate_json(r: Rate) -> dict:
    """A rate in the exports: k, n, the fraction and its 95 % Wilson interval."""
    lo, hi = r.interval
    return {"k": r.k, "n": r.n, "rate": r.value, "interval": [lo, hi], "text": r.text}


# (key, label) of the rates (k/n) shown as charts, in display order.
RATE_METRICS = (
    ("usable", "Correct and well-formed"),
    ("correct", "Correct (all questions)"),
    ("fact_correct", "Correct on answerable questions"),
    ("exact", "Normalised exact match"),
    ("contains", "Contains the reference"),
    ("format_ok", "Format adherence"),
    ("source_retrieved", "Source document retrieved"),
    ("gold_retrieved", "Gold passage retrieved"),
    ("abstention", "Abstains on unanswerable"),
)
MEAN_METRICS = (("f1", "Token F1 (mean)"),)
COST_METRICS = (
    ("latency_s", "Mean latency (s)"),
    ("prompt_tokens", "Prompt tokens per answer"),
    ("completion_tokens", "Completion tokens per answer"),
)


def summarise(setup: str, items: dict[str, Question], scores: list[AnswerScore], results: list[dict]) -> SetupSummary:
    """Aggregate one setup's scores (errored answers included) and raw results (for latency and tokens)."""
    answerable = [s for s in scores if not items[s.id].unanswerable]
    unanswerable = [s for s in scores if items[s.id].unanswerable]
    ok = [r for r in results if not r.get("error")]
    lat = [r["latency_s"] for r in ok if r.get("latency_s") is not None]
    return SetupSummary(
        setup=setup,
        n=len(scores),
        expected=len(items),
        correct=_rate([s.correct for s in scores]),
        usable=_rate([s.usable for s in scores]),
        fact_correct=_rate([s.correct for s in answerable]),
        exact=_rate([s.exact for s in answerable]),
        f1=_mean([s.f1 for s in answerable]),
        contains=_rate([s.contains for s in answerable]),
        format_ok=_rate([s.format_ok for s in scores]),
        source_retrieved=_rate([s.source_retrieved for s in answerable]),
        gold_retrieved=_rate([s.gold_retrieved for s in answerable]),
        abstention=_rate([s.abstained for s in unanswerable]),
        false_abstention=_rate([s.abstained for s in answerable]),
        latency_s=_mean(lat),
        latency_p50_s=statistics.median(lat) if lat else None,
        prompt_tokens=_mean([r.get("prompt_tokens") for r in ok]),
        completion_tokens=_mean([r.get("completion_tokens") for r in ok]),
        errors=sum(s.error is not None for s in scores),
    )
