"""The report of a run: comparison of two runs and exports (HTML, Markdown, JSON); figures in figures.py."""
from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass

from workbench.answering import setups
from workbench.evaluation.decision import Measured, Prices, Recommendation, assumptions, costs, recommend
from workbench.evaluation.figures import cost_figures, rates_figure, tags_figure
from workbench.evaluation.metrics import RATE_METRICS
from workbench.evaluation.scoring import RunScores


def compare_rows(a: RunScores, b: RunScores) -> list[dict]:
    """Per setup and metric: value in A, in B, and the change (B - A), in percentage points."""
    rows = []
    for setup in [s for s in a.summaries if s in b.summaries]:
        for key, label in RATE_METRICS:
            va, vb = getattr(a.summaries[setup], key), getattr(b.summaries[setup], key)
            if va is None and vb is None:
                continue
            rows.append({"setup": setups.short_label(setup), "metric": label,
                         "A": None if va is None else round(100 * va, 1),
                         "B": None if vb is None else round(100 * vb, 1),
                         "change (points)": None if va is None or vb is None else round(100 * (vb - va), 1)})
    return rows


@dataclass(frozen=True)
class Report:
    """Everything exported about one run."""

    scores: RunScores
    recommendation: Recommendation
    prices: Prices
    measured: Measured
    freshness: tuple = ()  # before/after rows (freshness.before_after) when this is a freshness run
    checks: tuple = ()  # forgetting, leakage, revalidation sections that apply (workbench.evaluation.checks)

    def to_json(self) -> dict:
        rec = self.scores.record
        return {
            "freshness": list(self.freshness),
            "checks": {c.key: c.data for c in self.checks},
            "run_id": rec.run_id, "spec": rec.spec.to_json(), "summary": rec.summary,
            "generated_at": time.strftime("%Y-%m-%d %H:%M:%S"),
            "setups": {s: v.to_json() for s, v in self.scores.summaries.items()},
            "recommendation": self.recommendation.to_json(),
            "cost": {"prices": self.prices.__dict__, "measured": self.measured.__dict__,
                     "per_setup": [c.to_json() for c in costs(self.scores.summaries, self.prices, self.measured)],
                     "assumptions": assumptions(self.prices, self.measured)},
            "questions": [{**i.to_json(), "passages": rec.retrieved.get(i.id, []),
                           "answers": {s: {**(self.scores.answer(i.id, s) or {}),
                                           "score": (sc.to_json() if (sc := self.scores.scores.get((i.id, s))) else None)}
                                       for s in self.scores.setups}}
                          for i in rec.items],
        }


def build_report(rs: RunScores, prices: Prices | None = None, measured: Measured | None = None,
                 freshness_rows: list[dict] | None = None, checks: tuple = ()) -> Report:
    return Report(rs, recommend(rs.summaries), prices or Prices(), measured or Measured(),
                  tuple(freshness_rows or ()), tuple(checks))


FRESH_COLS = ("question", "setup", "before says", "after says", "after")


def _fmt(v, pct: bool = True) -> str:
    if v is None:
        return "n/a"
    return f"{100 * v:.0f}%" if pct else f"{v:.2f}"


def summary_table(rs: RunScores) -> tuple[list[str], list[list[str]]]:
    """The headline table: one row per setup (header, rows) as display strings."""
    head = ["Setup", "Usable", "Correct", "Facts", "F1", "Format", "hit@k", "Abstains", "Latency s", "Prompt tok", "Compl tok"]
    rows = []
    for s, v in rs.summaries.items():
        rows.append([setups.short_label(s), _fmt(v.usable), _fmt(v.correct), _fmt(v.fact_correct), _fmt(v.f1), _fmt(v.format_ok),
                     _fmt(v.hit_at_k), _fmt(v.abstention), _fmt(v.latency_s, False),
                     "n/a" if v.prompt_tokens is None else f"{v.prompt_tokens:.0f}",
                     "n/a" if v.completion_tokens is None else f"{v.completion_tokens:.0f}"])
    return head, rows


def retrieval_text(spec) -> str:
    r = spec.retrieval
    if not any(s in setups.retrieving() for s in spec.setups):
        return "no retrieval"
    return "retrieval: the collection's defaults" if not r else f"retrieval {r.get('mode')}, k={r.get('k')}"


def to_markdown(report: Report) -> str:
    rs, rec = report.scores, report.scores.record
    head, rows = summary_table(rs)
    out = [f"# Evaluation report: {rec.title}", "",
           f"Set `{rec.spec.set_name}`, {len(rec.items)} questions, setups: "
           f"{', '.join(setups.short_label(s) for s in rec.spec.setups)}; collection `{rec.spec.collection}`, "
           f"adapter `{rec.spec.adapter or rec.spec.adapter_path}`; {retrieval_text(rec.spec)}; max new tokens "
           f"{rec.spec.max_new_tokens}, temperature {rec.spec.temperature}.", "",
           f"## Recommendation: {report.recommendation.title}", ""]
    out += [f"- {e}" for e in report.recommendation.evidence]
    out += ["", "## Metrics per setup", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", "## Cost", "", "| Setup | Context tokens added | Per 1,000 queries (tokens) | "
            "Per 1,000 queries (GPU time) | Per year |", "|---|---|---|---|---|"]
    for c in costs(rs.summaries, report.prices, report.measured):
        added = "n/a" if c.context_tokens_added is None else f"{c.context_tokens_added:.0f}"
        out.append(f"| {setups.short_label(c.setup)} | {added} | ${c.per_1k_tokens_usd:.3f} | ${c.per_1k_compute_usd:.3f} | "
                   f"${c.year_usd:,.2f} |")
    out += [""] + [f"- {a}" for a in assumptions(report.prices, report.measured)]
    if report.freshness:
        out += ["", "## Freshness (before -> after re-indexing)", "", "| " + " | ".join(FRESH_COLS) + " |",
                "|" + "---|" * len(FRESH_COLS)]
        out += ["| " + " | ".join(str(r[c]).replace("|", "/").replace("\n", " ")[:80] for c in FRESH_COLS) + " |"
                for r in report.freshness]
    for c in report.checks:
        out += ["", *c.markdown()]
    out += ["", "## Answers", ""]
    for row in rs.rows():
        out.append(f"### {row['id']}: {row['question']}")
        out.append(f"Reference: {row['reference']}" + (" (unanswerable)" if row["unanswerable"] else ""))
        for s in rs.setups:
            mark = "correct" if row[f"{s}_correct"] else "wrong"
            tags = ", ".join(row[f"{s}_tags"])
            out.append(f"- **{setups.short_label(s)}** ({mark}{'; ' + tags if tags else ''}): {row[s].strip()}")
        if row["passages"]:
            out.append("- Retrieved: " + "; ".join(f"[{p['rank']}] {p['doc_name']}" +
                                                   (f" p.{p['page']}" if p.get("page") else "")
                                                   for p in row["passages"]))
        out.append("")
    return "\n".join(out)


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}
th{background:#f3f3f3}.ok{color:#2ca02c}.bad{color:#d62728}.tag{background:#fde2e1;border-radius:4px;padding:0 4px;
margin-right:4px;font-size:12px}details{font-size:13px}.verdict{background:#eef6ee;border-left:4px solid #2ca02c;padding:.5em 1em}"""


def to_html(report: Report) -> str:
    """A self-contained page: plotly's JS inlined once, so it opens offline."""
    rs, rec = report.scores, report.scores.record
    figs = [rates_figure(rs), *cost_figures(rs), tags_figure(rs)]
    fig_html = [f.to_html(full_html=False, include_plotlyjs=(i == 0), default_width="100%")
                for i, f in enumerate(figs)]
    head, rows = summary_table(rs)
    e = html.escape
    table = "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>"
    cost_rows = "".join(
        f"<tr><td>{e(setups.short_label(c.setup))}</td><td>{'n/a' if c.context_tokens_added is None else f'{c.context_tokens_added:.0f}'}</td>"
        f"<td>${c.per_1k_tokens_usd:.3f}</td><td>${c.per_1k_compute_usd:.3f}</td><td>${c.year_usd:,.2f}</td></tr>"
        for c in costs(rs.summaries, report.prices, report.measured))
    q_rows = []
    for row in rs.rows():
        cells = []
        for s in rs.setups:
            ok = row[f"{s}_correct"]
            tags = "".join(f"<span class='tag'>{e(t)}</span>" for t in row[f"{s}_tags"])
            cls = "ok" if ok else "bad"
            cells.append(f"<td><span class='{cls}'>{'&#10003;' if ok else '&#10007;'}</span> {e(row[s])}<br>{tags}</td>")
        passages = "".join(f"<p>[{p['rank']}] <b>{e(p['doc_name'])}</b>{' p.' + str(p['page']) if p.get('page') else ''}"
                           f" ({e(p['metric'])} {p['score']:.3f}): {e(p['text'])}</p>" for p in row["passages"])
        ret = f"<details><summary>{len(row['passages'])} passages</summary>{passages}</details>" if passages else ""
        q_rows.append(f"<tr><td>{e(row['id'])}</td><td>{e(row['question'])}</td><td>{e(row['reference'])}"
                      f"{' (unanswerable)' if row['unanswerable'] else ''}</td>{''.join(cells)}<td>{ret}</td></tr>")
    body = [
        f"<h1>Evaluation report</h1><p>{e(rec.title)}: set <code>{e(rec.spec.set_name)}</code>, "
        f"{len(rec.items)} questions; collection <code>{e(str(rec.spec.collection))}</code>, adapter "
        f"<code>{e(str(rec.spec.adapter or rec.spec.adapter_path))}</code>; {e(retrieval_text(rec.spec))}; max new tokens "
        f"{rec.spec.max_new_tokens}, temperature {rec.spec.temperature}.</p>",
        f"<div class='verdict'><h2>{e(report.recommendation.title)}</h2><ul>"
        + "".join(f"<li>{e(x)}</li>" for x in report.recommendation.evidence) + "</ul></div>",
        "<h2>Metrics per setup</h2>", table, fig_html[0], *fig_html[1:],
        "<h2>Cost</h2><table><tr><th>Setup</th><th>Context tokens added</th><th>Per 1,000 queries (tokens)</th>"
        f"<th>Per 1,000 queries (GPU time)</th><th>Per year</th></tr>{cost_rows}</table><ul>"
        + "".join(f"<li>{e(a)}</li>" for a in assumptions(report.prices, report.measured)) + "</ul>",
        ("<h2>Freshness (before -> after re-indexing)</h2><table><tr>" + "".join(f"<th>{e(c)}</th>" for c in FRESH_COLS)
         + "</tr>" + "".join("<tr>" + "".join(f"<td>{e(str(r[c]))}</td>" for c in FRESH_COLS) + "</tr>"
                             for r in report.freshness) + "</table>") if report.freshness else "",
        *(c.html() for c in report.checks),
        "<h2>Answers</h2><table><tr><th>id</th><th>Question</th><th>Reference</th>"
        + "".join(f"<th>{e(setups.short_label(s))}</th>" for s in rs.setups) + "<th>Retrieved</th></tr>"
        + "".join(q_rows) + "</table>",
    ]
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Evaluation {e(rec.run_id)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>")


def to_json_text(report: Report) -> str:
    return json.dumps(report.to_json(), indent=1)
