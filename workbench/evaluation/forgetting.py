"""The forgetting check: the probe (workbench.evaluation.probe) answered by the base model and by the adapter,
each with and without the run's recipe, and what the adapter lost or gained outside its domain.

A run with `spec.probe` answers it after its main questions, in the same job, into probe_results.jsonl:
one record per (probe item, condition) with the item's question, check and kind, so the analysis never
depends on a later edit of the probe file. Comparisons are paired over the items both conditions answered;
an errored answer counts as not passing its check.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from workbench.answering.setups import BASE, FINETUNED, PROMPTED
from workbench.evaluation import stats
from workbench.evaluation.probe import KINDS, ProbeItem, check, load_probe
from workbench.evaluation.stats import PairedComparison, Rate

PROBE = "probe"  # how the job's progress message starts while it answers the probe


@dataclass(frozen=True)
class Condition:
    """One way the probe is answered: which setup answers it and whether the recipe shapes the prompt."""

    key: str  # stored in probe_results.jsonl: never rename
    label: str
    setup: str
    recipe: bool


CONDITIONS = (
    Condition("base", "Base", BASE, False),
    Condition("base_recipe", "Base + recipe", PROMPTED, True),
    Condition("adapter", "Adapter", FINETUNED, False),
    Condition("adapter_recipe", "Adapter + recipe", FINETUNED, True),
)
_BY_KEY = {c.key: c for c in CONDITIONS}
# (adapter condition, the base condition it is compared with): the same prompt, with and without the adapter.
PAIRS = (("base", "adapter"), ("base_recipe", "adapter_recipe"))


def label(key: str) -> str:
    return _BY_KEY[key].label if key in _BY_KEY else key


def conditions(spec) -> tuple[Condition, ...]:
    """The conditions a run answers the probe under: none without `spec.probe`; recipe ones only with a recipe."""
    if not spec.probe or spec.freshness or not (spec.adapter or spec.adapter_path):
        return ()
    return tuple(c for c in CONDITIONS if spec.recipe or not c.recipe)


# --- answering (inside the run's job) -----------------------------------------------------------

def pending(spec, done: Sequence[dict], items: Sequence[ProbeItem] | None = None) -> list[tuple[ProbeItem, Condition]]:
    """(item, condition) pairs not yet answered, grouped by condition (an adapter is switched once per group)."""
    conds = conditions(spec)
    if not conds:
        return []
    answered = {(r["id"], r["condition"]) for r in done}
    items = load_probe() if items is None else items
    return [(i, c) for c in conds for i in items if (i.id, c.key) not in answered]


def answer_probe(generator, spec, todo: list[tuple[ProbeItem, Condition]], ctx, keep: Callable[[dict], None],
                 start: int = 0) -> int:
    """Answer `todo` with the run's generation settings, handing each record to `keep`; returns how many.

    A cancel stops within one token, as for the main answers; the cut answer is not kept.
    """
    from workbench.evaluation.runs import answer_all

    total, n = start + len(todo), 0
    for cond in dict.fromkeys(c for _, c in todo):
        items = {i.id: i for i, c in todo if c == cond}

        def keep_one(rec: dict, cond=cond, items=items) -> None:
            item = items[rec["id"]]
            keep({**rec, "condition": cond.key, "question": item.question, "check": item.check, "kind": item.kind})

        group = [(i, cond.setup) for i in items.values()]
        cond_spec = replace(spec, recipe_with_adapter=cond.recipe)
        done = answer_all(generator, cond_spec, group, {}, ctx, keep_one, start=start + n, total=total, label=PROBE)
        n += done
        if done < len(group):
            break
    return n


# --- analysis (for the report) ------------------------------------------------------------------

@dataclass(frozen=True)
class Shift:
    """The adapter condition against its base condition, over the probe or one kind of item."""

    base: str  # condition keys
    adapter: str
    kind: str  # "all", "knowledge" or "instruction"
    comparison: PairedComparison

    @property
    def verdict(self) -> str:
        return stats.verdict(self.comparison)

    def sentence(self) -> str:
        c = self.comparison
        what = "the probe" if self.kind == "all" else f"{self.kind} items"
        head = (f"{label(self.adapter)} vs {label(self.base)} on {what}: {c.b.text} vs {c.a.text}, "
                f"{c.diff:+.1f} points [{c.low:+.1f}, {c.high:+.1f}], {c.b10} items lost, {c.b01} gained, "
                f"McNemar p = {c.p_value:.3g}")
        if self.verdict == stats.WORSE:
            return head + ": the adapter lost ground outside its domain."
        if self.verdict == stats.BETTER:
            return head + ": the adapter gained ground outside its domain."
        return head + f": {stats.NO_EVIDENCE} of a loss or a gain (the interval includes zero)."

    def to_json(self) -> dict:
        c = self.comparison
        return {"base": self.base, "adapter": self.adapter, "kind": self.kind, "n": c.n, "base_rate": c.a.text,
                "adapter_rate": c.b.text, "diff_points": round(c.diff, 2), "low": round(c.low, 2),
                "high": round(c.high, 2), "lost": c.b10, "gained": c.b01, "p_value": c.p_value,
                "verdict": self.verdict, "seed": c.seed, "sentence": self.sentence()}


@dataclass(frozen=True)
class Forgetting:
    """Probe rates per condition (overall and per kind) and the adapter's paired shifts."""

    rates: dict  # condition -> Rate over the items it answered
    by_kind: dict  # condition -> kind -> Rate
    shifts: tuple[Shift, ...]
    expected: int  # probe answers the run should hold

    @property
    def answered(self) -> int:
        return sum(r.n for r in self.rates.values())

    @property
    def headline(self) -> tuple[Shift, ...]:
        """The shifts over the whole probe (one per pair of conditions)."""
        return tuple(s for s in self.shifts if s.kind == "all")

    def sentences(self) -> list[str]:
        return [s.sentence() for s in self.headline]

    def table(self) -> list[dict]:
        """One row per condition: k/n overall and per kind, with the Wilson interval overall."""
        rows = []
        for cond, rate in self.rates.items():
            lo, hi = rate.interval
            rows.append({"condition": label(cond), "passed": rate.text,
                         "95% interval": f"{100 * lo:.0f}-{100 * hi:.0f}%",
                         **{k: self.by_kind[cond][k].text for k in KINDS}})
        return rows

    def to_json(self) -> dict:
        return {"expected": self.expected, "answered": self.answered,
                "rates": {c: {"k": r.k, "n": r.n, "interval": list(r.interval),
                              "by_kind": {k: {"k": v.k, "n": v.n} for k, v in self.by_kind[c].items()}}
                          for c, r in self.rates.items()},
                "shifts": [s.to_json() for s in self.shifts], "sentences": self.sentences()}


def outcomes(probe_results: Sequence[dict]) -> dict[str, dict[str, tuple[str, bool]]]:
    """condition -> item id -> (kind, passed), from stored records (the last record of a pair wins)."""
    out: dict[str, dict[str, tuple[str, bool]]] = {}
    for r in probe_results:
        item = ProbeItem(r["id"], r.get("question", ""), r["check"], r.get("kind", ""))
        passed = check(item, None if r.get("error") else r.get("text"))
        out.setdefault(r["condition"], {})[r["id"]] = (item.kind, passed)
    return out


def analyse(probe_results: Sequence[dict], seed: int = 0, expected: int = 0) -> Forgetting | None:
    """The forgetting check of a run's probe records; None when the run has none."""
    if not probe_results:
        return None
    per = outcomes(probe_results)
    order = [c.key for c in CONDITIONS if c.key in per] + [c for c in per if c not in _BY_KEY]
    rates = {c: Rate.of([ok for _, ok in per[c].values()]) for c in order}
    by_kind = {c: {k: Rate.of([ok for kind, ok in per[c].values() if kind == k]) for k in KINDS} for c in order}
    shifts = []
    for base, adapter in PAIRS:
        if base not in per or adapter not in per:
            continue
        common = [i for i in per[base] if i in per[adapter]]
        for kind in ("all", *KINDS):
            ids = [i for i in common if kind == "all" or per[base][i][0] == kind]
            if ids:
                comp = stats.paired_difference([per[base][i][1] for i in ids], [per[adapter][i][1] for i in ids],
                                               seed=seed)
                shifts.append(Shift(base, adapter, kind, comp))
    return Forgetting(rates, by_kind, tuple(shifts), expected or len(probe_results))


def for_run(rec) -> Forgetting | None:
    """The forgetting check of a stored run (workbench.evaluation.runs.RunRecord); None without probe answers."""
    expected = (rec.summary or {}).get("expected_probe_answers", 0)
    return analyse(rec.probe_results, seed=int(rec.spec.seed), expected=expected)

