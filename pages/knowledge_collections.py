import streamlit as st

st.title("Under construction")
st.info("This page is being built.")
