"""Query lab: which passages a question retrieves, with which score, and where they sit in the embedding space."""
import streamlit as st

from workbench.models.registry import ModelError
from workbench.retrieval import retrieve
from workbench.retrieval.passages import context_html, highlight_markdown, in_context
from workbench.ui import state
from workbench.ui.resources import show_model_error
from workbench.ui.retrieval import embedding_map_panel, pick_collection, settings_form

st.title("Query lab")
st.caption("See exactly which passages a question retrieves and why: raw scores, the metric behind them, "
           "the query's terms highlighted, and each passage in its surrounding text.")

col = pick_collection("query")
if col is not None:
    with st.container(border=True):
        rs = settings_form(col, "query")
    with st.form("query_form", border=False):
        query = st.text_input("Question", key=state.RETR_QUERY, placeholder="e.g. How many vacation days do employees get?")
        submitted = st.form_submit_button("Search", type="primary", icon=":material/search:")
    if submitted and not query.strip():
        st.warning("Type a question first.")
    elif query.strip():
        try:
            hits = retrieve(col, query, rs)
            best = hits[0].score if hits else None
            if rs.threshold is not None and not hits:
                unfiltered = retrieve(col, query, rs.with_(threshold=None, k=1))
                best = unfiltered[0].score if unfiltered else None
        except ModelError as e:
            show_model_error(e)
            st.stop()
        if not hits:
            if rs.threshold is not None and best is not None:
                st.warning(f"Nothing passes the threshold: the best passage scores {best:.3f} "
                           f"({'BM25' if rs.mode == 'bm25' else 'fused RRF' if rs.mode == 'hybrid' else 'cosine'}), "
                           f"below the threshold of {rs.threshold:.3f}. Lower it or turn it off.")
            elif rs.mode == "bm25":
                st.warning("No passage shares a word with the question (BM25 needs exact terms). Try dense or hybrid.")
            else:
                st.warning("No passage found for this question in the chosen documents.")
        tab_list, tab_map = st.tabs(["Passages", "Embedding map"])
        with tab_list:
            for h in hits:
                c = h.chunk
                where = c.doc_name + (f", page {c.page}" if c.page else "")
                extra = " · ".join(f"{k.replace('_', ' ')} {v:.3f}" if isinstance(v, float) else f"{k.replace('_', ' ')} {v}"
                                   for k, v in h.details.items() if k != "cosine" or h.metric != "cosine similarity")
                with st.container(border=True):
                    st.markdown(f"**#{h.rank}** · **{h.score:.4f}** {h.metric} · :material/description: {where} "
                                f"· chunk {c.index} · chars {c.start}–{c.end}" + (f"  \n:gray[{extra}]" if extra else ""))
                    st.markdown(highlight_markdown(c.text, query))
                    with st.expander("Show in context"):
                        st.html(context_html(in_context(col.get_document(c.doc_id), c), query))
        with tab_map:
            if hits:
                embedding_map_panel(col, query, hits)
            else:
                st.info("Nothing retrieved, so nothing to mark on the map.")
