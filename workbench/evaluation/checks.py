"""The report's check sections (forgetting, leakage, revalidation): sentences and tables for the exports.

Each section is present only when the run has what it needs (probe answers, an adapter, a parent run it
revalidates), so older runs export as before.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from workbench.answering import setups
from workbench.evaluation import forgetting, leakage, revalidation


@dataclass(frozen=True)
class CheckSection:
    """One check in the exports: a title, its sentences, its tables (caption, rows) and its JSON."""

    key: str  # the key of its JSON in the report's "checks"
    title: str
    sentences: tuple[str, ...]
    tables: tuple[tuple[str, tuple[dict, ...]], ...]
    data: dict

    def markdown(self) -> list[str]:
        out = [f"## {self.title}", ""] + [f"- {s}" for s in self.sentences]
        for caption, rows in self.tables:
            if not rows:
                continue
            cols = list(rows[0])
            out += ["", caption, "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            out += ["| " + " | ".join(_cell(r.get(c)) for c in cols) + " |" for r in rows]
        return out + [""]

    def html(self) -> str:
        e = html.escape
        parts = [f"<h2>{e(self.title)}</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in self.sentences) + "</ul>"]
        for caption, rows in self.tables:
            if rows:
                cols = list(rows[0])
                parts.append(f"<p>{e(caption)}</p><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr>"
                             + "".join("<tr>" + "".join(f"<td>{e(cell_text(r.get(c)))}</td>" for c in cols) + "</tr>"
                                       for r in rows) + "</table>")
        return "".join(parts)


def _cell(v) -> str:
    return cell_text(v).replace("|", "/").replace("\n", " ")[:120]


def cell_text(v) -> str:
    """A cell of a check's table as the exports show it (report.cell_text: no None, no Python reprs)."""
    from workbench.evaluation.report import cell_text as text  # report builds on checks, not the reverse

    return text(v)


def forgetting_section(f: forgetting.Forgetting) -> CheckSection:
    partial = [] if f.answered >= f.expected else [f"Only {f.answered} of {f.expected} probe answers so far."]
    return CheckSection("forgetting", "Forgetting check (probe outside the domain)",
                   tuple(partial + [s.sentence() for s in f.shifts]),
                   (("Probe items passed per condition (an errored answer does not pass):", tuple(f.table())),),
                   f.to_json())


def leakage_section(v: leakage.LeakVerdict) -> CheckSection:
    c = v.check
    sentences = [v.sentence()]
    if c.leaks and v.changes_verdict:
        sentences += [f"With them: {v.with_title}.", f"Without them: {v.without_title}."]
    tables = []
    if c.leaks:
        tables = [("Questions found in the training data:",
                   tuple({"id": x.id, "match": x.kind, "similarity": x.score, "training question": x.training_text}
                         for x in c.leaks)),
                  ("Correct and well-formed answers, with and without the leaked questions:",
                   tuple({**r, "setup": setups.short_label(r["setup"])} for r in v.table()))]
    return CheckSection("leakage", "Leakage check (evaluation questions in the training data)", tuple(sentences),
                   tuple(tables), v.to_json())


def revalidation_section(r: revalidation.Revalidation) -> CheckSection:
    rows = tuple({"id": c.id, "setup": setups.short_label(c.setup), "change": c.change, "question": c.question,
                  "before": c.before, "after": c.after} for c in r.changes)
    return CheckSection("revalidation", f"Revalidation against run {r.parent_run}", tuple(r.sentences()),
                   (("Questions whose answer changed (regressed: was right, now wrong; fixed: the reverse):", rows),),
                   r.to_json())


def sections(settings, rec) -> tuple[CheckSection, ...]:
    """The checks that apply to the stored run `rec`, in report order."""
    out = []
    if (f := forgetting.for_run(rec)) is not None:
        out.append(forgetting_section(f))
    if (lc := leakage.for_run(settings, rec)) is not None:
        out.append(leakage_section(leakage.verdict(rec, lc)))
    if (rv := revalidation.for_run(settings, rec)) is not None:
        out.append(revalidation_section(rv))
    return tuple(out)
