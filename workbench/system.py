"""What the System page shows: versions, device, models, storage use, settings."""
from __future__ import annotations

import importlib.metadata as md
import platform
from dataclasses import fields
from pathlib import Path

from workbench.knowledge.store import knowledge_dir
from workbench.settings import Settings

PACKAGES = ("streamlit", "torch", "transformers", "peft", "sentence-transformers", "chromadb",
            "langchain", "langchain-text-splitters", "pypdf", "bm25s", "plotly")


def versions() -> dict[str, str]:
    """Python and key package versions ("missing" when not installed)."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "missing"
    return out


def device_info(settings: Settings) -> dict[str, str]:
    """Where models run and why."""
    import torch

    from workbench.models.registry import ModelError, generation_device, pick_device

    info = {"cpu threads": str(torch.get_num_threads()), "cuda available": str(torch.cuda.is_available())}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    try:
        device, dtype = pick_device(settings)
        info["device"], info["dtype"] = device, str(dtype).removeprefix("torch.")
        info["generator dtype"] = str(generation_device(settings)[1]).removeprefix("torch.")
        from workbench.models.generator import WEIGHT_NOTES

        info["generator weights"] = WEIGHT_NOTES.get(settings.generator_model) or (
            f"{settings.cpu_weights} (set on first load)")
    except ModelError as e:
        info["device"], info["dtype"] = "unavailable", str(e)
    return info


def folder_size(path: Path) -> int:
    """Bytes under `path` (0 when missing); symlinks are not followed."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def storage_usage(settings: Settings) -> dict[str, int]:
    """Bytes used per storage sub-folder (models may live outside the storage root)."""
    named = {
        "models": settings.models_dir, "chroma": settings.chroma_dir, "jobs": settings.jobs_dir,
        "adapters": settings.adapters_dir, "datasets": settings.datasets_dir, "cache": settings.cache_dir,
        "evals": settings.evals_dir, "knowledge": knowledge_dir(settings),
    }
    return {name: folder_size(path) for name, path in named.items()}


def settings_rows(settings: Settings) -> list[dict[str, str]]:
    """Every setting with its value (secrets masked) and the environment variable that sets it."""
    env = {
        "storage": "WORKBENCH_STORAGE", "models_root": "WORKBENCH_MODELS_DIR",
        "embedding_model": "WORKBENCH_EMBEDDING_MODEL", "generator_model": "WORKBENCH_GENERATOR_MODEL",
        "device": "WORKBENCH_DEVICE", "cpu_dtype": "WORKBENCH_CPU_DTYPE",
        "cpu_weights": "WORKBENCH_CPU_WEIGHTS", "chroma_url": "WORKBENCH_CHROMA_URL",
        "max_upload_mb": "WORKBENCH_MAX_UPLOAD_MB", "max_files_per_upload": "WORKBENCH_MAX_FILES",
        "max_dataset_mb": "WORKBENCH_MAX_DATASET_MB", "endpoint_url": "WORKBENCH_ENDPOINT_URL",
        "endpoint_model": "WORKBENCH_ENDPOINT_MODEL",
        "endpoint_api_key": "WORKBENCH_ENDPOINT_API_KEY or OPENAI_API_KEY", "offline": "HF_HUB_OFFLINE",
    }
    rows = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "endpoint_api_key":
            value = "set" if value else "not set"
        rows.append({"setting": f.name, "value": "" if value is None else str(value),
                     "environment variable": env.get(f.name, "")})
    return rows


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"
