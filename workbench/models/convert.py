"""One-time, atomic conversion of the bundled GGUF generator into a normal Hugging Face folder."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from workbench.models.registry import COMPLETE_MARKER, ModelError, bundled_gguf, is_complete


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Dequantize `gguf_path` and save it as an HF folder at `out_dir`; no-op when already done.

    Written into a temporary sibling folder, marked complete, then renamed into place, so a crash
    midway never leaves a folder that a later start would load. A file lock keeps two processes
    from converting at once.
    """
    if is_complete(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_dir.parent / f".{out_dir.name}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_complete(out_dir):  # another process finished while we waited
            return out_dir
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            _convert_into(gguf_path, tmp)
            (tmp / COMPLETE_MARKER).write_text("ok\n")
            if out_dir.exists():  # a stale, incomplete folder from a crashed run
                shutil.rmtree(out_dir)
            os.replace(tmp, out_dir)
        except Exception as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, ModelError):
                raise
            raise ModelError(f"Could not convert {gguf_path.name}: {e}") from e
    return out_dir


def _convert_into(gguf_path: Path, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src_dir, name = str(gguf_path.parent), gguf_path.name
    quantized = AutoModelForCausalLM.from_pretrained(src_dir, gguf_file=name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    # lm_head is tied to the embeddings in SmolLM2, so it may be "missing" harmlessly.
    real_missing = [k for k in missing if not k.startswith("lm_head")]
    if real_missing or unexpected:
        raise ModelError(f"weights do not match the config: missing={real_missing}, unexpected={unexpected}")
    plain.tie_weights()
    plain.save_pretrained(folder)
    AutoTokenizer.from_pretrained(src_dir, gguf_file=name).save_pretrained(folder)


def ensure_bundled_generator(out_dir: Path) -> Path:
    """The converted bundled generator folder, converting on first use."""
    return convert_gguf(bundled_gguf(), out_dir)
