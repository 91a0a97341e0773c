"""The cost panel: editable prices, measured artefacts, cost per setup, and the recipe-vs-training trade."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from workbench.answering import setups
from workbench.answering.setups import BASE, PROMPTED


@dataclass(frozen=True)
class Prices:
    """Prices the user can edit; defaults are rough public list prices (late 2025), stated as such."""

    gpu_per_hour: float = 1.20  # one mid-range cloud GPU (training and self-hosted serving)
    per_million_input_tokens: float = 0.15  # hosted small-model API, prompt side
    per_million_output_tokens: float = 0.60
    # The default index is embedded (Chroma on local disk): no fee. Users of a managed database enter its price.
    vector_db_per_month: float = 0.0
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
            training_s, adapter_bytes = info.train_seconds, int(info.size_mb * 1e6)  # size_mb is decimal (1e6 bytes), as shown everywhere
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
    recipe_tokens_added: float | None = None  # prompt tokens the recipe adds to the base model's bare prompt

    def to_json(self) -> dict:
        return asdict(self)


def costs(summaries: dict, prices: Prices, measured: Measured, recipe_with_adapter: bool = False) -> list[SetupCost]:
    """Projected cost per 1,000 queries and per year, per setup, from measured tokens and latency."""
    out = []
    base = summaries.get(BASE)
    for setup, s in summaries.items():
        pt, ct, lat = s.prompt_tokens or 0.0, s.completion_tokens or 0.0, s.latency_s or 0.0
        added = recipe_added = None
        uses = setups.setup(setup)
        if uses.retrieves:
            # The same model without retrieval: prompted for RAG, the fine-tuned model (or base) for hybrid.
            plain = summaries.get(setups.without_retrieval(setup), summaries.get(BASE))
            if plain and s.prompt_tokens is not None and plain.prompt_tokens is not None:
                added = s.prompt_tokens - plain.prompt_tokens
        elif setups.uses_recipe(setup, recipe_with_adapter) and base and base.prompt_tokens is not None \
                and s.prompt_tokens is not None:
            recipe_added = s.prompt_tokens - base.prompt_tokens
        per_1k_tokens = 1000 * (pt * prices.per_million_input_tokens + ct * prices.per_million_output_tokens) / 1e6
        per_1k_compute = 1000 * lat / 3600 * prices.gpu_per_hour
        fixed = 0.0
        if uses.retrieves:
            fixed += 12 * prices.vector_db_per_month
        if uses.adapter and measured.training_s:
            fixed += measured.training_s / 3600 * prices.gpu_per_hour
        year = prices.queries_per_day * 365 / 1000 * per_1k_tokens + fixed
        out.append(SetupCost(setup, s.latency_s, s.prompt_tokens, s.completion_tokens, added,
                             per_1k_tokens, per_1k_compute, fixed, year, recipe_added))
    return out


def trade(summaries: dict, prices: Prices, measured: Measured, recipe_with_adapter: bool = False) -> list[str]:
    """The trade the product measures: a recipe pays prompt tokens on every query, fine-tuning pays once."""
    out = []
    base, prompted = summaries.get(BASE), summaries.get(PROMPTED)
    per_query = None
    if base and prompted and base.prompt_tokens is not None and prompted.prompt_tokens is not None:
        extra = prompted.prompt_tokens - base.prompt_tokens
        per_query = extra * prices.per_million_input_tokens / 1e6
        out.append(f"The recipe costs prompt tokens on every query: {prompted.prompt_tokens:.0f} per answer prompted "
                   f"vs {base.prompt_tokens:.0f} for the base model's bare question (+{extra:.0f}, measured), "
                   f"${1000 * per_query:.4f} per 1,000 queries, ${per_query * prices.queries_per_day * 365:,.2f} "
                   f"per year at {prices.queries_per_day:,} queries a day.")
    else:
        out.append("The recipe's per-query cost is not measured: it needs the Base and Prompted setups in one run.")
    if measured.training_s:
        once = measured.training_s / 3600 * prices.gpu_per_hour
        line = (f"Fine-tuning is a one-off cost: one training run of {measured.training_s:.0f} s, "
                f"${once:,.2f} at ${prices.gpu_per_hour:g} per GPU-hour (retraining when the data or the base "
                "model changes is extra)")
        if recipe_with_adapter:
            line += "; this run's fine-tuned setups also carry the recipe, so they pay its tokens too."
        elif per_query and per_query > 0:
            line += (f"; after that it adds no prompt tokens, so it pays for itself against the recipe after "
                     f"about {once / per_query:,.0f} queries ({once / per_query / prices.queries_per_day:,.0f} days).")
        else:
            line += "."
        out.append(line)
    else:
        out.append("Fine-tuning's one-off training cost is not measured here (no registered adapter in this run).")
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
        (f"RAG and hybrid pay a vector database at ${prices.vector_db_per_month:g} per month."
         if prices.vector_db_per_month else
         "RAG and hybrid pay no vector-database fee: the index is embedded on local disk"
         + (f" ({measured.index_bytes / 1e6:.2f} MB)" if measured.index_bytes else "")
         + "; enter a managed database's monthly price if you use one."),
        f"Fine-tuned and hybrid pay one training run: {train} at the GPU price (retraining not included).",
        f"Yearly figures assume {prices.queries_per_day:,} queries per day, token pricing, plus fixed costs.",
    ]
