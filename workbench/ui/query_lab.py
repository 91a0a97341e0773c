"""Sections of the Query lab: the question and settings, the passages it retrieves, and the embedding map."""
from __future__ import annotations

import streamlit as st

from workbench.models.registry import ModelError
from workbench.retrieval import RetrievalSettings, retrieve
from workbench.retrieval.passages import context_html, highlight_html, in_context
from workbench.types import source_label
from workbench.ui import safe, state
from workbench.ui.resources import show_model_error
from workbench.ui.retrieval import settings_form


def query_section(col) -> tuple[str, RetrievalSettings] | None:
    """Retrieval settings and the question form; (question, settings) once there is a question to search."""
    with st.container(border=True):
        rs = settings_form(col, "query")
    with st.form("query_form", border=False):
        query = st.text_input("Question", key=state.RETR_QUERY, placeholder="e.g. How many vacation days do employees get?")
        submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")
    if submitted and not query.strip():
        st.warning("Type a question first.")
    return (query, rs) if query.strip() else None


def results_section(col, query: str, rs: RetrievalSettings) -> None:
    """The passages retrieved, each with score, metric, highlighted terms and context; and the embedding map."""
    try:
        hits = retrieve(col, query, rs)
        best = hits[0].score if hits else None
        dropped = 0
        if rs.threshold is not None:
            unfiltered = retrieve(col, query, rs.with_(threshold=None))
            dropped = len(unfiltered) - len(hits)
            if not hits:
                best = unfiltered[0].score if unfiltered else None
    except ModelError as e:
        show_model_error(e)
        return
    if dropped and hits:
        st.caption(f"{dropped} more of the top {rs.k} passages scored below the threshold of "
                   f"{rs.threshold:.3f} and are not shown.")
    if not hits:
        if rs.threshold is not None and best is not None:
            st.warning(f"Nothing passes the threshold: the best passage scores {best:.3f} "
                       f"({'BM25' if rs.mode == 'bm25' else 'fused score' if rs.mode == 'hybrid' else 'cosine'}), "
                       f"below the threshold of {rs.threshold:.3f}. Lower it or turn it off.")
        elif rs.mode == "bm25":
            st.warning("No passage shares a word with the question (BM25 needs exact terms). Try dense or hybrid.")
        else:
            st.warning("No passage found for this question in the chosen documents.")
    tab_list, tab_map = st.tabs(["Passages", "Embedding map"])
    with tab_list:
        for h in hits:
            c = h.chunk
            where = source_label(c.doc_name, c.page, c.page_end)
            extra = " · ".join(f"{k.replace('_', ' ')} {v:.3f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                               for k, v in h.details.items() if k != "cosine" or h.metric != "cosine similarity")
            # The raw score's scale depends on the metric (BM25 is unbounded); its share of the top passage's
            # score reads the same in every mode.
            share = f" ({100 * h.score / hits[0].score:.0f} % of the top)" if h.rank > 1 and hits[0].score > 0 else ""
            with st.container(border=True):
                st.markdown(f"**#{h.rank}** · **{h.score:.4f}** {h.metric}{share} · :material/description: "
                            f"{safe.text(where)} · chunk {c.index} · chars {c.start}–{c.end}"
                            + (f"  \n:gray[{extra}]" if extra else ""))
                # Escaped HTML, not Markdown: the passage shows exactly as written (R's `<-` stays `<-`).
                st.html(f'<div style="white-space:pre-wrap">{highlight_html(c.text, query)}</div>')
                with st.expander("Show in context"):
                    st.html(context_html(in_context(col.get_document(c.doc_id), c), query))
    with tab_map:
        if hits:
            embedding_map_panel(col, query, hits)
        else:
            st.info("Nothing retrieved, so nothing to mark on the map.")


def embedding_map_panel(col, query: str, hits) -> None:
    """The collection's chunks in 2-D with the query and the retrieved chunks marked (on request)."""
    from workbench.retrieval.corpus import corpus_for
    from workbench.retrieval.figures import embedding_map
    from workbench.retrieval.projection import project, umap_available

    c1, c2 = st.columns([1, 2])
    show = c1.toggle("Show the map", key="retr_map_show", value=False)
    method = c2.radio("Projection", ("PCA", "UMAP"), horizontal=True, key="retr_map_method",
                      disabled=not umap_available(),
                      help=None if umap_available() else "UMAP needs the umap-learn package; PCA is used.")
    if not show:
        return
    with st.spinner("Projecting the chunk embeddings..."):
        corpus = corpus_for(col)
        qvec = col.embedder.embed_batch([query])[0]
        p = project(corpus.chunks, corpus.vectors, qvec, {h.chunk.chunk_id for h in hits}, method=method)
    if p.notice:
        st.info(p.notice)
    st.plotly_chart(embedding_map(p, [h.chunk.chunk_id for h in hits]), width="stretch")
    st.caption("Each point is a chunk, coloured by document; the star is the question, ringed numbers are the "
               "retrieved passages. Distances in a 2-D projection are approximate.")
