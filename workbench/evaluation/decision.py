"""The answer to "RAG, fine-tuning or both?": a recommendation from measured gaps, and a cost panel."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from workbench.answering import setups
from workbench.answering.setups import BASE, FINETUNED, HYBRID, RAG
from workbench.evaluation.metrics import SetupSummary

# A gap is "real" when the base model misses at least this share of what it should get right, and the
# setup that targets it closes at least MIN_GAIN of it; smaller differences are within the noise of a
# 50-question set (one question is 2 points).
GAP = 0.2
MIN_GAIN = 0.1


@dataclass(frozen=True)
class Recommendation:
    """The verdict, the gaps it was computed from, and the sentences explaining it."""

    verdict: str  # "rag", "finetune", "hybrid", "prompt"
    title: str
    knowledge_gap: float | None  # 1 - base correctness on answerable questions
    behaviour_gap: float | None  # 1 - base format adherence
    rag_gain: float | None  # RAG correctness - base correctness
    finetune_gain: float | None  # fine-tuned format adherence - base format adherence
    hybrid_correct: float | None
    evidence: tuple[str, ...]

    def to_json(self) -> dict:
        return {**asdict(self), "evidence": list(self.evidence)}


TITLES = {
    "rag": "Use RAG: the gap is knowledge",
    "finetune": "Fine-tune: the gap is behaviour (format, style)",
    "hybrid": "Use both (hybrid): there are knowledge and behaviour gaps",
    "prompt": "Start with prompt engineering: no large gap measured",
}


def _get(summaries: dict, setup: str, key: str) -> float | None:
    s: SetupSummary | None = summaries.get(setup)
    return None if s is None else getattr(s, key)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def recommend(summaries: dict) -> Recommendation:
    """Knowledge gap -> RAG, behaviour gap -> fine-tuning, both -> hybrid, neither -> prompts first."""
    base_fact = _get(summaries, BASE, "fact_correct")
    base_fmt = _get(summaries, BASE, "format_ok")
    k_gap = None if base_fact is None else 1 - base_fact
    b_gap = None if base_fmt is None else 1 - base_fmt
    rag_gain = _diff(_get(summaries, RAG, "fact_correct"), base_fact)
    ft_gain = _diff(_get(summaries, FINETUNED, "format_ok"), base_fmt)
    hyb = _get(summaries, HYBRID, "correct")
    knowledge = k_gap is not None and k_gap >= GAP and (rag_gain is None or rag_gain >= MIN_GAIN)
    behaviour = b_gap is not None and b_gap >= GAP and (ft_gain is None or ft_gain >= MIN_GAIN)
    verdict = "hybrid" if knowledge and behaviour else "rag" if knowledge else "finetune" if behaviour else "prompt"
    ev = [
        f"Knowledge gap: the base model answers {_pct(base_fact)} of the answerable questions correctly "
        f"(gap {_pct(k_gap)}); RAG changes that by {_pct(rag_gain)} "
        f"(to {_pct(_get(summaries, RAG, 'fact_correct'))}).",
        f"Behaviour gap: the base model follows the expected format in {_pct(base_fmt)} of answers "
        f"(gap {_pct(b_gap)}); the fine-tuned model changes that by {_pct(ft_gain)} "
        f"(to {_pct(_get(summaries, FINETUNED, 'format_ok'))}).",
    ]
    usable = {s: v.usable for s, v in summaries.items() if v.usable is not None}
    if usable:
        best = max(usable, key=usable.get)
        ev.append("Correct and well-formed answers: " + ", ".join(f"{s} {_pct(v)}" for s, v in usable.items())
                  + (f" (best: {best})." if usable[best] > 0 else " (none yet)."))
    not_run = [name for name, g in (("RAG", rag_gain), ("fine-tuned", ft_gain)) if g is None]
    if not_run and base_fact is not None:
        ev.append(f"Not measured: {' and '.join(not_run)} (not in this run); the verdict rests on the gaps alone.")
    if base_fact is None:
        ev.append("No base-model answers: gaps cannot be measured; include the base setup.")
    ev.append(f"Rule: a gap counts at {_pct(GAP)} or more when the targeted setup closes at least {_pct(MIN_GAIN)}.")
    title = TITLES[verdict]
    big_gap = (k_gap or 0) >= GAP or (b_gap or 0) >= GAP
    if verdict == "prompt" and big_gap:
        title = "Start with prompt engineering: neither RAG nor fine-tuning closed the measured gaps"
    unmeasured = {"rag": rag_gain is None, "finetune": ft_gain is None,
                  "hybrid": rag_gain is None or ft_gain is None}.get(verdict, False)
    if unmeasured:
        title += " (the setup that would close it was not in this run)"
    return Recommendation(verdict, title, k_gap, b_gap, rag_gain, ft_gain, hyb, tuple(ev))


@dataclass(frozen=True)
class Prices:
    """Prices the user can edit; defaults are rough public list prices (late 2025), stated as such."""

    gpu_per_hour: float = 1.20  # one mid-range cloud GPU (training and self-hosted serving)
    per_million_input_tokens: float = 0.15  # hosted small-model API, prompt side
    per_million_output_tokens: float = 0.60
    vector_db_per_month: float = 25.0  # a small managed vector database
    queries_per_day: int = 1000


@dataclass(frozen=True)
class Measured:
    """What the run measured plus artefact sizes; None when not measurable here."""

    training_s: float | None = None
    adapter_bytes: int | None = None
    index_bytes: int | None = None
    index_chunks: int | None = None


def measure(settings, spec) -> Measured:
    """Training time and adapter size from the adapter registry, index size from the collection."""
    training_s = adapter_bytes = index_bytes = index_chunks = None
    if spec.adapter:
        try:
            from workbench.finetune.adapters import AdapterRegistry

            info = AdapterRegistry(settings).get(spec.adapter)
            training_s, adapter_bytes = info.train_seconds, int(info.size_mb * 1024 * 1024)
        except Exception:  # a deleted adapter leaves those figures unknown, not the report broken
            pass
    if spec.adapter_path and adapter_bytes is None:
        from pathlib import Path

        p = Path(spec.adapter_path)
        adapter_bytes = sum(f.stat().st_size for f in p.rglob("*") if f.is_file()) if p.is_dir() else None
    if spec.collection:
        try:
            from workbench.knowledge import KnowledgeBase

            # What the index holds: the vectors plus the documents' text (Chroma's own overhead excluded).
            index_chunks, index_bytes = KnowledgeBase(settings).get(spec.collection).index_size()
        except Exception:
            pass
    return Measured(training_s, adapter_bytes, index_bytes, index_chunks)


@dataclass(frozen=True)
class SetupCost:
    setup: str
    latency_s: float | None
    prompt_tokens: float | None
    completion_tokens: float | None
    context_tokens_added: float | None  # prompt tokens beyond the same model's no-retrieval prompt
    per_1k_tokens_usd: float  # priced per token (hosted API)
    per_1k_compute_usd: float  # priced per GPU-second of measured latency (self-hosted)
    fixed_year_usd: float  # vector database and one training run
    year_usd: float  # queries_per_day * 365 * per-query (token pricing) + fixed

    def to_json(self) -> dict:
        return asdict(self)


def costs(summaries: dict, prices: Prices, measured: Measured) -> list[SetupCost]:
    """Projected cost per 1,000 queries and per year, per setup, from measured tokens and latency."""
    out = []
    for setup, s in summaries.items():
        pt, ct, lat = s.prompt_tokens or 0.0, s.completion_tokens or 0.0, s.latency_s or 0.0
        added = None
        uses = setups.setup(setup)
        if uses.retrieves:
            # The same model without retrieval: base for RAG, the fine-tuned model (or base) for hybrid.
            plain = summaries.get(setups.without_retrieval(setup), summaries.get(BASE))
            if plain and s.prompt_tokens is not None and plain.prompt_tokens is not None:
                added = s.prompt_tokens - plain.prompt_tokens
        per_1k_tokens = 1000 * (pt * prices.per_million_input_tokens + ct * prices.per_million_output_tokens) / 1e6
        per_1k_compute = 1000 * lat / 3600 * prices.gpu_per_hour
        fixed = 0.0
        if uses.retrieves:
            fixed += 12 * prices.vector_db_per_month
        if uses.adapter and measured.training_s:
            fixed += measured.training_s / 3600 * prices.gpu_per_hour
        year = prices.queries_per_day * 365 / 1000 * per_1k_tokens + fixed
        out.append(SetupCost(setup, s.latency_s, s.prompt_tokens, s.completion_tokens,
                             added,
                             per_1k_tokens, per_1k_compute, fixed, year))
    return out


def assumptions(prices: Prices, measured: Measured) -> list[str]:
    """The assumptions behind `costs`, written out for the panel and the exports."""
    train = "not measured (no adapter in this run)" if not measured.training_s else f"{measured.training_s:.0f} s"
    return [
        f"Token pricing: ${prices.per_million_input_tokens:g} per million prompt tokens and "
        f"${prices.per_million_output_tokens:g} per million completion tokens, token counts measured "
        "with the local model's tokenizer in this run.",
        f"Compute pricing: measured latency on this machine x ${prices.gpu_per_hour:g} per GPU-hour, one "
        "query at a time (an upper bound: batching serves several queries per GPU-second).",
        f"RAG and hybrid pay a vector database at ${prices.vector_db_per_month:g} per month.",
        f"Fine-tuned and hybrid pay one training run: {train} at the GPU price (retraining not included).",
        f"Yearly figures assume {prices.queries_per_day:,} queries per day, token pricing, plus fixed costs.",
    ]
