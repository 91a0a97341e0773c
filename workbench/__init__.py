"""RAG & Fine-Tuning Workbench: the library behind the Streamlit app (no Streamlit imports here)."""
import os

# Nothing may download weights at run time; users who want the hub set HF_HUB_OFFLINE=0 themselves.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", os.environ["HF_HUB_OFFLINE"])
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb: no telemetry calls
# torch's OpenMP (libgomp) cuts its workers' spin-wait to almost nothing as soon as it manages more
# threads than there are cores, which happens once two Python threads have run torch code (a Streamlit
# script thread and the generation thread). Its workers then sleep and wake for every parallel region:
# decoding ran at ~29 instead of ~43 tokens/s on 2 cores (bench/RESULTS.md). ACTIVE with libgomp's own
# default spin count keeps the normal spin without that throttle; idle CPU use is the same as default.
# libgomp reads these when torch loads it, so the package sets them before anything imports torch.
os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")
os.environ.setdefault("GOMP_SPINCOUNT", "300000")

__version__ = "0.1.0"
