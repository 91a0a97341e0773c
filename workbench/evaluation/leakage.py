"""The leakage check: evaluation questions the adapter already saw in its training data, and the verdict
with and without them.

Matching, on text normalised by `normalise` (lower case, punctuation folded to spaces, single spaces):
  exact  the question equals a training question;
  near   the token sets of the question and a training question overlap with Jaccard >= NEAR_JACCARD and
         every token with a digit is shared (templated questions that differ only in a number, "house 1" /
         "house 12", ask different things), or the question, when it has at least MIN_CONTAINED_WORDS words,
         appears word for word inside a training prompt (prompts wrap the question in instructions, context).
A training question is the text after the last "Question:" of a user turn, else the whole user turn.
Jaccard 0.8 lets through a changed article or a dropped "please"; two questions that ask different things
about the same subject ("How much notice..." / "How much does ... charge") stay below it.
The check runs when a run is created (stored as leakage.json: the training data can change later) and,
for runs made before it existed, when the report is built.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

NEAR_JACCARD = 0.8
MIN_CONTAINED_WORDS = 5
FILE = "leakage.json"
_PUNCT = re.compile(r"[^\w\s]+")
_QUESTION = re.compile(r"question\s*:", re.I)


def normalise(text: str) -> str:
    """Lower case, punctuation folded to spaces, whitespace folded to single spaces."""
    return " ".join(_PUNCT.sub(" ", str(text).lower().replace("\u2019", "'")).split())


def question_part(prompt: str) -> str:
    """The question a training prompt asks: the text after its last "Question:", else the whole prompt."""
    parts = _QUESTION.split(prompt)
    return parts[-1].strip() if len(parts) > 1 else prompt.strip()


@dataclass(frozen=True)
class Leak:
    """One evaluation question found in the training data."""

    id: str
    kind: str  # "exact" or "near"
    score: float  # Jaccard of the closest training question (1.0 for exact; containment is reported as 1.0)
    training_text: str  # the training question (or prompt) it matched, cut to 300 characters


def match(question: str, training: Sequence[tuple[str, frozenset, str]]) -> tuple[str, float, str] | None:
    """(kind, score, training question) of the closest match of `question` among normalised (question,
    its token set, prompt) triples, or None when it has none."""
    q = normalise(question)
    if not q:
        return None
    tokens, padded = frozenset(q.split()), f" {q} "
    contained_ok = len(q.split()) >= MIN_CONTAINED_WORDS
    best: tuple[str, float, str] | None = None
    for tq, t_tokens, tp in training:
        if q == tq:
            return "exact", 1.0, tq
        score = len(tokens & t_tokens) / len(tokens | t_tokens)
        if any(any(ch.isdigit() for ch in t) for t in tokens ^ t_tokens):
            score = 0.0
        if contained_ok and padded in f" {tp} ":
            score = 1.0
        if score >= NEAR_JACCARD and (best is None or score > best[1]):
            best = ("near", score, tq)
    return best


def find_leaks(items: Sequence, training_prompts: Sequence[str]) -> tuple[Leak, ...]:
    """The items (anything with .id and .question) whose question is in `training_prompts`."""
    training = []
    for p in training_prompts:
        tq = normalise(question_part(p))
        if tq:
            training.append((tq, frozenset(tq.split()), normalise(p)))
    out = []
    for item in items:
        m = match(item.question, training)
        if m:
            out.append(Leak(item.id, m[0], round(m[1], 3), m[2][:300]))
    return tuple(out)


@dataclass(frozen=True)
class LeakCheck:
    """What the check found for a run's adapter: its dataset, how many prompts it compared, the leaks."""

    adapter: str
    dataset: str
    n_training: int
    leaks: tuple[Leak, ...]
    note: str = ""  # why nothing could be compared (the adapter or its dataset is gone), else ""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(x.id for x in self.leaks)

    def to_json(self) -> dict:
        return {**asdict(self), "leaks": [asdict(x) for x in self.leaks]}

    @classmethod
    def from_json(cls, d: dict) -> "LeakCheck":
        return cls(d.get("adapter", ""), d.get("dataset", ""), int(d.get("n_training", 0)),
                   tuple(Leak(**x) for x in d.get("leaks", [])), d.get("note", ""))


def training_prompts(settings, spec) -> tuple[str, list[str]]:
    """(dataset name, user turns of its examples) of the run's adapter; ValueError with the reason if unknown."""
    from workbench.finetune.adapters import META, AdapterRegistry
    from workbench.finetune.datasets import load_examples

    if spec.adapter_path:
        meta_file = Path(spec.adapter_path) / META
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
        dataset = meta.get("dataset", "")
    else:
        dataset = AdapterRegistry(settings).get(spec.adapter).dataset
    if not dataset:
        raise ValueError("the adapter does not record its training dataset")
    prompts = [c for ex in load_examples(settings, dataset) for role, c in ex.messages if role == "user"]
    return dataset, prompts


def check(settings, spec, items: Sequence) -> LeakCheck | None:
    """The leakage check of a run (None when it has no adapter); a missing adapter or dataset is a note."""
    if not (spec.adapter or spec.adapter_path):
        return None
    adapter = spec.adapter or Path(spec.adapter_path).name
    try:
        dataset, prompts = training_prompts(settings, spec)
    except (OSError, ValueError, KeyError) as e:  # AdapterError and DatasetError are ValueErrors
        return LeakCheck(adapter, "", 0, (), f"training data not available: {e}")
    return LeakCheck(adapter, dataset, len(prompts), find_leaks(items, prompts))


def store(run_folder: Path, result: LeakCheck | None) -> None:
    if result is not None:
        from workbench.files import write_json_atomic

        write_json_atomic(run_folder / FILE, result.to_json())


def for_run(settings, rec) -> LeakCheck | None:
    """The stored check of a run, or (runs made before it existed) one computed now; None without an adapter."""
    path = settings.evals_dir / rec.run_id / FILE
    if path.is_file():
        return LeakCheck.from_json(json.loads(path.read_text()))
    return check(settings, rec.spec, rec.items)


# --- the verdict with and without the leaked questions -------------------------------------------

def without(rec, ids: Sequence[str]):
    """The run record without the questions `ids` (items, passages and answers)."""
    gone = set(ids)
    return replace(rec, items=tuple(i for i in rec.items if i.id not in gone),
                   retrieved={k: v for k, v in rec.retrieved.items() if k not in gone},
                   results=tuple(r for r in rec.results if r["id"] not in gone))


def usable_rates(rec) -> dict:
    """setup -> Rate of correct and well-formed answers over the run's questions (errors and gaps count as not)."""
    from workbench.evaluation.scoring import score_run
    from workbench.evaluation.stats import Rate

    scores = score_run(rec).scores
    return {s: Rate.of([bool((sc := scores.get((i.id, s))) and sc.correct and sc.format_ok is not False)
                        for i in rec.items]) for s in rec.spec.setups}


@dataclass(frozen=True)
class LeakVerdict:
    """The verdict and per-setup rates on all questions and on the questions the adapter never saw."""

    check: LeakCheck
    with_title: str
    with_evidence: tuple[str, ...]
    without_title: str
    without_evidence: tuple[str, ...]
    rates_with: dict  # setup -> Rate
    rates_without: dict

    @property
    def changes_verdict(self) -> bool:
        return self.with_title != self.without_title

    def sentence(self) -> str:
        c = self.check
        if c.note:
            return f"Leakage check not possible for adapter {c.adapter}: {c.note}."
        if not c.leaks:
            return (f"No evaluation question appears in adapter {c.adapter}'s training data "
                    f"({c.dataset}, {c.n_training} prompts).")
        n = len(c.leaks)
        head = (f"{n} evaluation question{'s' if n != 1 else ''} ({', '.join(c.ids)}) appear in adapter "
                f"{c.adapter}'s training data ({c.dataset}): the fine-tuned setups may have memorised them.")
        return head + (f" Without them the verdict changes: {self.without_title}." if self.changes_verdict
                       else " Without them the verdict is the same.")

    def table(self) -> list[dict]:
        return [{"setup": s, "all questions": self.rates_with[s].text,
                 "without leaked": self.rates_without[s].text} for s in self.rates_with]

    def to_json(self) -> dict:
        return {**self.check.to_json(), "sentence": self.sentence(),
                "verdict_with": {"title": self.with_title, "evidence": list(self.with_evidence)},
                "verdict_without": {"title": self.without_title, "evidence": list(self.without_evidence)},
                "usable": {s: {"with": [self.rates_with[s].k, self.rates_with[s].n],
                               "without": [self.rates_without[s].k, self.rates_without[s].n]}
                           for s in self.rates_with}}


def _verdict(rec) -> tuple[str, tuple[str, ...]]:
    from workbench.evaluation.report import build_report
    from workbench.evaluation.scoring import score_run

    r = build_report(score_run(rec)).recommendation
    return r.title, tuple(r.evidence)


def verdict(rec, result: LeakCheck) -> LeakVerdict:
    """The run's verdict and rates with all questions and without the leaked ones."""
    clean = without(rec, result.ids)
    with_ = _verdict(rec)
    without_ = _verdict(clean) if result.leaks else with_
    return LeakVerdict(result, *with_, *without_, usable_rates(rec), usable_rates(clean))
