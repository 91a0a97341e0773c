"""The report of a run and its exports (HTML, Markdown, JSON), built from a list of sections; figures in figures.py.

A part of the report is a function `Report -> Section | None` in SECTIONS (in display order): its JSON key
and value, its Markdown and its HTML. A new part is one such function and one entry in SECTIONS.
"""
from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import plotly.graph_objects as go

from workbench.answering import setups
from workbench.evaluation.cost import Measured, Prices, assumptions, costs, trade
from workbench.evaluation.decision import Recommendation, recommend
from workbench.evaluation.figures import cost_figures, ladder_figure, rates_figure, tags_figure
from workbench.evaluation.metrics import MEAN_METRICS, RATE_METRICS
from workbench.evaluation.scoring import RunScores
from workbench.evaluation.stats import Rate
from workbench.types import source_label

e = html.escape


def comparability(a: RunScores, b: RunScores) -> tuple[str | None, str | None]:
    """(refusal, caution) for comparing run B with run A: runs must share their questions to be compared."""
    qa = {q.question.strip().lower() for q in a.record.items}
    qb = {q.question.strip().lower() for q in b.record.items}
    shared = len(qa & qb)
    na, nb = len(qa), len(qb)
    if not shared:
        return (f"Run A and run B share no question ({na} and {nb} questions): their scores measure different "
                "things and are not compared. Compare runs of the same question set."), None
    if qa != qb:
        return None, (f"These runs asked different questions: A {na}, B {nb}, {shared} in common. Differences "
                      "below mix a change of setup with a change of questions; compare runs of one question set.")
    if not (a.complete and b.complete):
        return None, "One of these runs is not complete: its rates count only the answers that are in."
    return None, None


def compare_rows(a: RunScores, b: RunScores) -> list[dict]:
    """Per setup and metric: k/n in A, in B, and the change (B - A) in percentage points."""
    rows = []
    for setup in [s for s in a.summaries if s in b.summaries]:
        for key, label in (*RATE_METRICS, *MEAN_METRICS):
            va, vb = getattr(a.summaries[setup], key), getattr(b.summaries[setup], key)
            if va is None and vb is None:
                continue
            fa, fb = a.summaries[setup].value(key), b.summaries[setup].value(key)
            rows.append({"setup": setups.short_label(setup), "metric": label, "A": _cell(va), "B": _cell(vb),
                         "change (points)": None if fa is None or fb is None else round(100 * (fb - fa), 1)})
    return rows


@dataclass(frozen=True)
class Report:
    """Everything exported about one run."""

    scores: RunScores
    recommendation: Recommendation
    prices: Prices
    measured: Measured
    freshness: tuple = ()  # before/after rows (freshness.before_after) when this is a freshness run
    checks: tuple = ()  # evaluation.checks sections (forgetting, leakage, revalidation) that apply to the run

    def sections(self) -> list[Section]:
        return [s for build in SECTIONS if (s := build(self)) is not None]

    def to_json(self) -> dict:
        rec = self.scores.record
        return {"run_id": rec.run_id, "spec": rec.spec.to_json(), "summary": rec.summary,
                "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
                **{s.key: s.data for s in self.sections()}}


@dataclass(frozen=True)
class Section:
    """One part of the exports: its JSON key and value, its Markdown and its HTML ("" leaves a format out)."""

    key: str
    data: object
    markdown: str
    html: str


def build_report(rs: RunScores, prices: Prices | None = None, measured: Measured | None = None,
                 freshness_rows: list[dict] | None = None, checks=()) -> Report:
    return Report(rs, recommend(rs), prices or Prices(), measured or Measured(), tuple(freshness_rows or ()),
                  tuple(checks or ()))


def _cell(v) -> str:
    """A table cell: a rate as k/n (p%), a mean as a number, n/a when not measured."""
    if v is None:
        return "n/a"
    return v.text if isinstance(v, Rate) else f"{v:.2f}"


def summary_table(rs: RunScores) -> tuple[list[str], list[list[str]]]:
    """The headline table: one row per setup (header, rows) as display strings; every rate as k/n."""
    head = ["Setup", "Answers", "Errors", "Usable", "Correct", "Facts", "Token F1", "Format",
            "Source doc retrieved", "Gold passage retrieved", "Abstains", "Latency s", "Prompt tok", "Compl tok"]
    rows = []
    for s, v in rs.summaries.items():
        rows.append([setups.short_label(s), f"{v.n}/{v.expected}", v.error_rate.text, _cell(v.usable),
                     _cell(v.correct), _cell(v.fact_correct), _cell(v.f1), _cell(v.format_ok),
                     _cell(v.source_retrieved), _cell(v.gold_retrieved), _cell(v.abstention), _cell(v.latency_s),
                     "n/a" if v.prompt_tokens is None else f"{v.prompt_tokens:.0f}",
                     "n/a" if v.completion_tokens is None else f"{v.completion_tokens:.0f}"])
    return head, rows


def rung_table(rec: Recommendation) -> tuple[list[str], list[list[str]]]:
    """The ladder as a table: each rung's comparison, interval, p-value, verdict and questions to detect it."""
    head = ["Rung", "Question", "Outcome", "B", "A", "Difference (points)", "95 % interval", "McNemar p",
            "Verdict", "Questions to detect", "Usable difference", "Notes"]
    rows = []
    for r in rec.rungs:
        c, u = r.comparison, r.usable or r.comparison
        if c is None:
            rows.append([r.name, r.question, r.outcome, "", "", "", "", "", "not measured", "", "",
                         "; ".join(r.notes)])
            continue
        need = c.questions_to_detect() if not c.excludes_zero else None
        rows.append([r.name, r.question, r.outcome, c.b.text, c.a.text, f"{c.diff:+.1f}",
                     f"[{c.low:+.1f}, {c.high:+.1f}]", f"{c.p_value:.3g}", r.verdict,
                     "" if c.excludes_zero else (f"about {need}" if need else "no difference observed"),
                     f"{u.diff:+.1f} [{u.low:+.1f}, {u.high:+.1f}]", "; ".join(r.notes)])
    return head, rows


def retrieval_text(spec) -> str:
    r = spec.retrieval
    if not any(s in setups.retrieving() for s in spec.setups):
        return "no retrieval"
    return "retrieval: the collection's defaults" if not r else f"retrieval {r.get('mode')}, k={r.get('k')}"


MISSING = "—"


def cell_text(v) -> str:
    """A table cell as a reader reads it: an em dash for a missing value, yes/no, a float to 3 decimals, a
    dict as 'key: value; ...' and a list comma-joined (never a Python repr)."""
    if v is None or v == "":
        return MISSING
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if v == v else MISSING
    if isinstance(v, dict):
        return "; ".join(f"{k}: {cell_text(x)}" for k, x in v.items()) or MISSING
    if isinstance(v, (list, tuple, set, frozenset)):
        return ", ".join(cell_text(x) for x in v) or MISSING
    return str(v)


def _md_table(head: list[str], rows: list[list]) -> list[str]:
    clean = [[cell_text(c).replace("|", "/").replace("\n", " ") for c in r] for r in rows]
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in clean]


def _html_table(head: list[str], rows: list[list]) -> str:
    return ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{e(cell_text(c))}</td>" for c in r) + "</tr>" for r in rows) + "</table>")


def _fig(fig) -> str:
    # Streamlit's plotly template has placeholder colours ("#000001"...) its front end swaps: outside the app
    # they draw every trace black, so an export names a real template.
    fig = go.Figure(fig).update_layout(template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, default_width="100%")


# --- the sections, in display order -------------------------------------------------------------

def verdict_section(report: Report) -> Section:
    """The verdict with its rule and the numbers it stands on: every rung with its interval and p-value."""
    r = report.recommendation
    head, rows = rung_table(r)
    md = [f"## Recommendation: {r.title}", "", f"**Rule.** {r.rule}", ""]
    if r.rungs:
        md += _md_table(head, rows) + [""]
    md += [f"- {x}" for x in r.evidence]
    figure = _fig(ladder_figure(r)) if any(x.comparison for x in r.rungs) else ""
    page = (f"<div class='verdict{' provisional' if r.provisional else ''}'><h2>{e(r.title)}</h2>"
            f"<p><b>Rule.</b> {e(r.rule)}</p>{_html_table(head, rows) if r.rungs else ''}<ul>"
            + "".join(f"<li>{e(x)}</li>" for x in r.evidence) + f"</ul></div>{figure}")
    return Section("recommendation", r.to_json(), "\n".join(md), page)


def metrics_section(report: Report) -> Section:
    rs = report.scores
    head, rows = summary_table(rs)
    slow = rs.format_timeout_text()
    md = ["## Metrics per setup", "", "Every rate is k/n; an errored answer counts as wrong (in every n).", ""]
    md += [f"**{slow}**", ""] if slow else []
    page = ("<h2>Metrics per setup</h2><p>Every rate is k/n with its 95 % Wilson interval in the chart; an "
            "errored answer counts as wrong (in every n).</p>" + (f"<p><b>{e(slow)}</b></p>" if slow else "")
            + _html_table(head, rows)
            + "".join(_fig(f) for f in (rates_figure(rs), *cost_figures(rs), tags_figure(rs))))
    return Section("setups", {s: v.to_json() for s, v in rs.summaries.items()}, "\n".join(md + _md_table(head, rows)),
                   page)


def errors_section(report: Report) -> Section:
    """Every errored answer with its error: it counts as wrong, so it is listed, never hidden."""
    errs = report.scores.errors()
    rows = [[x["id"], setups.short_label(x["setup"]), x["error"]] for x in errs]
    head = ["id", "setup", "error"]
    if not errs:
        return Section("errors", [], "", "")
    md = ["## Errored answers (counted as wrong)", ""] + _md_table(head, rows)
    return Section("errors", errs, "\n".join(md), "<h2>Errored answers (counted as wrong)</h2>"
                   + _html_table(head, rows))


def cost_section(report: Report) -> Section:
    rs, spec = report.scores, report.scores.record.spec
    per_setup = costs(rs.summaries, report.prices, report.measured, spec.recipe_with_adapter)
    the_trade = trade(rs.summaries, report.prices, report.measured, spec.recipe_with_adapter)
    notes = assumptions(report.prices, report.measured)

    def tokens(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.0f}"

    head = ["Setup", "Prompt tokens", "Recipe tokens added", "Context tokens added", "Per 1,000 queries (tokens)",
            "Per 1,000 queries (GPU time)", "Per year"]
    rows = [[setups.short_label(c.setup), tokens(c.prompt_tokens), tokens(c.recipe_tokens_added),
             tokens(c.context_tokens_added), f"${c.per_1k_tokens_usd:.3f}", f"${c.per_1k_compute_usd:.3f}",
             f"${c.year_usd:,.2f}"] for c in per_setup]
    md = ["## Cost", ""] + [line for t in the_trade for line in (f"**{t}**", "")] + _md_table(head, rows) + [""]
    md += [f"- {a}" for a in notes]
    page = ("<h2>Cost</h2>" + "".join(f"<p><b>{e(t)}</b></p>" for t in the_trade) + _html_table(head, rows)
            + "<ul>" + "".join(f"<li>{e(a)}</li>" for a in notes) + "</ul>")
    data = {"prices": report.prices.__dict__, "measured": report.measured.__dict__, "trade": the_trade,
            "per_setup": [c.to_json() for c in per_setup], "assumptions": notes}
    return Section("cost", data, "\n".join(md), page)


FRESH_COLS = ("question", "setup", "follows the new fact", "before says", "after says", "after")


def freshness_section(report: Report) -> Section:
    if not report.freshness:
        return Section("freshness", [], "", "")
    title, cols = "Freshness (before -> after re-indexing)", list(FRESH_COLS)
    rows = [[setups.short_label(r["setup"]) if c == "setup" else r.get(c) for c in cols] for r in report.freshness]
    md = [f"## {title}", ""] + _md_table(cols, [[cell_text(c)[:80] for c in r] for r in rows])
    page = f"<h2>{title}</h2>" + _html_table(cols, rows)
    return Section("freshness", list(report.freshness), "\n".join(md), page)


def checks_section(report: Report) -> Section | None:
    """The checks that apply to this run (workbench.evaluation.checks), each with its own title and tables."""
    if not report.checks:
        return None
    return Section("checks", {c.key: c.data for c in report.checks},
                   "\n".join(line for c in report.checks for line in c.markdown()),
                   "".join(c.html() for c in report.checks))


def answers_section(report: Report) -> Section:
    rs, rec = report.scores, report.scores.record
    md = ["## Answers", ""]
    q_rows = []
    for row in rs.rows():
        md.append(f"### {row['id']}: {row['question']}")
        md.append(f"Reference: {row['reference']}" + (" (unanswerable)" if row["unanswerable"] else ""))
        cells = []
        for s in rs.setups:
            ok, tags = row[f"{s}_correct"], row[f"{s}_tags"]
            mark = {True: "correct", False: "wrong", None: "no answer yet"}[ok]
            why = f"{mark}; {', '.join(tags)}" if tags else mark
            md.append(f"- **{setups.short_label(s)}** ({why}): {row[s].strip()}")
            tag_html = "".join(f"<span class='tag'>{e(t)}</span>" for t in tags)
            sign = {True: "<span class='ok'>&#10003;</span>", False: "<span class='bad'>&#10007;</span>",
                    None: "&hellip;"}[ok]
            cells.append(f"<td>{sign} {e(row[s])}<br>{tag_html}</td>")
        if row["passages"]:
            md.append("- Retrieved: " + "; ".join(f"[{p['rank']}] {_where(p)}" for p in row["passages"]))
        md.append("")
        passages = "".join(f"<p>[{p['rank']}] <b>{e(_where(p))}</b>"
                           f" ({e(p['metric'])} {p['score']:.3f}): {e(p['text'])}</p>" for p in row["passages"])
        ret = f"<details><summary>{len(row['passages'])} passages</summary>{passages}</details>" if passages else ""
        q_rows.append(f"<tr><td>{e(row['id'])}</td><td>{e(row['question'])}</td><td>{e(row['reference'])}"
                      f"{' (unanswerable)' if row['unanswerable'] else ''}</td>{''.join(cells)}<td>{ret}</td></tr>")
    page = ("<h2>Answers</h2><table><tr><th>id</th><th>Question</th><th>Reference</th>"
            + "".join(f"<th>{e(setups.short_label(s))}</th>" for s in rs.setups) + "<th>Retrieved</th></tr>"
            + "".join(q_rows) + "</table>")
    data = [{**i.to_json(), "passages": rec.retrieved.get(i.id, []),
             "answers": {s: {**(rs.answer(i.id, s) or {}),
                             "score": (sc.to_json() if (sc := rs.scores.get((i.id, s))) else None),
                             "format_timed_out": (i.id, s) in rs.format_timeouts}
                         for s in rs.setups}}
            for i in rec.items]
    return Section("questions", data, "\n".join(md), page)


def _where(p: dict) -> str:
    """A stored passage's citation: its document and the pages it spans."""
    return source_label(p["doc_name"], p.get("page"), p.get("page_end"))


SECTIONS: list[Callable[[Report], Section | None]] = [
    verdict_section, metrics_section, errors_section, cost_section, freshness_section, checks_section,
    answers_section,
]


# --- the exports ---------------------------------------------------------------------------------

def _intro(rec) -> str:
    spec = rec.spec
    recipe = (spec.recipe or {}).get("name")
    return (f"Set `{spec.set_name}`, {len(rec.items)} questions, setups: "
            f"{', '.join(setups.short_label(s) for s in spec.setups)}; collection `{spec.collection or 'none'}`, "
            + (f"adapter `{spec.adapter or spec.adapter_path}`" if spec.adapter or spec.adapter_path else "no adapter")
            + (f", recipe `{recipe}`{' (also with the adapter)' if spec.recipe_with_adapter else ''}" if recipe else "")
            + f"; {retrieval_text(spec)}; max new tokens {spec.max_new_tokens}, temperature {spec.temperature}.")


def to_markdown(report: Report) -> str:
    rec = report.scores.record
    parts = [f"# Evaluation report: {rec.title}", "", _intro(rec)]
    parts += ["\n" + s.markdown for s in report.sections() if s.markdown]
    return "\n".join(parts) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}.ok{color:#2ca02c}.bad{color:#d62728}.tag{background:#fde2e1;border-radius:4px;padding:0 4px;
margin-right:4px;font-size:12px}details{font-size:13px}.verdict{background:#eef6ee;border-left:4px solid #2ca02c;padding:.5em 1em}
.provisional{background:#fff6e5;border-left-color:#ff7f0e}"""


def to_html(report: Report) -> str:
    """A self-contained page: plotly's JS inlined once, so it opens offline."""
    from plotly.offline import get_plotlyjs

    rec = report.scores.record
    body = f"<h1>Evaluation report</h1><p>{e(rec.title)}: {e(_intro(rec).replace('`', ''))}</p>"
    body += "".join(s.html for s in report.sections())
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Evaluation {e(rec.run_id)}</title>"
            f"<style>{_CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
            f"<body>{body}</body></html>")


def to_json_text(report: Report) -> str:
    return json.dumps(report.to_json(), indent=1)
