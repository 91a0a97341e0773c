"""4-bit CPU weights: exact packing of 4-bit-grid weights, the kernel against a dense matmul, the real model."""
from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from workbench.models import int4
from workbench.models.int4 import GROUP, Int4Linear, pack_weight, quantize_int4

pytestmark = pytest.mark.skipif(not int4.int4_available(), reason="no CPU int4 kernel in this torch")


def grid_weight(n: int, k: int, seed: int = 0) -> torch.Tensor:
    """Weights as a Q4_1 GGUF stores them: per block of 32, m + d*q with q in 0..15 (both ends used)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k // GROUP, GROUP), generator=g).float()
    q[..., 0], q[..., 1] = 0, 15
    d = torch.rand(n, k // GROUP, 1, generator=g).half().float() * 0.02 + 1e-3
    m = -torch.rand(n, k // GROUP, 1, generator=g).half().float() * 0.1
    return (m + d * q).view(n, k)


def test_grid_weights_pack_without_loss():
    w = grid_weight(64, 128)
    p = pack_weight(w)
    assert p.max_error < 1e-6
    assert p.q.min() >= 0 and p.q.max() <= 15 and p.scales_zeros.shape == (128 // GROUP, 64, 2)


def test_off_grid_weights_are_reported_lossy():
    w = torch.randn(64, 128)
    assert pack_weight(w).max_error > 1e-3


@pytest.mark.parametrize("rows", [1, 4, 11])
def test_int4_layer_matches_a_dense_matmul(rows):
    lin = nn.Linear(128, 96, bias=True)
    with torch.no_grad():
        lin.weight.copy_(grid_weight(96, 128, seed=rows))
    layer = Int4Linear(lin, pack_weight(lin.weight))
    x = torch.randn(1, rows, 128)
    with torch.inference_mode():
        got = layer(x)
        want = nn.functional.linear(x, lin.weight, lin.bias)
    assert got.shape == want.shape and got.dtype == x.dtype
    # bfloat16 compute: about 3 significant digits.
    assert torch.allclose(got, want, rtol=2e-2, atol=2e-2 * want.abs().max().item())


def test_long_inputs_use_the_dense_weight(monkeypatch):
    lin = nn.Linear(64, 32, bias=False)
    with torch.no_grad():
        lin.weight.copy_(grid_weight(32, 64))
    layer = Int4Linear(lin, pack_weight(lin.weight))
    calls = []
    real = torch.ops.aten._weight_int4pack_mm_for_cpu
    monkeypatch.setattr(int4, "DENSE_ABOVE_ROWS", 8)
    monkeypatch.setattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu", lambda *a: calls.append(1) or real(*a))
    with torch.inference_mode():
        layer(torch.randn(1, 8, 64))
        assert len(calls) == 1
        layer(torch.randn(1, 9, 64))
        assert len(calls) == 1, "a 9-row input should take the dense path"


class Tiny(nn.Module):
    def __init__(self, on_grid: bool):
        super().__init__()
        self.model = nn.Module()
        self.model.layers = nn.ModuleList([nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 32))])
        self.lm_head = nn.Linear(32, 10)
        if on_grid:
            with torch.no_grad():
                for i, lin in enumerate(m for m in self.model.layers.modules() if isinstance(m, nn.Linear)):
                    lin.weight.copy_(grid_weight(*lin.weight.shape, seed=i))


def test_quantize_is_lossless_only_by_default():
    off = Tiny(on_grid=False)
    report = quantize_int4(off)
    assert report.layers == 0 and "not on a 4-bit grid" in report.reason
    assert not any(isinstance(m, Int4Linear) for m in off.modules())
    forced = quantize_int4(off, lossless_only=False)
    assert forced.layers == 2 and "lossy" in forced.reason

    on = Tiny(on_grid=True)
    report = quantize_int4(on)
    assert report.layers == 2 and "lossless" in report.reason
    assert type(on.lm_head) is nn.Linear, "the output head stays dense"


@pytest.mark.slow
def test_bundled_generator_decodes_with_lossless_int4(torch_generator):
    """The bundled model is packed (losslessly), and its logits match the dense path."""
    assert torch_generator.int4 and "lossless" in torch_generator.weights_note
    layers = [m for m in torch_generator.model.modules() if isinstance(m, Int4Linear)]
    assert len(layers) == 30 * 7 and max(m.max_error for m in layers) < 1e-5
    ids = torch_generator.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.inference_mode(), torch_generator.lock:
        packed = torch_generator.model(ids).logits[0, -1].float()
        old = int4.DENSE_ABOVE_ROWS
        int4.DENSE_ABOVE_ROWS = -1  # every input through the dense bf16 weights
        try:
            dense = torch_generator.model(ids).logits[0, -1].float()
        finally:
            int4.DENSE_ABOVE_ROWS = old
    assert packed.argmax() == dense.argmax()
    # The same three best tokens (their order may swap on a near-tie: bf16 sums depend on the thread count).
    assert set(torch.topk(packed, 3).indices.tolist()) == set(torch.topk(dense, 3).indices.tolist())
    # Same weights, bf16 rounding in different places: logits agree to a few percent of their range.
    assert (packed - dense).abs().max() < 0.05 * (dense.max() - dense.min())


def test_unknown_weight_format_is_refused_clearly(tmp_path):
    from workbench.models.generator import LocalGenerator
    from workbench.models.registry import ModelError
    from workbench.settings import Settings

    assert Settings.from_env({"WORKBENCH_CPU_WEIGHTS": "dense"}).cpu_weights == "dense"
    with pytest.raises(ModelError, match="WORKBENCH_CPU_WEIGHTS='int3'"):
        LocalGenerator("x", str(tmp_path), "cpu", torch.bfloat16, "int3")


def test_openmp_wait_policy_is_set_before_torch_loads_and_user_values_win():
    """libgomp reads its settings when torch loads it: importing workbench must set them first."""
    import subprocess
    import sys

    code = ("import os, workbench, torch; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["ACTIVE", "1000"]
    out = subprocess.run([sys.executable, "-c", code], env={**env, "OMP_WAIT_POLICY": "PASSIVE"},
                         capture_output=True, text=True, check=True)
    assert out.stdout.split()[0] == "PASSIVE"


@pytest.mark.slow
def test_float32_generator_packs_too_and_keeps_the_rest_in_float32(torch_generator):
    """CPUs without native bf16 run the model in float32: packed layers inside, same top tokens as dense."""
    from workbench.models.generator import GenerationConfig, LocalGenerator

    packed = LocalGenerator("fp32-int4", torch_generator.path, "cpu", torch.float32, "auto")
    dense = LocalGenerator("fp32-dense", torch_generator.path, "cpu", torch.float32, "dense")
    assert packed.int4 and not dense.int4 and dense.weights_note == "dense"
    assert packed.model.lm_head.weight.dtype == torch.float32
    assert packed.model.model.norm.weight.dtype == torch.float32
    ids = packed.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        a = packed.model(ids).logits[0, -1]
        b = dense.model(ids).logits[0, -1]
    assert a.dtype == torch.float32
    assert torch.topk(a, 3).indices.tolist() == torch.topk(b, 3).indices.tolist()
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    assert "Paris" in packed.generate(msgs, GenerationConfig(max_new_tokens=12)).text
