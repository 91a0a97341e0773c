"""The answer to "prompting, RAG, fine-tuning or both?": a verdict that climbs the ladder (cost: cost.py).

The ladder, each rung paired over the same questions against the one before:

    prompt    Prompted vs Base                   does prompting alone fix behaviour?     outcome: format
    rag       RAG vs Prompted                    does retrieval add facts?               outcome: facts
    finetune  Fine-tuned vs Prompted             does fine-tuning fix behaviour beyond
                                                 prompting?                              outcome: format
    hybrid    Hybrid vs the best single setup    is the combination better?              outcome: usable

Outcomes per question (an errored answer is wrong, never dropped): *usable* = correct and well-formed
(or no format expected), the headline every rung also reports; *facts* = correct, over answerable
questions; *format* = in the expected format, over questions that expect one. A rung whose outcome
applies to no question falls back to usable. A missing reference falls back down the ladder (RAG and
Fine-tuned vs Base when there is no Prompted setup, as in runs made before it existed), and says so.

Each rung: the difference in points (B - A) with a 95 % seeded paired-bootstrap interval and an exact
McNemar p-value (`workbench.evaluation.stats`). A rung is recommended only where its interval excludes
zero; otherwise "no evidence yet" and about how many questions would detect the observed difference.
The verdict: hybrid if it beats the best single setup; both RAG and fine-tuning if both rungs do (hybrid
not run); otherwise the rung that does; otherwise prompt engineering. A run with answers missing (in
progress, cancelled) gets a provisional verdict; a freshness re-run gets none.
"""
from __future__ import annotations

from dataclasses import dataclass

from workbench.answering import setups
from workbench.answering.setups import BASE, FINETUNED, HYBRID, PROMPTED, RAG
from workbench.evaluation import stats
from workbench.evaluation.stats import BETTER, RULE, PairedComparison

USABLE, FACTS, FORMAT = "usable", "facts", "format"
OUTCOMES = {
    USABLE: "correct and well-formed answers (all questions)",
    FACTS: "correct answers on answerable questions",
    FORMAT: "answers in the expected format (questions that expect one)",
}
SEED, N_BOOT = 0, 10_000  # the bootstrap is seeded: the same run always gives the same interval


@dataclass(frozen=True)
class Step:
    """One rung of the ladder: the setup climbed to, the references it may be measured against, its outcome."""

    key: str
    question: str
    setup: str
    references: tuple[str, ...]  # in order of preference; empty: the best single setup measured
    outcome: str


LADDER = (
    Step("prompt", "Does prompting alone fix behaviour?", PROMPTED, (BASE,), FORMAT),
    Step("rag", "Does retrieval add facts?", RAG, (PROMPTED, BASE), FACTS),
    Step("finetune", "Does fine-tuning fix behaviour beyond prompting?", FINETUNED, (PROMPTED, BASE), FORMAT),
    Step("hybrid", "Does hybrid beat the best single setup?", HYBRID, (), USABLE),
)
SINGLE = (BASE, PROMPTED, RAG, FINETUNED)  # the setups hybrid is measured against


def outcome(score, item, which: str) -> bool | None:
    """One answer's outcome (an AnswerScore of `item`); None where the outcome does not apply to the question."""
    if which == FACTS:
        return None if item.unanswerable else score.correct
    if which == FORMAT:
        return score.format_ok
    return score.usable


def paired(rs, a: str, b: str, which: str) -> tuple[list[bool], list[bool]]:
    """The outcomes of setups a and b on the questions both have answered and the outcome applies to."""
    xs, ys = [], []
    for item in rs.record.items:
        sa, sb = rs.scores.get((item.id, a)), rs.scores.get((item.id, b))
        if sa is None or sb is None:
            continue
        oa, ob = outcome(sa, item, which), outcome(sb, item, which)
        if oa is not None and ob is not None:
            xs.append(oa)
            ys.append(ob)
    return xs, ys


@dataclass(frozen=True)
class Rung:
    """One rung measured (or not): B against A on its outcome, with the usable headline beside it."""

    key: str
    question: str
    a: str | None  # the reference setup; None when the rung could not be measured
    b: str
    outcome: str
    comparison: PairedComparison | None
    usable: PairedComparison | None  # the headline outcome on the same run (None when it is the outcome)
    notes: tuple[str, ...] = ()  # fallbacks and why a rung is not measured

    @property
    def verdict(self) -> str | None:
        return None if self.comparison is None else stats.verdict(self.comparison)

    @property
    def name(self) -> str:
        return f"{setups.short_label(self.b)} vs {setups.short_label(self.a) if self.a else '-'}"

    def text(self) -> str:
        """One line: the question, the comparison with its interval and p-value, the verdict, the notes."""
        notes = "".join(f" ({n})" for n in self.notes)
        if self.comparison is None:
            return f"{self.question} Not measured{notes}."
        line = (f"{self.question} {OUTCOMES[self.outcome].capitalize()}: "
                f"{stats.summary(self.comparison, setups.short_label(self.a), setups.short_label(self.b))}")
        if self.usable is not None:
            u = self.usable
            line += f" Usable: {u.diff:+.1f} points [{u.low:+.1f}, {u.high:+.1f}], p = {u.p_value:.3g}."
        return line + notes

    def to_json(self) -> dict:
        return {"key": self.key, "question": self.question, "a": self.a, "b": self.b, "outcome": self.outcome,
                "outcome_means": OUTCOMES[self.outcome], "verdict": self.verdict, "notes": list(self.notes),
                "comparison": comparison_json(self.comparison), "usable": comparison_json(self.usable),
                "text": self.text()}


def comparison_json(c: PairedComparison | None) -> dict | None:
    """A paired comparison in the exports: rates as k/n, the difference with its interval, McNemar."""
    if c is None:
        return None
    return {"n": c.n, "a": {"k": c.a.k, "n": c.a.n}, "b": {"k": c.b.k, "n": c.b.n},
            "diff_points": c.diff, "interval_points": [c.low, c.high], "level": c.level,
            "bootstrap": {"seed": c.seed, "resamples": c.n_boot}, "gained": c.b01, "lost": c.b10,
            "mcnemar_p": c.p_value, "excludes_zero": c.excludes_zero, "verdict": stats.verdict(c),
            "questions_to_detect": c.questions_to_detect() if not c.excludes_zero else None}


def _best_single(rs) -> str | None:
    """The single setup with the most usable answers (ties: the one lower on the ladder, the cheaper)."""
    present = [s for s in SINGLE if s in rs.summaries and rs.summaries[s].usable is not None]
    return max(present, key=lambda s: (rs.summaries[s].usable.value, -SINGLE.index(s)), default=None)


def measure_rung(rs, step: Step) -> Rung:
    """Compare the step's setup with its first available reference, on its outcome and on usable."""
    label = setups.short_label
    if step.setup not in rs.summaries:
        return Rung(step.key, step.question, None, step.setup, step.outcome, None, None,
                    (f"no {label(step.setup)} answers in this run",))
    notes: list[str] = []
    if step.references:
        a = next((r for r in step.references if r in rs.summaries), None)
        if a is None:
            wanted = " or ".join(label(r) for r in step.references)
            return Rung(step.key, step.question, None, step.setup, step.outcome, None, None,
                        (f"no {wanted} answers to compare with",))
        if a != step.references[0]:
            notes.append(f"measured against {label(a)}: no {label(step.references[0])} setup in this run")
    else:
        a = _best_single(rs)
        if a is None:
            return Rung(step.key, step.question, None, step.setup, step.outcome, None, None,
                        ("no single setup to compare with",))
        notes.append(f"{label(a)} has the most usable answers of the single setups")
    if step.setup == FINETUNED:
        notes.append("fine-tuned answered with the recipe" if rs.record.spec.recipe_with_adapter
                     else "fine-tuned answered without the recipe")
    which = step.outcome
    xs, ys = paired(rs, a, step.setup, which)
    if not xs and which != USABLE:
        notes.append(f"no question has a {which} outcome: measured on usable answers instead")
        which = USABLE
        xs, ys = paired(rs, a, step.setup, which)
    if not xs:
        return Rung(step.key, step.question, a, step.setup, which, None, None,
                    notes + ["no question answered by both yet"])
    main = stats.paired_difference(xs, ys, seed=SEED, n_boot=N_BOOT)
    usable = None
    if which != USABLE:
        usable = stats.paired_difference(*paired(rs, a, step.setup, USABLE), seed=SEED, n_boot=N_BOOT)
    return Rung(step.key, step.question, a, step.setup, which, main, usable, tuple(notes))


@dataclass(frozen=True)
class Recommendation:
    """The verdict, the rungs it was climbed from, whether it is provisional, and the sentences explaining it."""

    verdict: str  # "prompt", "rag", "finetune", "both", "hybrid", or "none" (nothing to compare)
    title: str
    rungs: tuple[Rung, ...]
    provisional: bool  # answers are missing: the n behind each rung is partial
    answers: int
    expected: int
    evidence: tuple[str, ...]
    rule: str = RULE

    def rung(self, key: str) -> Rung | None:
        return next((r for r in self.rungs if r.key == key), None)

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "title": self.title, "provisional": self.provisional,
                "answers": self.answers, "expected": self.expected, "rule": self.rule,
                "outcomes": dict(OUTCOMES), "rungs": [r.to_json() for r in self.rungs],
                "evidence": list(self.evidence)}


TITLES = {
    "prompt": "Start with prompt engineering: no further rung shows evidence yet",
    "rag": "Use RAG: retrieval adds facts",
    "finetune": "Fine-tune: the adapter fixes behaviour beyond prompting",
    "both": "Use both: retrieval adds facts and fine-tuning fixes behaviour (run hybrid to measure them together)",
    "hybrid": "Use both (hybrid): it beats the best single setup",
    "none": "No verdict: this run has no two setups to compare",
    "freshness": "No recommendation from a freshness re-run: it covers only the changed fact",
}


def _climb(rungs: dict[str, Rung], rs) -> str:
    """The verdict from the rungs that are better (interval above zero)."""
    better = {k for k, r in rungs.items() if r.verdict == BETTER}
    if "hybrid" in better:
        return "hybrid"
    if {"rag", "finetune"} <= better:
        if rungs["hybrid"].comparison is None:
            return "both"
        # Hybrid was run and is not better than the best single setup: keep the better single rung.
        return max(("rag", "finetune"), key=lambda k: rs.summaries[rungs[k].b].usable.value)
    if "rag" in better:
        return "rag"
    if "finetune" in better:
        return "finetune"
    return "prompt"


def recommend(rs) -> Recommendation:
    """Climb the ladder on a scored run (RunScores): every rung measured with its interval, then the verdict."""
    answers, expected = rs.answers, rs.expected
    provisional = not rs.complete
    if rs.record.spec.freshness:
        return Recommendation("none", TITLES["freshness"], (), provisional, answers, expected,
                              (f"See run {rs.record.spec.parent_run} for the recommendation.",))
    rungs = {step.key: measure_rung(rs, step) for step in LADDER}
    measured = [r for r in rungs.values() if r.comparison is not None]
    verdict = _climb(rungs, rs) if measured else "none"
    title = TITLES[verdict]
    if verdict == "prompt" and rungs["prompt"].verdict == BETTER:
        title = "Prompt engineering is enough: the recipe fixes behaviour, and no further rung shows evidence yet"
    if provisional:
        title = f"Provisional ({answers} of {expected} answers in): {title}"
    ev = [r.text() for r in rungs.values()]
    errs = {s: v.errors for s, v in rs.summaries.items() if v.errors}
    if errs:
        ev.append("Errored answers count as wrong: " + ", ".join(
            f"{setups.short_label(s)} {rs.summaries[s].error_rate.text}" for s in errs) + ".")
    usable = {s: v.usable for s, v in rs.summaries.items() if v.usable is not None}
    if usable:
        ev.append("Usable (correct and well-formed): " + ", ".join(
            f"{setups.short_label(s)} {r.text}" for s, r in usable.items()) + ".")
    if provisional:
        ev.append(f"Provisional: {answers} of {expected} answers are in; every n above is partial.")
    if verdict == "none":
        ev.append("Run Base and Prompted, and the setups you consider (RAG, Fine-tuned, Hybrid), on the same "
                  "questions to climb the ladder.")
    ev.append("Rule: " + RULE + " Outcomes: " + "; ".join(f"{k} = {v}" for k, v in OUTCOMES.items())
              + f"; errored answers count as wrong. Intervals: paired bootstrap, {N_BOOT:,} resamples, seed {SEED}; "
              "p-values: exact McNemar.")
    return Recommendation(verdict, title, tuple(rungs.values()), provisional, answers, expected, tuple(ev))
