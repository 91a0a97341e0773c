"""Revalidation: a saved run re-run with the same questions and settings on another base model or adapter
(say the base model was upgraded), and what regressed, per setup and per question.

The re-run is a new run whose spec is the parent's with `base_model` and/or `adapter` changed, `parent_run`
set to the parent and `revalidates` recording the change. An answer counts as right when it is correct and
well-formed ("usable", what an application can use as is); an errored answer is not right. Comparisons are
paired over the questions both runs answered, with the interval of workbench.evaluation.stats.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from workbench.answering import setups
from workbench.evaluation import stats
from workbench.evaluation.runs import RunError, RunRecord, RunSpec, load_run, submit_run
from workbench.evaluation.stats import PairedComparison
from workbench.settings import Settings


def revalidation_spec(parent: RunRecord, base_model: str | None = None, adapter: str | None = None,
                      label: str = "") -> RunSpec:
    """The parent's spec on another base model and/or adapter; RunError when nothing changes."""
    spec = parent.spec
    if spec.freshness:
        raise RunError("a freshness re-run covers only the changed fact: revalidate the full run it re-checks")
    base_model = (base_model or "").strip() or None
    adapter = adapter or None
    if base_model is None and adapter is None:
        raise RunError("pick another base model or another adapter to revalidate on")
    if adapter and not (spec.adapter or spec.adapter_path):
        raise RunError("this run has no adapter setup or probe: only its base model can change")
    new_base = base_model or spec.base_model
    new_adapter = adapter or spec.adapter
    if new_base == spec.base_model and (adapter is None or adapter == spec.adapter):
        raise RunError("that is the run's own base model and adapter: pick a different one")
    change = {"base_model": [spec.base_model, new_base], "adapter": [spec.adapter or spec.adapter_path, new_adapter]}
    return replace(spec, base_model=new_base, adapter=new_adapter,
                   adapter_path=None if adapter else spec.adapter_path,
                   parent_run=parent.run_id, revalidates=change,
                   label=label or f"revalidation of {parent.run_id} ({describe(change)})")


def describe(change: dict) -> str:
    """"base model A -> B, adapter X -> Y" for the parts that changed."""
    parts = [f"{name.replace('_', ' ')} {old or 'default'} -> {new or 'default'}"
             for name, (old, new) in change.items() if old != new]
    return ", ".join(parts) or "no change"


def revalidate(settings: Settings, parent_run: str, base_model: str | None = None, adapter: str | None = None,
               label: str = "") -> str:
    """Queue the re-run of `parent_run` on the new base model / adapter; returns the new run's id."""
    parent = load_run(settings, parent_run)
    return submit_run(settings, revalidation_spec(parent, base_model, adapter, label), list(parent.items))


def outcomes(rec: RunRecord) -> dict[tuple[str, str], bool]:
    """(question id, setup) -> right (correct and well-formed), for every stored answer; errors are wrong."""
    from workbench.evaluation.scoring import score_run

    scores = score_run(rec).scores
    return {(r["id"], r["setup"]): bool((sc := scores.get((r["id"], r["setup"])))
                                        and sc.correct and sc.format_ok is not False)
            for r in rec.results}


@dataclass(frozen=True)
class SetupShift:
    setup: str
    comparison: PairedComparison  # A = parent, B = re-run

    @property
    def verdict(self) -> str:
        return stats.verdict(self.comparison)

    def sentence(self) -> str:
        c, name = self.comparison, setups.short_label(self.setup)
        head = (f"{name}: {c.b.text} now vs {c.a.text} before, {c.diff:+.1f} points [{c.low:+.1f}, {c.high:+.1f}], "
                f"{c.b10} questions regressed, {c.b01} fixed")
        tail = {stats.WORSE: "a regression.", stats.BETTER: "an improvement."}.get(
            self.verdict, f"{stats.NO_EVIDENCE} of a change (the interval includes zero).")
        return f"{head}: {tail}"

    def to_json(self) -> dict:
        c = self.comparison
        return {"setup": self.setup, "n": c.n, "before": c.a.text, "after": c.b.text, "diff_points": round(c.diff, 2),
                "low": round(c.low, 2), "high": round(c.high, 2), "regressed": c.b10, "fixed": c.b01,
                "p_value": c.p_value, "verdict": self.verdict, "sentence": self.sentence()}


@dataclass(frozen=True)
class QuestionChange:
    """One question whose answer went from right to wrong ("regressed") or the reverse ("fixed")."""

    id: str
    setup: str
    change: str  # "regressed" or "fixed"
    question: str
    before: str
    after: str


@dataclass(frozen=True)
class Revalidation:
    parent_run: str
    run_id: str
    change: dict
    shifts: tuple[SetupShift, ...]
    changes: tuple[QuestionChange, ...]

    @property
    def regressions(self) -> tuple[QuestionChange, ...]:
        return tuple(c for c in self.changes if c.change == "regressed")

    @property
    def fixes(self) -> tuple[QuestionChange, ...]:
        return tuple(c for c in self.changes if c.change == "fixed")

    def sentences(self) -> list[str]:
        return [f"Re-run of {self.parent_run} with {describe(self.change)}."] + [s.sentence() for s in self.shifts]

    def to_json(self) -> dict:
        return {"parent_run": self.parent_run, "run_id": self.run_id, "change": self.change,
                "setups": [s.to_json() for s in self.shifts],
                "questions": [c.__dict__ for c in self.changes]}


def _text(rec: RunRecord, qid: str, setup: str) -> str:
    r = next((r for r in rec.results if r["id"] == qid and r["setup"] == setup), {})
    return f"[error] {r['error']}" if r.get("error") else r.get("text", "")


def compare(parent: RunRecord, child: RunRecord) -> Revalidation:
    """Per setup the paired difference (re-run - parent), and per question what went wrong or right."""
    before, after = outcomes(parent), outcomes(child)
    questions = {i.id: i.question for i in child.items}
    shifts, changes = [], []
    for s in [s for s in child.spec.setups if s in parent.spec.setups]:
        ids = [i.id for i in child.items if (i.id, s) in before and (i.id, s) in after]
        if not ids:
            continue
        a, b = [before[(q, s)] for q in ids], [after[(q, s)] for q in ids]
        shifts.append(SetupShift(s, stats.paired_difference(a, b, seed=int(child.spec.seed))))
        for q, x, y in zip(ids, a, b):
            if x != y:
                changes.append(QuestionChange(q, s, "regressed" if x else "fixed", questions[q],
                                              _text(parent, q, s), _text(child, q, s)))
    return Revalidation(parent.run_id, child.run_id, child.spec.revalidates or {}, tuple(shifts), tuple(changes))


def for_run(settings: Settings, rec: RunRecord) -> Revalidation | None:
    """The comparison of a revalidation run with its parent; None for other runs or when the parent is gone."""
    if not rec.spec.revalidates or not rec.spec.parent_run:
        return None
    try:
        parent = load_run(settings, rec.spec.parent_run)
    except RunError:
        return None
    return compare(parent, rec)
