"""Adapters out of the workbench: a merged Hugging Face folder, GGUF files for llama.cpp and Ollama, a GGUF LoRA.

Layout: `adapters/NAME/exports/` holds `merged/` (safetensors, tokenizer, chat template), `NAME-f16.gguf`,
`NAME-q8_0.gguf`, `NAME-q4_k_m.gguf`, `NAME-lora-f16.gguf`, `Modelfile` (Ollama) and `export.json` (what
was written and any notes). An export is built in a hidden sibling folder and renamed into place at the end,
so a failed one leaves the adapter and its earlier exports as they were. It runs as a background job of kind
"export" (`launch`); `export` is the same work in this process.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.finetune.adapters import EXPORTS, AdapterError, AdapterRegistry
from workbench.finetune.gguf_export import FILE_TYPES, GGUFError, write_lora, write_model
from workbench.settings import BUNDLED_GENERATOR, Settings

MANIFEST = "export.json"
MERGED = "merged"
# What each GGUF holds, for the Modelfile's comment (workbench.finetune.gguf_export).
ABOUT = {"f16": "the merged model in 16-bit floats.",
         "q8_0": "the merged model quantized to 8 bits (Q8_0).",
         "q4_k_m": "llama-quantize's Q4_K_M mixture for the weights the adapter changed; the weights it left "
                   "alone are {base}'s own tensors, byte for byte."}


class ExportError(ValueError):
    """An export that failed or cannot be done; the message is meant for the user."""


@dataclass(frozen=True)
class ExportInfo:
    """A finished export: its folder, its files by label, and what the user should know about it."""

    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # label -> file name inside folder
    notes: list[str] = field(default_factory=list)
    created_at: float = 0.0

    def path(self, label: str) -> Path:
        return self.folder / self.files[label]


def base_gguf(settings: Settings, base_model: str) -> Path | None:
    """The base model's own GGUF (tokenizer and chat template come from it), or None when it has none."""
    from workbench.models.registry import ModelError, bundled_gguf

    if base_model == BUNDLED_GENERATOR:
        try:
            return bundled_gguf()
        except ModelError:
            return None
    folder = Path(base_model).expanduser()
    found = sorted(folder.glob("*.gguf")) if folder.is_dir() else []
    return found[0] if len(found) == 1 else None


def merge(settings: Settings, name: str, out: Path) -> Path:
    """Base + adapter `name` merged into a standalone HF folder at `out`, in the base's own dtype."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.finetune.model import base_model_path

    info = AdapterRegistry(settings).get(name)
    base = base_model_path(settings, info.base_model)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    dtype = model.config.dtype if isinstance(model.config.dtype, torch.dtype) else torch.float32
    try:
        merged = PeftModel.from_pretrained(model, str(info.path)).merge_and_unload()
    except Exception as e:  # a damaged or mismatched adapter file: peft's own message says which
        raise ExportError(f"could not load adapter '{name}' onto {info.base_model}: {e}") from e
    merged.to(dtype).save_pretrained(str(out))
    AutoTokenizer.from_pretrained(base).save_pretrained(str(out))
    (out / "workbench-adapter.json").write_text(json.dumps(
        {"adapter": name, "base_model": info.base_model, "dataset": info.dataset,
         "dataset_hash": info.dataset_hash, "merged": True}, indent=1))
    return out


def _chatml_system(template: str) -> str | None:
    """The default system prompt a ChatML chat template inserts, or None when the template is not ChatML."""
    if "<|im_start|>" not in template:
        return None
    m = re.search(r"<\|im_start\|>system\\n(.*?)<\|im_end\|>", template.replace("\n", "\\n"))
    return m.group(1).replace("\\n", "\n") if m else ""


def modelfile(gguf_name: str, chat_template: str, lora_name: str | None, base_gguf_name: str | None,
              context_length: int, about: str = "") -> str:
    """An Ollama Modelfile for `gguf_name` (described by the comment `about`): its chat template in Ollama's
    syntax and greedy parameters."""
    lines = [f"# Ollama: `ollama create NAME -f Modelfile` in this folder, then `ollama run NAME`."]
    lines += [f"# {gguf_name}: {about}"] if about else []
    lines.append(f"FROM ./{gguf_name}")
    if lora_name and base_gguf_name:
        lines += ["# Or the base model's GGUF plus the adapter as a GGUF LoRA (same answers, smaller download):",
                  f"#   FROM ./{base_gguf_name}", f"#   ADAPTER ./{lora_name}"]
    system = _chatml_system(chat_template)
    if system is None:
        lines.append("# The chat template is not ChatML: Ollama uses the one stored in the GGUF.")
    else:
        lines.append('TEMPLATE """{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}'
                     '{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}'
                     '<|im_start|>assistant\n{{ .Response }}<|im_end|>\n"""')
        if system:
            lines.append(f'SYSTEM """{system}"""')
        lines.append('PARAMETER stop "<|im_end|>"')
    # The workbench's own generation settings: greedy, so answers match what was evaluated.
    lines += ["PARAMETER temperature 0", "PARAMETER top_p 1", f"PARAMETER num_ctx {context_length}",
              "PARAMETER num_predict 96"]
    return "\n".join(lines) + "\n"


def export(settings: Settings, name: str, file_types=tuple(FILE_TYPES), log: Callable[[str], None] = print,
           progress: Callable[[int, int, str], None] | None = None) -> ExportInfo:
    """Merge adapter `name` and write its GGUF files, GGUF LoRA and Modelfile; replaces an older export."""
    from workbench.finetune.model import base_model_path

    reg = AdapterRegistry(settings)
    info = reg.get(name)
    unknown = [t for t in file_types if t not in FILE_TYPES]
    if unknown:
        raise ExportError(f"unknown GGUF type(s) {', '.join(unknown)}; use {', '.join(FILE_TYPES)}")
    final = info.path / EXPORTS
    tmp = info.path / f".{EXPORTS}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    files: dict[str, str] = {}
    notes: list[str] = []
    total = 2 + len(file_types)
    step = lambda i, msg: progress and progress(i, total, msg)  # noqa: E731
    try:
        step(0, "merging the adapter into the base model")
        merged = merge(settings, name, tmp / MERGED)
        files["merged"] = MERGED
        log(f"merged model written ({_size_mb(merged):.0f} MB)")
        cfg = json.loads((merged / "config.json").read_text())
        src = base_gguf(settings, info.base_model)
        base_weights = Path(base_model_path(settings, info.base_model))  # merge() resolved it already
        step(1, "writing the GGUF LoRA")
        try:
            lora = write_lora(info.path, tmp / f"{name}-lora-f16.gguf", cfg, name)
            files["lora"] = lora.name
            log(f"GGUF LoRA written ({_size_mb(lora):.1f} MB)")
        except GGUFError as e:
            notes.append(f"No GGUF LoRA: {e}.")
        if src is None:
            notes.append(f"No GGUF model files: the base model {info.base_model} has no GGUF to take the "
                         f"tokenizer and chat template from, so the merged model is exported as a Hugging Face "
                         f"folder only (it loads with transformers); llama.cpp's convert_hf_to_gguf.py turns "
                         f"that folder into GGUF.")
            log(notes[-1])
        else:
            for i, ft in enumerate(file_types):
                step(2 + i, f"writing the {ft} GGUF")
                t0 = time.time()
                out = write_model(merged, tmp / f"{name}-{ft}.gguf", ft, src, name, base_weights)
                files[ft] = out.name
                log(f"{ft} GGUF written ({_size_mb(out):.0f} MB, {time.time() - t0:.0f} s)")
            # The smallest first: q4_k_m keeps the adapter's JSON adherence within 5 points on the bundled
            # model (tests/test_exports.py) because the tensors the adapter left alone are the base GGUF's own.
            main = next(t for t in ("q4_k_m", "q8_0", "f16") if t in files)
            jinja = merged / "chat_template.jinja"
            template = jinja.read_text() if jinja.is_file() else ""
            (tmp / "Modelfile").write_text(modelfile(files[main], template, files.get("lora"), src.name,
                                                     int(cfg.get("max_position_embeddings", 2048)),
                                                     ABOUT[main].format(base=src.name)))
            files["modelfile"] = "Modelfile"
        created = time.time()
        (tmp / MANIFEST).write_text(json.dumps({"adapter": name, "base_model": info.base_model, "files": files,
                                                "notes": notes, "created_at": created}, indent=1))
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, AdapterError):
            raise
        raise ExportError(f"Export of adapter '{name}' failed, nothing was changed: {e}") from e
    old = info.path / f".{EXPORTS}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    step(total, "done")
    return ExportInfo(final, files, notes, created)


def read_export(settings: Settings, name: str) -> ExportInfo | None:
    """The adapter's finished export, or None when it has none."""
    folder = AdapterRegistry(settings).get(name).path / EXPORTS
    try:
        meta = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return ExportInfo(folder, meta.get("files", {}), meta.get("notes", []), meta.get("created_at", 0.0))


def merged_zip(info: ExportInfo, name: str) -> bytes:
    """The merged folder as a zip of NAME-merged/ (stored: safetensors do not compress)."""
    buf = io.BytesIO()
    folder = info.path("merged")
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                z.write(f, f"{name}-merged/{f.relative_to(folder)}")
    return buf.getvalue()


def _size_mb(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 1e6
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def launch(settings: Settings, name: str):
    """Queue an export of adapter `name` as a background job; returns the JobStatus."""
    from workbench import jobs

    AdapterRegistry(settings).get(name)  # refuse an unknown adapter before anything is queued
    return jobs.submit(settings, "export", {"adapter": name}, handler="workbench.finetune.export:run_job",
                       name=f"export {name}")


def run_job(ctx) -> dict:
    """Job handler for kind "export"."""
    info = export(ctx.settings, ctx.spec["adapter"], log=ctx.log, progress=ctx.progress)
    for note in info.notes:
        ctx.log(note)
    return {"adapter": ctx.spec["adapter"], "files": info.files, "notes": info.notes}
