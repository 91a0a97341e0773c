"""Sections of the evaluation Report page: run choice, charts, recommendation, answers, cost, freshness, export."""
from __future__ import annotations

import streamlit as st

from workbench.answering import setups
from workbench.evaluation import forgetting, freshness, run_index, runs
from workbench.evaluation.cost import Prices, assumptions, costs, measure, trade
from workbench.evaluation.metrics import RATE_METRICS, TAGS
from workbench.evaluation.figures import (
    compare_figure, cost_figures, judge_figure, ladder_figure, rates_figure, tags_figure, yearly_cost_figure,
)
from workbench.evaluation.report import (
    build_report, comparability, compare_rows, retrieval_text, rung_table, summary_table, to_html, to_json_text,
    to_markdown,
)
from workbench.evaluation.scoring import RunScores, score_run
from workbench.settings import Settings
from workbench.types import source_label
from workbench.ui import evaluation_checks, safe, state, tables
from workbench.ui.evaluation import live_runs, resume


def pick_run(entries: list[run_index.RunEntry]) -> str:
    """A run picker labelled from the index; by default the newest full run."""
    ids = [e.run_id for e in entries]
    by_id = {e.run_id: e for e in entries}

    def fmt(rid: str) -> str:
        e = by_id[rid]
        return f"{rid} · {e.label or e.set_name} · {e.answers} answers"

    current = st.session_state.get(state.EVAL_RUN)
    if current not in ids:  # by default the newest full run, not a freshness re-run of a few questions
        current = next((e.run_id for e in entries if not e.freshness), ids[0])
    rid = st.selectbox("Run", ids, index=ids.index(current), format_func=fmt)
    st.session_state[state.EVAL_RUN] = rid
    return rid


def run_section(settings: Settings, entries: list[run_index.RunEntry]) -> runs.RunRecord | None:
    """The run to report on (the only run folder read in full), its live progress and settings; None if none."""
    if not entries:
        st.info("No evaluation run yet. Start one on the Run evaluation page.")
        st.page_link("pages/evaluate_run.py", label="Run evaluation", icon=":material/play_circle:")
        return None
    rec = runs.load_run(settings, pick_run(entries))
    if not stopped_banner(settings, next(e for e in entries if e.run_id == rec.run_id), rec) and not rec.summary:
        live_runs(entries)
        if st.button("Refresh", icon=":material/refresh:"):
            st.rerun()
    spec = rec.spec
    adapter = spec.adapter or spec.adapter_path or "-"
    st.caption(f"Set {safe.text(spec.set_name)}, {len(rec.items)} questions · collection "
               f"{safe.text(spec.collection or '-')} · adapter {safe.text(adapter)} · "
               f"{safe.text(retrieval_text(spec))} · max new tokens "
               f"{spec.max_new_tokens}, temperature {spec.temperature}")
    return rec


def stopped_banner(settings: Settings, entry: run_index.RunEntry, rec: runs.RunRecord) -> bool:
    """At the top of the report: how a run that stopped short stopped, why, what that means for the verdict,
    and Resume. False (nothing shown) for a run that is live or finished."""
    stop = run_index.stopped(settings, entry)
    if stop is None:
        return False
    n, expected = len(rec.results), len(rec.items) * len(rec.spec.setups)
    probe_missing = len(forgetting.pending(rec.spec, rec.probe_results))
    if n < expected:
        meaning = "the recommendation below is provisional: it counts only the answers that are in"
    elif probe_missing:
        meaning = (f"every answer is in, so the verdict stands, but the forgetting probe lacks {probe_missing} "
                   "answers (Checks tab)")
    else:
        meaning = "every answer is in, so the verdict stands"
    head = {run_index.FAILED: "This run failed", run_index.CANCELLED: "This run was cancelled",
            run_index.INCOMPLETE: "This run is incomplete"}[stop.state]
    box = st.error if stop.state == run_index.FAILED else st.warning
    box(f"**{head}** with {n} of {expected} answers; {meaning}. Resume continues it where it stopped: only the "
        "missing answers are generated.")
    st.text(f"Why: {stop.reason}")  # plain text: a job's error can hold anything
    if stop.log_tail:
        with st.expander("The end of its job's log"):
            st.code(stop.log_tail, language=None)
    if st.button("Resume the run", key=f"resume_{rec.run_id}", icon=":material/play_arrow:", type="primary"):
        resume(settings, rec.run_id)
    return True


def headline(rs: RunScores) -> None:
    """Metrics per setup as k/n (errors per setup among them), the errored answers, and the rates with intervals."""
    head, rows = summary_table(rs)
    st.caption("Every rate is k/n; an errored answer counts as wrong, in every n. Bars show 95 % intervals.")
    tables.show(rows, head, column_config={"Setup": st.column_config.TextColumn(pinned=True)})
    errs = rs.errors()
    if errs:
        with st.expander(f"{len(errs)} errored answer(s), counted as wrong"):
            tables.show([{**x, "setup": setups.short_label(x["setup"])} for x in errs],
                        column_config={"error": st.column_config.TextColumn(width="large")})
    st.plotly_chart(rates_figure(rs))
    figs = cost_figures(rs)
    for col, fig in zip(st.columns(len(figs)) if figs else [], figs):
        col.plotly_chart(fig)


def judge_panel(settings: Settings, rs: RunScores) -> None:
    """The optional LLM-judge score, clearly labelled, only when an endpoint is configured."""
    from workbench.evaluation import judge

    if not judge.configured(settings):
        st.caption("LLM judge: off. Set WORKBENCH_ENDPOINT_URL and WORKBENCH_ENDPOINT_MODEL to an OpenAI-compatible "
                   "endpoint with a capable model to add a judged score beside the deterministic metrics.")
        return
    means = judge.judge_means(settings, rs.record.run_id)
    st.write(f"**{safe.text(judge.label(settings))}**")
    if means:
        st.plotly_chart(judge_figure(means))
    if st.button("Score this run with the LLM judge", disabled=not rs.record.summary):
        st.toast(f"Judge job {judge.submit(settings, rs.record.run_id).job_id} queued; reload to see scores.")


def recommendation(report) -> None:
    """The verdict, its rule, and each rung's difference with its interval, p-value and verdict."""
    r = report.recommendation
    box = st.warning if r.provisional else st.success if r.verdict not in ("prompt", "none") else st.info
    box(f"**{r.title}**\n\n**Rule.** {r.rule}")
    if any(x.comparison for x in r.rungs):
        head, rows = rung_table(r)
        # The verdict and its numbers first: at 1400 px they are in view without scrolling sideways.
        first = ["Rung", "Verdict", "Difference (points)", "95 % interval", "McNemar p"]
        tables.show(rows, head, column_order=first + [h for h in head if h not in first], column_config={
            "Rung": st.column_config.TextColumn(pinned=True),
            "Question": st.column_config.TextColumn(width="medium"),
            "Notes": st.column_config.TextColumn(width="large")})
        st.plotly_chart(ladder_figure(r))
    with st.expander("How the verdict was reached"):
        st.markdown("\n".join(f"- {e}" for e in r.evidence))


def answers_table(rs: RunScores, leaked: dict | None = None) -> None:
    """Every question with each setup's answer; `leaked` (id -> "exact"/"near") marks questions the adapter trained on."""
    leaked = leaked or {}
    st.plotly_chart(tags_figure(rs))
    c1, c2 = st.columns(2)
    tag = c1.selectbox("Show questions where an answer is tagged", ["(all)", *TAGS])
    only_wrong = c2.toggle("Only questions some setup got wrong")
    rows = rs.rows()
    if tag != "(all)":
        rows = [r for r in rows if any(tag in r[f"{s}_tags"] for s in rs.setups)]
    if only_wrong:
        rows = [r for r in rows if any(r[f"{s}_correct"] is False for s in rs.setups)]
    table = []
    for r in rows:
        row = {"id": r["id"], "question": r["question"], "reference": r["reference"]}
        if leaked:
            row["in training data"] = leaked.get(r["id"], "")
        for s in rs.setups:
            mark = {True: "✓", False: "✗", None: "…"}[r[f"{s}_correct"]]
            row[setups.short_label(s)] = f"{mark} {r[s]}"
            row[f"{setups.short_label(s)} tags"] = ", ".join(r[f"{s}_tags"])
        table.append(row)
    st.caption(f"{len(table)} questions. ✓ correct, ✗ wrong (unanswerable questions: correct means it abstained)."
               + (f" {len(leaked)} question(s) marked 'in training data' were found in the adapter's training set "
                  "(see Checks)." if leaked else ""))
    answer_cols = [setups.short_label(s) for s in rs.setups]
    order = ["id", *answer_cols, "question", "reference", *(["in training data"] if leaked else []),
             *(f"{c} tags" for c in answer_cols)]
    # The answers (each marked ✓ / ✗) right after the id: they are what this table is read for.
    tables.show(table, column_order=order if table else None, column_config={
        "id": st.column_config.TextColumn(pinned=True, width="small"),
        "question": st.column_config.TextColumn(width="medium"),
        "reference": st.column_config.TextColumn(width="medium"),
        **{c: st.column_config.TextColumn(width="medium") for c in answer_cols}})
    if not rows:
        return
    qid = st.selectbox("Question detail", [r["id"] for r in rows],
                       format_func=lambda q: f"{q}: {next(r['question'] for r in rows if r['id'] == q)}")
    r = next(r for r in rows if r["id"] == qid)
    st.write(f"**Reference:** {safe.text(r['reference'])}"
             + (" (unanswerable: abstaining is correct)" if r["unanswerable"] else "")
             + f" · **gold source:** {safe.text(r['source'] or 'unknown')}")
    for col, s in zip(st.columns(len(rs.setups)), rs.setups):
        with col.container(border=True):
            ok = r[f"{s}_correct"]
            st.markdown(f"**{setups.short_label(s)}** " + {True: ":green[correct]", False: ":red[wrong]", None: "(no answer)"}[ok])
            st.text(r[s] or "")
            for t in r[f"{s}_tags"]:
                st.caption(f":orange[{t}]")
    if r["passages"]:
        st.caption("RAG and hybrid saw exactly these passages (retrieved once, before generation):")
        for p in r["passages"]:
            where = source_label(p["doc_name"], p.get("page"), p.get("page_end"))
            with st.expander(safe.text(f"[{p['rank']}] {where} · {p['metric']} {p['score']:.3f}")):
                st.text(p["text"])


def cost_panel(settings: Settings, rs: RunScores) -> Prices:
    st.caption("Prices are editable; the measured figures come from this run and its adapter and collection.")
    d = Prices()
    c = st.columns(5)
    prices = Prices(
        gpu_per_hour=c[0].number_input("GPU $/hour", 0.0, 100.0, d.gpu_per_hour, 0.1),
        per_million_input_tokens=c[1].number_input("$/M prompt tokens", 0.0, 100.0, d.per_million_input_tokens, 0.05),
        per_million_output_tokens=c[2].number_input("$/M completion tokens", 0.0, 200.0,
                                                    d.per_million_output_tokens, 0.05),
        vector_db_per_month=c[3].number_input("Vector DB $/month", 0.0, 10000.0, d.vector_db_per_month, 5.0),
        queries_per_day=int(c[4].number_input("Queries per day", 1, 10_000_000, d.queries_per_day, 100)),
    )
    m = measure(settings, rs.record.spec)
    facts = {
        "training time": "n/a" if m.training_s is None else f"{m.training_s:.0f} s",
        "adapter size": "n/a" if m.adapter_bytes is None else f"{m.adapter_bytes / 1e6:.1f} MB",
        "index size": "n/a" if m.index_bytes is None else f"{m.index_bytes / 1e6:.2f} MB ({m.index_chunks} chunks)",
        "retrieval": "n/a" if rs.retrieval_s is None else f"{1000 * rs.retrieval_s:.0f} ms per query",
    }
    st.write(" · ".join(f"**{k}**: {v}" for k, v in facts.items()))
    with_adapter = rs.record.spec.recipe_with_adapter
    for line in trade(rs.summaries, prices, m, with_adapter):
        st.markdown(f"**{line}**")
    per_setup = costs(rs.summaries, prices, m, with_adapter)
    rows = [{"setup": setups.short_label(x.setup), "$ per year": x.year_usd, "latency s": x.latency_s,
             "prompt tokens": x.prompt_tokens, "recipe tokens added": x.recipe_tokens_added,
             "context tokens added": x.context_tokens_added, "$ per 1,000 queries (tokens)": x.per_1k_tokens_usd,
             "$ per 1,000 queries (GPU time)": x.per_1k_compute_usd, "fixed $ per year": x.fixed_year_usd}
            for x in per_setup]
    money = st.column_config.NumberColumn(format="$%.3f")
    tokens = st.column_config.NumberColumn(format="%.0f")  # a mean token count: whole tokens, not 341.667
    tables.show(rows, column_config={
        "setup": st.column_config.TextColumn(pinned=True), "$ per year": st.column_config.NumberColumn(format="$%.2f"),
        "latency s": st.column_config.NumberColumn(format="%.2f s"), "prompt tokens": tokens,
        "recipe tokens added": tokens, "context tokens added": tokens, "$ per 1,000 queries (tokens)": money,
        "$ per 1,000 queries (GPU time)": money, "fixed $ per year": st.column_config.NumberColumn(format="$%.2f")})
    if rows:
        st.plotly_chart(yearly_cost_figure(per_setup))
    with st.expander("Assumptions"):
        for a in assumptions(prices, m):
            st.write(f"- {a}")
    return prices


def freshness_rows(settings: Settings, rs: RunScores) -> list[dict]:
    rec = rs.record
    if not rec.spec.freshness:
        return []
    try:
        before = runs.load_run(settings, rec.spec.parent_run)
    except runs.RunError:
        return []
    return freshness.before_after(before, rec, freshness.FactChange.from_json(rec.spec.freshness))


def freshness_table(settings: Settings, rs: RunScores) -> None:
    rec = rs.record
    change = freshness.FactChange.from_json(rec.spec.freshness)
    try:
        before = runs.load_run(settings, rec.spec.parent_run)
    except runs.RunError:
        st.warning(f"The before run {rec.spec.parent_run} is gone; only the after answers are shown.")
        return
    rows = freshness.before_after(before, rec, change)
    st.write(f"**{safe.text(change.doc_name)}**: {safe.text(change.old)} → {safe.text(change.new)}. "
             f"Before = run {before.run_id}, after = this run (re-indexed).")
    # The verdict first (does the answer follow the new fact?), the full answers last.
    tables.show([{**r, "setup": setups.short_label(r["setup"])} for r in rows],
                column_order=["question", "setup", "follows the new fact", "before says", "after says",
                              "after answered", "before", "after"],
                column_config={"question": st.column_config.TextColumn(pinned=True),
                               "follows the new fact": st.column_config.CheckboxColumn(),
                               "before": st.column_config.TextColumn(width="large"),
                               "after": st.column_config.TextColumn(width="large")})


def exports(report, rs: RunScores) -> None:
    rid = rs.record.run_id
    c = st.columns(3)
    # Callables: the files (the HTML carries plotly.js, ~4 MB) are built only when clicked.
    c[0].download_button("HTML report (offline, charts inside)", lambda: to_html(report), f"eval-{rid}.html",
                         "text/html", icon=":material/download:", on_click="ignore")
    c[1].download_button("Markdown", lambda: to_markdown(report), f"eval-{rid}.md", "text/markdown",
                         on_click="ignore")
    c[2].download_button("JSON", lambda: to_json_text(report), f"eval-{rid}.json", "application/json",
                         on_click="ignore")


def compare(settings: Settings, rs: RunScores, ids: list[str]) -> None:
    others = [i for i in ids if i != rs.record.run_id]
    if not others:
        st.caption("Only one run so far: start another (for example with a new adapter or chunk settings).")
        return
    other = st.selectbox("Compare with run B", others, key=state.EVAL_COMPARE)
    b = score_run(runs.load_run(settings, other))
    refusal, caution = comparability(rs, b)
    if refusal:
        st.error(refusal)
        return
    if caution:
        st.warning(caution)
    metric = st.selectbox("Metric", [k for k, _ in RATE_METRICS], format_func=dict(RATE_METRICS).get)
    st.plotly_chart(compare_figure(rs, b, metric))
    tables.show(compare_rows(rs, b), column_config={
        "change (points)": st.column_config.NumberColumn(format="%+.1f")})


def report_section(settings: Settings, rec: runs.RunRecord, entries: list[run_index.RunEntry]) -> None:
    """The scored run in tabs: results, answers, cost, freshness, export and comparison."""
    ids = [e.run_id for e in entries]
    rs = score_run(rec)
    if not rs.summaries:
        entry = next((e for e in entries if e.run_id == rec.run_id), None)
        stopped = entry is not None and run_index.stopped(settings, entry) is not None
        st.info("No answers: the run stopped before its first." if stopped else
                "No answers yet: the run is queued or retrieving passages.")
        return
    if slow := rs.format_timeout_text():
        st.warning(slow, icon=":material/timer_off:")
    if rec.spec.freshness:
        st.info(f"A freshness re-run of {len(rec.items)} questions after a fact change: the Freshness tab has the "
                f"before/after table (before = run {rec.spec.parent_run}).")
    checks = evaluation_checks.report_checks(settings, rec)  # shared by the Checks tab and the exports
    tabs = st.tabs(["Results", "Answers", "Cost", "Freshness", "Checks", "Export & compare"])
    with tabs[0]:
        report = build_report(rs)
        if rec.spec.freshness:
            st.caption("No recommendation from a freshness re-run: it covers only the changed fact. See run "
                       f"{rec.spec.parent_run} for the recommendation.")
        else:
            recommendation(report)
        headline(rs)
        judge_panel(settings, rs)
    with tabs[1]:
        from workbench.evaluation import leakage

        check = leakage.for_run(settings, rec)
        answers_table(rs, {lk.id: lk.kind for lk in check.leaks} if check else None)
    with tabs[2]:
        prices = cost_panel(settings, rs)
    with tabs[3]:
        if rec.spec.freshness:
            freshness_table(settings, rs)
        else:
            st.caption("This is not a freshness run. Start one from the Run evaluation page (section 4).")
    with tabs[4]:
        evaluation_checks.checks_section(settings, rec, checks)
    with tabs[5]:
        exports(build_report(rs, prices, measure(settings, rec.spec), freshness_rows(settings, rs), checks=checks), rs)
        st.divider()
        compare(settings, rs, ids)
