"""RAG & Fine-Tuning Workbench: the library behind the Streamlit app (no Streamlit imports here)."""
import os

# Nothing may download weights at run time; users who want the hub set HF_HUB_OFFLINE=0 themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", os.environ["HF_HUB_OFFLINE"])
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb: no telemetry calls
# One libgomp serves torch and llama.cpp in a process (the first one loaded), so one spin policy serves both.
# ACTIVE keeps libgomp from throttling its spin to almost nothing once two Python threads have run torch code
# (torch decoding fell from ~43 to ~29 tokens/s on 2 cores). The spin count is short because two processes
# sharing the cores (the app's generator and an evaluation job, or a training job) otherwise burn each other's
# time slices at every barrier: llama.cpp decoding in two processes on 2 cores ran at 1-14 tokens/s each with
# 300,000 spins, 24-30 with 1,000, and alone at the same ~115 tokens/s with either (bench/RESULTS.md).
# libgomp reads these when it loads, so the package sets them before anything imports torch or llama.cpp.
os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

__version__ = "0.1.0"
