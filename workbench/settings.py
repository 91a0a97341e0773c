"""The one place for configuration. Nothing else in the project reads environment variables."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"
BUNDLED_GENERATOR = "bundled:SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class Settings:
    """Workbench configuration; build it with `Settings.from_env()`."""

    # Root of all runtime data (models, Chroma, jobs, adapters, caches). Git-ignored.
    storage: Path = REPO_ROOT / "storage"
    # Where converted models live; defaults to storage/models. Tests share one prepared copy.
    models_root: Path | None = None
    # Embedding model: "bundled:all-MiniLM-L6-v2", a local sentence-transformers folder, or a hub id.
    embedding_model: str = BUNDLED_EMBEDDER
    # Generator: "bundled:SmolLM2-135M-Instruct", a local HF causal-LM folder, or a hub id.
    generator_model: str = BUNDLED_GENERATOR
    # Optional cross-encoder that re-orders retrieved passages: a local folder or (online) a hub id; None ships.
    reranker_model: str | None = None
    # "auto" picks CUDA (bf16) when present, else CPU (fp32); or force "cpu" / "cuda".
    device: str = "auto"
    # Generator weights on CPU: "auto" uses bfloat16 where the CPU computes it natively (AVX512-BF16 or
    # AMX: about 1.7x the tokens/s of fp32, since decoding is bound by reading the weights), else
    # float32; or force "float32" / "bfloat16". Training and the embedder stay in float32.
    cpu_dtype: str = "auto"
    # Generator weight format on CPU: "auto" packs the decoder's Linear weights into 4 bits where that
    # is lossless (the bundled model comes from a 4-bit GGUF): about 1.4x the tokens/s of bfloat16
    # weights, 1.7x of float32 on CPUs without native bf16; "int4" packs any model (lossy unless it is on
    # a 4-bit grid); "dense" never packs (with cpu_dtype float32: exactly plain fp32 `generate`).
    cpu_weights: str = "auto"
    # Generation engine: "auto" serves the bundled model through llama.cpp on CPU (~2.5x the transformers path's
    # decode; bench/generate.py) and uses transformers on GPUs and for other models; or force "llama.cpp" /
    # "transformers". Training always uses transformers.
    engine: str = "auto"
    # The GGUF the llama.cpp engine serves the bundled model from: "q8_0" (written once from the bundled Q4_1
    # weights, which it holds to within 1/16 of their own step; llama.cpp prefills it ~1.6x faster than the
    # Q4_1 file), "source" (the bundled file as it is), or "q4_0" (faster still, but re-quantizing cost the
    # sample's RAG answers most of their facts, measured: not for this model).
    gguf_serving: str = "q8_0"
    # WORKBENCH_PROMPT_CACHE=1: the llama.cpp engine reads the part of a prompt before the last user turn (a
    # recipe's instructions and examples, a conversation's earlier turns) once per slot, then the rest after it:
    # ~1.5x the sample evaluation's answers/s; history did not change an answer in the tests. Off by default: a prompt
    # read in two parts rounds differently from one read whole, and on the bundled 135M model that changed greedy
    # answers, the demo's measured ones among them (the sample's founding-year RAG answer turned to garbage).
    prompt_cache: bool = False
    # Chroma server URL (http://host:port); None keeps the embedded PersistentClient under storage/.
    chroma_url: str | None = None
    # Ray Jobs API address (the head's dashboard, http://host:8265); None runs jobs as local processes.
    ray_address: str | None = None
    # Largest accepted upload, per file, in MB: keeps a stray video out of the parser.
    max_upload_mb: float = 50.0
    # Most files accepted in one upload batch.
    max_files_per_upload: int = 200
    # Largest accepted dataset / evaluation-set upload, in MB.
    max_dataset_mb: float = 20.0
    # OpenAI-compatible chat endpoint (Ollama, vLLM, ...) for the arena's base/RAG columns.
    endpoint_url: str | None = None
    endpoint_model: str | None = None
    # The key itself is read from the environment once, here, never written to disk.
    endpoint_api_key: str | None = field(default=None, repr=False)
    # True when the hub must not be contacted (HF_HUB_OFFLINE=1): hub ids then fail with a clear message.
    offline: bool = True
    # Job lanes: "separate" runs one job per lane at a time (fine-tunes in "training", the rest in
    # "default", side by side); "single" runs every job in one queue, for machines too small for two.
    job_lanes: str = "separate"
    # MLflow tracking of training jobs and evaluation runs: a tracking URI (http://host:5000, sqlite:///...),
    # or "local" for a sqlite store under storage/mlflow/; None tracks nothing (workbench.tracking).
    mlflow_uri: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        """Settings from WORKBENCH_* environment variables, defaults for the rest."""
        env = os.environ if env is None else env
        s = cls()
        updates: dict = {}
        if env.get("WORKBENCH_STORAGE"):
            updates["storage"] = Path(env["WORKBENCH_STORAGE"]).expanduser().resolve()
        if env.get("WORKBENCH_MODELS_DIR"):
            updates["models_root"] = Path(env["WORKBENCH_MODELS_DIR"]).expanduser().resolve()
        for key, name in (
            ("embedding_model", "WORKBENCH_EMBEDDING_MODEL"),
            ("generator_model", "WORKBENCH_GENERATOR_MODEL"),
            ("reranker_model", "WORKBENCH_RERANKER_MODEL"),
            ("device", "WORKBENCH_DEVICE"),
            ("cpu_dtype", "WORKBENCH_CPU_DTYPE"),
            ("cpu_weights", "WORKBENCH_CPU_WEIGHTS"),
            ("engine", "WORKBENCH_ENGINE"),
            ("gguf_serving", "WORKBENCH_GGUF_SERVING"),
            ("chroma_url", "WORKBENCH_CHROMA_URL"),
            ("ray_address", "WORKBENCH_RAY_ADDRESS"),
            ("endpoint_url", "WORKBENCH_ENDPOINT_URL"),
            ("endpoint_model", "WORKBENCH_ENDPOINT_MODEL"),
            ("job_lanes", "WORKBENCH_JOB_LANES"),
            ("mlflow_uri", "WORKBENCH_MLFLOW_URI"),
        ):
            if env.get(name):
                updates[key] = env[name]
        for key, name, conv in (
            ("max_upload_mb", "WORKBENCH_MAX_UPLOAD_MB", float),
            ("max_files_per_upload", "WORKBENCH_MAX_FILES", int),
            ("max_dataset_mb", "WORKBENCH_MAX_DATASET_MB", float),
        ):
            if env.get(name):
                updates[key] = conv(env[name])
        key = env.get("WORKBENCH_ENDPOINT_API_KEY") or env.get("OPENAI_API_KEY")
        if key:
            updates["endpoint_api_key"] = key
        if env.get("WORKBENCH_PROMPT_CACHE"):
            updates["prompt_cache"] = env["WORKBENCH_PROMPT_CACHE"].strip().lower() in ("1", "true", "yes", "on")
        updates["offline"] = env.get("HF_HUB_OFFLINE", "1") not in ("0", "false", "False", "")
        return replace(s, **updates)

    # Folders under the storage root, one per kind of runtime data.
    @property
    def models_dir(self) -> Path:
        return self.models_root or self.storage / "models"

    @property
    def chroma_dir(self) -> Path:
        return self.storage / "chroma"

    @property
    def jobs_dir(self) -> Path:
        return self.storage / "jobs"

    @property
    def adapters_dir(self) -> Path:
        return self.storage / "adapters"

    @property
    def datasets_dir(self) -> Path:
        return self.storage / "datasets"

    @property
    def cache_dir(self) -> Path:
        return self.storage / "cache"

    @property
    def evals_dir(self) -> Path:
        return self.storage / "evals"

    def ensure_dirs(self) -> "Settings":
        """Create the storage folders; returns self for chaining."""
        for d in (self.models_dir, self.chroma_dir, self.jobs_dir, self.adapters_dir,
                  self.datasets_dir, self.cache_dir, self.evals_dir):
            d.mkdir(parents=True, exist_ok=True)
        return self
