"""The adapter registry: every finished fine-tune, in standard PEFT format, with its record.

Layout: `settings.adapters_dir / NAME /` holds PEFT's adapter_config.json and adapter_model.safetensors
plus `workbench.json` (base model, dataset hash, spec, final losses, training time), and `exports/` once the
adapter was exported (workbench.finetune.export: merged model, GGUF files), which is not part of the adapter.
"""
from __future__ import annotations

import io
import json
import shutil
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from workbench.names import check_name
from workbench.settings import BUNDLED_GENERATOR, Settings

META = "workbench.json"
EXPORTS = "exports"  # the adapter's exports, written by workbench.finetune.export
# Where the bundled base model lives on the hub: exported adapters name it, so servers can fetch it.
HUB_IDS = {BUNDLED_GENERATOR: "HuggingFaceTB/SmolLM2-135M-Instruct"}


class AdapterError(ValueError):
    """A registry request that cannot be honoured; the message is meant for the user."""


@dataclass(frozen=True)
class AdapterInfo:
    name: str
    path: Path
    base_model: str
    dataset: str = ""
    dataset_hash: str = ""
    final_loss: float | None = None
    final_val_loss: float | None = None
    train_seconds: float | None = None
    size_mb: float = 0.0
    partial_steps: int | None = None  # a cancelled job's checkpoint kept as an adapter: the steps it had run
    created_at: float = 0.0
    job_id: str = ""
    spec: dict = field(default_factory=dict)


def _adapter_files(folder: Path) -> list[Path]:
    """The adapter's own files: not its exports (hundreds of MB) nor an export being written."""
    return [f for f in sorted(folder.rglob("*")) if f.is_file()
            and not any(p == EXPORTS or p.startswith(".") for p in f.relative_to(folder).parts[:-1])]


def _size_mb(folder: Path) -> float:
    return sum(f.stat().st_size for f in _adapter_files(folder)) / 1e6


class AdapterRegistry:
    """List, register, rename, delete and export adapters under settings.adapters_dir."""

    def __init__(self, settings: Settings):
        self.root = settings.adapters_dir

    def _folder(self, name: str) -> Path:
        folder = self.root / name
        if not name or "/" in name or name.startswith(".") or not (folder / "adapter_config.json").is_file():
            raise AdapterError(f"No adapter named '{name}'.")
        return folder

    def _info(self, folder: Path) -> AdapterInfo:
        meta = {}
        if (folder / META).is_file():
            meta = json.loads((folder / META).read_text())
        cfg = json.loads((folder / "adapter_config.json").read_text())
        return AdapterInfo(
            name=folder.name, path=folder, base_model=meta.get("base_model", cfg.get("base_model_name_or_path", "")),
            dataset=meta.get("dataset", ""), dataset_hash=meta.get("dataset_hash", ""),
            final_loss=meta.get("final_loss"), final_val_loss=meta.get("final_val_loss"),
            train_seconds=meta.get("train_seconds"), size_mb=round(_size_mb(folder), 2),
            created_at=meta.get("created_at", folder.stat().st_mtime), job_id=meta.get("job_id", ""),
            spec=meta.get("spec", {}), partial_steps=meta.get("partial_steps"),
        )

    def list(self) -> list[AdapterInfo]:
        """Every adapter, newest first; folders without PEFT files are skipped."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in self.root.iterdir():
            if folder.name.startswith(".") or not (folder / "adapter_config.json").is_file():
                continue
            try:
                out.append(self._info(folder))
            except (OSError, ValueError):
                continue
        return sorted(out, key=lambda a: a.created_at, reverse=True)

    def get(self, name: str) -> AdapterInfo:
        return self._info(self._folder(name))

    def exists(self, name: str) -> bool:
        return (self.root / name / "adapter_config.json").is_file()

    def register(self, source: Path, spec, result: dict, job_id: str = "") -> AdapterInfo:
        """Copy a saved PEFT adapter in under spec.adapter_name (suffixed when the name is taken)."""
        name = check_name(spec.adapter_name, "adapter", AdapterError)
        if self.exists(name):
            name = f"{name}-{job_id[-6:] or int(time.time())}"
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp)
        meta = {
            "base_model": spec.base_model, "dataset": spec.dataset, "dataset_hash": result.get("dataset_hash", ""),
            "final_loss": result.get("final_loss"), "final_val_loss": result.get("final_val_loss"),
            "train_seconds": result.get("train_seconds"), "created_at": time.time(), "job_id": job_id,
            "spec": spec.to_json(), "device": result.get("device", ""),
        }
        if result.get("partial"):  # a cancelled job's checkpoint: say so wherever the adapter is listed
            meta["partial_steps"] = result.get("steps")
        (tmp / META).write_text(json.dumps(meta, indent=1))
        tmp.rename(self.root / name)
        return self.get(name)

    def register_checkpoint(self, job_dir: Path, job_id: str, steps: int | None) -> AdapterInfo:
        """Keep a cancelled training job's last checkpoint as an adapter named '<adapter>-step<N>'."""
        from workbench.finetune.spec import TrainSpec
        from workbench.jobs.store import read_spec

        source = job_dir / "checkpoint"
        if not (source / "adapter_config.json").is_file():
            raise AdapterError("This job left no checkpoint (it stopped before its first saved step).")
        spec = TrainSpec.from_json(read_spec(job_dir))
        suffix = f"-step{steps}" if steps else "-checkpoint"
        spec = TrainSpec.from_json({**spec.to_json(), "adapter_name": spec.adapter_name[: 64 - len(suffix)] + suffix})
        return self.register(source, spec, {"partial": True, "steps": steps}, job_id=job_id)

    def rename(self, old: str, new: str) -> AdapterInfo:
        folder = self._folder(old)
        new = check_name(new, "adapter", AdapterError)
        if new == old:
            return self.get(old)
        if (self.root / new).exists():
            raise AdapterError(f"An adapter named '{new}' exists already.")
        folder.rename(self.root / new)
        return self.get(new)

    def delete(self, name: str) -> None:
        shutil.rmtree(self._folder(name))

    def export_zip(self, name: str) -> bytes:
        """The adapter as a zip of a folder NAME/ that `PeftModel.from_pretrained` loads once unpacked.

        adapter_config.json names the base model by its hub id (for the bundled model), so servers
        that load PEFT adapters (vLLM, TGI, peft itself) find the base without this machine's paths.
        """
        folder = self._folder(name)
        info = self._info(folder)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in _adapter_files(folder):
                arc = f"{name}/{f.relative_to(folder)}"
                if f.name == "adapter_config.json":
                    cfg = json.loads(f.read_text())
                    cfg["base_model_name_or_path"] = HUB_IDS.get(info.base_model, cfg.get("base_model_name_or_path"))
                    z.writestr(arc, json.dumps(cfg, indent=2))
                else:
                    z.write(f, arc)
        return buf.getvalue()
