"""Query lab: which passages a question retrieves, with which score, and where they sit in the embedding space."""
import streamlit as st

from workbench.ui import query_lab
from workbench.ui.retrieval import pick_collection

st.title("Query lab")
st.caption("See exactly which passages a question retrieves and why: raw scores, the metric behind them, "
           "the query's terms highlighted, and each passage in its surrounding text.")
if (col := pick_collection("query")) is None or (asked := query_lab.query_section(col)) is None:
    st.stop()
query_lab.results_section(col, *asked)
