"""4-bit weights for CPU decoding, lossless for models that already live on a 4-bit grid.

Decoding one token at a time is bound by how fast the CPU can read the weights, so fewer bytes per
weight means more tokens per second. The bundled generator comes from a Q4_1 GGUF file: each block of 32
weights along a row is `m + d*q` with q in 0..15. Those exact values survive the conversion to a normal
Hugging Face folder (in fp32), so they can be packed back into 4 bits with group size 32 and *no* loss:
`w = (q - 8) * d + (m + 8d)` is torch's int4 format (`_convert_weight_to_int4pack_for_cpu`,
`_weight_int4pack_mm_for_cpu`). That kernel computes in bfloat16, which is where the (small) numeric
difference from an fp32 run comes from, the same as plain bfloat16 weights.

`quantize_int4(model)` replaces the decoder's Linear layers with `Int4Linear`. Each keeps a dense copy of
its weight for long inputs (prefill of a RAG prompt, where the 4-bit kernel is slower than a dense
matmul) and for PEFT, which wraps it like any `nn.Linear` (LoRA adds its own product on top). With
`lossless_only=True` (the default, what WORKBENCH_CPU_WEIGHTS=auto uses) nothing is replaced unless every
layer's weights are exactly representable; other models keep dense weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

GROUP = 32  # GGUF Q4_0/Q4_1 block size; one of the group sizes torch's int4 kernel accepts
# Inputs with more rows than this (prefill) use the dense weight; decoding and prompt-lookup
# verification (1 + a few draft tokens) use the 4-bit kernel.
DENSE_ABOVE_ROWS = 32
# A layer counts as lossless when re-packing changes no weight by more than this (fp32 rounding).
LOSSLESS_TOL = 1e-5


def int4_available() -> bool:
    """Whether this torch build has the CPU int4 kernels."""
    return hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu") and hasattr(
        torch.ops.aten, "_convert_weight_to_int4pack_for_cpu")


@dataclass(frozen=True)
class Packed:
    q: torch.Tensor  # int32 [out, in], values 0..15
    scales_zeros: torch.Tensor  # float32 [in / GROUP, out, 2]
    max_error: float  # largest |dequantized - original| over the layer


def pack_weight(weight: torch.Tensor) -> Packed:
    """Asymmetric 4-bit, one scale and offset per group of 32 inputs (min/max), with its error."""
    w = weight.detach().float()
    n, k = w.shape
    blocks = w.view(n, k // GROUP, GROUP)
    lo = blocks.amin(-1, keepdim=True)
    hi = blocks.amax(-1, keepdim=True)
    scale = ((hi - lo) / 15).clamp_min(torch.finfo(torch.float32).tiny)
    q = torch.round((blocks - lo) / scale).clamp_(0, 15)
    zero = lo + 8 * scale
    err = float(((q - 8) * scale + zero - blocks).abs().max())
    sz = torch.stack([scale.squeeze(-1).t(), zero.squeeze(-1).t()], dim=-1).contiguous()
    return Packed(q.to(torch.int32).view(n, k), sz, err)


class Int4Linear(nn.Linear):
    """An `nn.Linear` whose short inputs run on packed 4-bit weights (bfloat16 compute)."""

    def __init__(self, linear: nn.Linear, packed: Packed):
        super().__init__(linear.in_features, linear.out_features, bias=linear.bias is not None, device="meta")
        self.weight = linear.weight  # dense copy: prefill and PEFT
        self.bias = linear.bias
        self.register_buffer("qweight", torch.ops.aten._convert_weight_to_int4pack_for_cpu(packed.q, 1),
                             persistent=False)
        self.register_buffer("scales_zeros", packed.scales_zeros.to(torch.bfloat16), persistent=False)
        self.max_error = packed.max_error

    def _apply(self, fn, recurse=True):
        # model.to(dtype) casts every float buffer; the kernel needs its scales in bfloat16 (a bf16 -> fp32
        # -> bf16 round trip is exact, so nothing is lost).
        super()._apply(fn, recurse)
        if self.scales_zeros.dtype != torch.bfloat16:
            self.scales_zeros = self.scales_zeros.to(torch.bfloat16)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // x.shape[-1]
        if rows > DENSE_ABOVE_ROWS or x.device.type != "cpu" or torch.is_grad_enabled():
            return F.linear(x.to(self.weight.dtype), self.weight, self.bias).to(x.dtype)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(
            x.reshape(rows, x.shape[-1]).to(torch.bfloat16), self.qweight, GROUP, self.scales_zeros)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype)
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)


@dataclass(frozen=True)
class QuantReport:
    layers: int  # Linear layers replaced (0: none)
    max_error: float  # largest weight change over all candidate layers
    reason: str  # one line for the System page / logs


def _candidates(model: nn.Module) -> list[tuple[nn.Module, str, nn.Linear]]:
    """Plain Linear layers inside the decoder blocks (not the embedding / lm_head)."""
    base = getattr(model, "model", model)
    layers = getattr(base, "layers", None)
    if layers is None:
        return []
    out = []
    for block in layers:
        for parent in block.modules():
            for name, child in parent.named_children():
                if type(child) is nn.Linear and child.in_features % GROUP == 0:
                    out.append((parent, name, child))
    return out


def quantize_int4(model: nn.Module, lossless_only: bool = True, tol: float = LOSSLESS_TOL) -> QuantReport:
    """Replace the decoder's Linear layers by Int4Linear in place (see the module docstring).

    Call it on a CPU model whose weights are still in float32, so exactness can be checked; the dense
    copies may be cast to bfloat16 afterwards.
    """
    if not int4_available():
        return QuantReport(0, float("nan"), "this torch build has no CPU int4 kernel")
    cands = _candidates(model)
    if not cands:
        return QuantReport(0, float("nan"), "no decoder Linear layers found")
    replacements = []  # nothing is swapped in until every layer has passed the check
    worst = 0.0
    for parent, name, lin in cands:
        if lin.weight.device.type != "cpu":
            return QuantReport(0, float("nan"), "the model is not on the CPU")
        p = pack_weight(lin.weight)
        worst = max(worst, p.max_error)
        if lossless_only and p.max_error > tol:
            return QuantReport(0, p.max_error, f"weights are not on a 4-bit grid (max change {p.max_error:.2g}); "
                                               "kept dense")
        # Packed now, so only the 4-bit form is held (not an int32 per weight for the whole model).
        replacements.append((parent, name, Int4Linear(lin, p)))
    for parent, name, layer in replacements:
        setattr(parent, name, layer)
    kind = "lossless" if worst <= tol else f"lossy, max weight change {worst:.2g}"
    return QuantReport(len(cands), worst, f"{len(cands)} layers in 4-bit ({kind})")
