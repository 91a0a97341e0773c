"""Streamlit glue: the only package allowed to import streamlit."""
