"""Sections of the Chunk sweep page: re-index offer, the grid to score, and the results with Apply best."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.knowledge.config import STRATEGIES, STRATEGY_LABELS
from workbench.retrieval.config import MODE_LABELS, MODES, load_defaults, save_defaults
from workbench.retrieval.figures import SWEEP_METRICS, sweep_heatmap
from workbench.retrieval.jobs import SWEEP_KIND, latest_job, submit_sweep
from workbench.retrieval.sweep import SweepGrid, SweepResult, apply_config
from workbench.retrieval.sweep_choice import BUDGET_RULE, DEFAULT_BUDGET, TIE_RULE, SweepReport, report
from workbench.ui import safe, state, tables
from workbench.ui.chunking import reindex_control
from workbench.ui.resources import get_settings
from workbench.retrieval.precheck import sweep_estimate
from workbench.ui.retrieval import (
    collection_result, inputs_check, is_active, measured_speed, question_set_picker, start_job,
)


def reindex_section(col) -> None:
    """A Re-index button (a background job, with its panel) when the collection's index lags its settings."""
    reindex_control(col, "Re-index now with the applied settings", state.RETR_FLASH)


def grid_section(col) -> None:
    """Question set, grid and mode, and the Run button, which starts the sweep as a background job."""
    qs = question_set_picker(col, "sweep")
    cfg = col.config
    with st.container(border=True):
        c1, c2 = st.columns(2)
        strategies = c1.multiselect("Strategies", STRATEGIES, default=[cfg.strategy], key="sweep_strat",
                                    format_func=lambda s: STRATEGY_LABELS[s])
        unit = c2.radio("Unit", ("chars", "tokens"), index=("chars", "tokens").index(cfg.unit), horizontal=True,
                        key="sweep_unit")
        size_opts = [100, 200, 300, 400, 600, 800, 1000, 1200, 1600, 2000] if unit == "chars" else \
            [32, 64, 96, 128, 192, 256, 384, 512]
        default_sizes = [s for s in size_opts if s in (200, 400, 800, 1200)] or size_opts[2:5]
        sizes = c1.multiselect("Chunk sizes", size_opts, default=default_sizes if unit == "chars" else [64, 128, 256],
                               key=f"sweep_sizes_{unit}")
        overlaps = c2.multiselect("Overlaps (share of the size)", [0.0, 0.1, 0.15, 0.25, 0.5],
                                  default=[0.0, 0.15], key="sweep_overlaps",
                                  format_func=lambda f: f"{f:.0%}")
        ks = c1.multiselect("k values", [1, 2, 3, 4, 5, 8, 10], default=[1, 4], key="sweep_ks")
        saved = load_defaults(get_settings(), col.name)
        mode = c2.selectbox("Retrieval mode", MODES, index=MODES.index(saved.mode), key="sweep_mode",
                            format_func=lambda m: MODE_LABELS[m])
        grid = SweepGrid(tuple(strategies), tuple(sizes), tuple(overlaps), tuple(ks), unit)
        configs, _ = grid.configs(cfg)
        st.caption(f"{grid.size} combinations ({len(configs)} chunkings to index, the collection's own "
                   f"{cfg.strategy} {cfg.chunk_size}/{cfg.chunk_overlap} {cfg.unit} and k={saved.k} included: "
                   "the choice is compared with them).")
    ready = qs is not None and grid.size > 0
    if not grid.size:
        st.info("Pick at least one strategy, size, overlap and k.")
    if ready:
        ready = inputs_check(col, qs)
    if ready:
        st.caption(safe.text(sweep_estimate(col, configs, speed=measured_speed(col)).describe()))
    settings = get_settings()
    if st.button("Run sweep", type="primary", icon=":material/play_arrow:",
                 disabled=not ready or is_active(latest_job(settings, SWEEP_KIND, col))):
        start_job(submit_sweep, settings, col, qs, grid, saved.with_(mode=mode, doc_ids=(), threshold=None))


def _table(rep: SweepReport) -> pd.DataFrame:
    """Every configuration, the choice first, then by tune score; held-out scores next to the settings."""
    b = f"{rep.budget:,}"
    where = "held out" if rep.split else "all"
    rows = [{"": "chosen" if r == rep.chosen else "current" if r.current else "",
             "strategy": r.strategy, "size": r.chunk_size, "overlap": r.chunk_overlap, "unit": r.unit, "k": r.k,
             f"within {b} chars ({where})": r.held_budget, f"MRR@k ({where})": r.held_mrr,
             f"retrieved@k ({where})": r.held_hit, f"within {b} chars (tune)": r.tune_budget,
             "vs best (tune, points, 68 % interval)": f"{r.diff:+.1f} [{r.low:+.1f}, {r.high:+.1f}]",
             "tie": r.tie, "chunks in index": r.n_chunks, "context chars": round(r.context_chars),
             "seconds": r.seconds, "_order": (r != rep.chosen, -r.tune_budget, r.simplicity())}
            for r in rep.rows]
    return pd.DataFrame(sorted(rows, key=lambda d: d["_order"])).drop(columns="_order")


def results_section(col) -> None:
    """The collection's last sweep: progress while it runs; then the choice (tune half, ties, simplest), its
    held-out score against the current setting, the heatmap, every configuration, and Apply."""
    res = collection_result(col, SWEEP_KIND, "sweep", SweepResult.from_json,
                            "Cancelled: results cover the configurations finished before the cancel.")
    if res is None:
        return
    for s in res.skipped:
        st.caption(f"Skipped: {safe.text(s)}")
    for s in res.notes:
        st.caption(safe.text(s))
    st.caption(f"{res.texts_embedded} chunk texts embedded, {res.texts_reused} reused from the cache; "
               f"{res.scratch_created} scratch collections created and {res.scratch_dropped} dropped.")
    budget = st.number_input("Context budget (characters)", min_value=200, max_value=100_000, step=500,
                             value=DEFAULT_BUDGET, key="sweep_budget",
                             help="Configurations are compared at an equal context size: " + BUDGET_RULE)
    rep = report(res, int(budget))
    if rep is None:
        st.info("No configuration was scored: no question had a gold passage, or the sweep stopped first.")
        return
    (st.caption if rep.split else st.warning)(rep.split_text)
    if rep.dropped:
        st.caption(f"{rep.dropped} question(s) had no gold passage under any chunking and were left out.")
    c = rep.chosen
    where = "held-out" if rep.split else "all"
    st.markdown(f"**Choice**: {safe.text(c.label)}: gold passage within {rep.budget:,} characters for "
                f"{c.held_budget:.0%} of {where} questions (tune {c.tune_budget:.0%}; MRR@k {c.held_mrr:.2f}, "
                f"retrieved@k {c.held_hit:.0%} {where}; {c.n_chunks} chunks in the index).")
    n_ties = sum(r.tie for r in rep.rows)
    st.caption(f"Chosen on the tune questions at the budget; {n_ties} of {len(rep.rows)} configurations tie with "
               f"the best ({safe.text(rep.best.label)}, tune {rep.best.tune_budget:.0%}). {TIE_RULE} {BUDGET_RULE}")
    apply_section(col, res, rep)
    m1, m2 = st.columns(2)
    metric = m1.radio("Heatmap (held-out scores)" if rep.split else "Heatmap", tuple(SWEEP_METRICS), horizontal=True, key="sweep_metric",
                      format_func=SWEEP_METRICS.get)
    k_show = m2.radio("k", res.ks, horizontal=True, key="sweep_k_show",
                      index=res.ks.index(c.k) if c.k in res.ks else 0)
    st.plotly_chart(sweep_heatmap(rep.rows, metric, k_show, "held out" if rep.split else "all questions"),
                    width="stretch")
    b, where = f"{rep.budget:,}", "held out" if rep.split else "all"
    share = st.column_config.NumberColumn(format="percent")
    tables.show(_table(rep), width="stretch", column_config={
        "": st.column_config.TextColumn(width="small"),
        f"within {b} chars ({where})": share, f"retrieved@k ({where})": share, f"within {b} chars (tune)": share,
        f"MRR@k ({where})": st.column_config.NumberColumn(format="%.2f"),
        "seconds": st.column_config.NumberColumn(format="%.1f s")})


def apply_section(col, res: SweepResult, rep: SweepReport) -> None:
    """What the choice gains over the current setting, with its interval; Apply is the primary action only
    when the gain is outside the noise."""
    verdict = rep.verdict
    {"better": st.success, "tie": st.info, "worse": st.warning}.get(verdict, st.caption)(rep.apply_text)
    if verdict == "current":
        return
    label = {"better": "Apply the choice to the collection", "tie": "Apply anyway (a tie)",
             "worse": "Apply anyway (worse held out)"}.get(verdict, "Apply the choice to the collection")
    best = rep.chosen
    if st.button(label, icon=":material/check_circle:", key="sweep_apply",
                 type="primary" if verdict in ("better", "unknown") else "secondary"):
        col.set_config(apply_config(col.config, best))
        save_defaults(get_settings(), load_defaults(get_settings(), col.name).with_(mode=res.mode, k=best.k), col.name)
        state.flash(state.RETR_FLASH,
                    f"Applied: '{safe.text(col.name)}' now chunks with {best.strategy} {best.chunk_size}/"
                    f"{best.chunk_overlap} {best.unit}, and retrieves k={best.k} with {res.mode}. Re-index it "
                    "(the button above) to rebuild the index with these settings, then see what it retrieves.",
                    then=("pages/retrieval_query.py", "Next: search it in the Query lab"))
        st.rerun()
