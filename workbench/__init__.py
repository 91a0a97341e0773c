"""RAG & Fine-Tuning Workbench: the library behind the Streamlit app (no Streamlit imports here)."""
import os

# Nothing may download weights at run time; users who want the hub set HF_HUB_OFFLINE=0 themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", os.environ["HF_HUB_OFFLINE"])
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb: no telemetry calls

__version__ = "0.1.0"
