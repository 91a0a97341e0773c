"""Sections of the Chunk sweep page: re-index offer, the grid to score, and the results with Apply best."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from workbench.knowledge.config import STRATEGIES, STRATEGY_LABELS
from workbench.retrieval.config import MODE_LABELS, MODES, load_defaults, save_defaults
from workbench.retrieval.figures import sweep_heatmap
from workbench.retrieval.metrics import label as metric_label
from workbench.retrieval.jobs import SWEEP_KIND, latest_job, submit_sweep
from workbench.retrieval.sweep import SweepGrid, SweepResult, apply_config
from workbench.ui import safe, state
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
        st.caption(f"{grid.size} combinations ({grid.size // max(1, len(ks))} chunkings to index).")
    ready = qs is not None and grid.size > 0
    if not grid.size:
        st.info("Pick at least one strategy, size, overlap and k.")
    if ready:
        ready = inputs_check(col, qs)
    if ready:
        configs, _ = grid.configs(col.config)
        st.caption(safe.text(sweep_estimate(col, configs, speed=measured_speed(col)).describe()))
    settings = get_settings()
    if st.button("Run sweep", type="primary", icon=":material/play_arrow:",
                 disabled=not ready or is_active(latest_job(settings, SWEEP_KIND, col))):
        start_job(submit_sweep, settings, col, qs, grid, saved.with_(mode=mode, doc_ids=(), threshold=None))


def results_section(col) -> None:
    """The collection's last sweep: progress while it runs; then the heatmap, every configuration, and
    Apply best to the collection."""
    res = collection_result(col, SWEEP_KIND, "sweep", SweepResult.from_json,
                            "Cancelled: results cover the configurations finished before the cancel.")
    if res is None:
        return
    mode = res.mode
    for s in res.skipped:
        st.caption(f"Skipped: {safe.text(s)}")
    st.caption(f"{res.texts_embedded} chunk texts embedded, {res.texts_reused} reused from the cache; "
               f"{res.scratch_created} scratch collections created and {res.scratch_dropped} dropped.")
    if not res.rows:
        return
    m1, m2 = st.columns(2)
    metric = m1.radio("Metric", ("mrr", "hit_at_k", "ndcg"), horizontal=True, key="sweep_metric",
                      format_func=metric_label)
    k_show = m2.radio("k", sorted({r.k for r in res.rows}), horizontal=True, key="sweep_k_show")
    st.plotly_chart(sweep_heatmap(res.rows, metric, k_show), width="stretch")
    df = pd.DataFrame([r.__dict__ for r in res.rows]).sort_values(
        [metric, "hit_at_k", "n_chunks"], ascending=[False, False, True])
    st.dataframe(df.rename(columns={m: metric_label(m) for m in ("hit_at_k", "mrr", "ndcg")}),
                 width="stretch", hide_index=True, column_config={"seconds": st.column_config.NumberColumn(format="%.1f s")})
    best = res.best(metric)
    st.markdown(f"**Best by {metric_label(metric)}**: {best.strategy}, size "
                f"{best.chunk_size} {best.unit}, overlap {best.chunk_overlap}, k {best.k} "
                f"(gold passage retrieved@k {best.hit_at_k:.2f}, MRR {best.mrr:.2f}, {best.n_chunks} chunks).")
    if st.button("Apply best to the collection", icon=":material/check_circle:", key="sweep_apply"):
        col.set_config(apply_config(col.config, best))
        save_defaults(get_settings(), load_defaults(get_settings(), col.name).with_(mode=mode, k=best.k), col.name)
        state.flash(state.RETR_FLASH,
                    f"Applied: '{safe.text(col.name)}' now chunks with {best.strategy} {best.chunk_size}/"
                    f"{best.chunk_overlap} {best.unit}, and retrieves k={best.k} with {mode}. Re-index it "
                    "on Collections to rebuild the index with these settings.")
        st.rerun()
