"""The fine-tune job spec: one typed, validated record of everything a run depends on."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace

from workbench.settings import BUNDLED_GENERATOR

SCHEDULES = ("constant", "linear", "cosine")
OVERLONG = ("truncate", "drop")
# The decoder's linear layers in Llama-style models (SmolLM2 included); the UI offers the ones the
# chosen model actually has (workbench.finetune.model.linear_layer_names).
ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
ALL_LINEAR = ATTENTION + ("gate_proj", "up_proj", "down_proj")


class SpecError(ValueError):
    """Impossible spec values; the message lists every problem so the user fixes them in one go."""


@dataclass(frozen=True)
class TrainSpec:
    """A LoRA fine-tune of `base_model` on dataset `dataset`, saved as adapter `adapter_name`."""

    dataset: str  # name of a stored dataset (workbench.finetune.datasets)
    adapter_name: str  # name in the adapter registry once the job finishes
    base_model: str = BUNDLED_GENERATOR  # generator name, resolved like the app's generator
    lora_r: int = 8  # adapter rank: 8 is plenty for teaching a format to a 135M model
    lora_alpha: int = 16  # scale = alpha / r; 2x r is the common default
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ATTENTION
    learning_rate: float = 2e-4  # peak LR after warmup
    lr_schedule: str = "cosine"  # one of SCHEDULES, decays from the peak to 0 over the run
    warmup_steps: int = 0  # optimiser steps of linear warmup
    epochs: float = 1.0  # used when max_steps == 0
    max_steps: int = 0  # optimiser steps; 0 = run `epochs` over the training split
    batch_size: int = 8  # examples per micro-batch
    grad_accum: int = 1  # micro-batches per optimiser step
    max_seq_len: int = 512  # tokens, prompt + completion
    overlong: str = "truncate"  # what happens to longer examples: "truncate" or "drop"
    val_fraction: float = 0.1  # share of the dataset held out for validation loss
    val_interval: int = 10  # optimiser steps between validation passes (0: only at the end)
    max_val_examples: int = 32  # caps the cost of each validation pass on CPU
    seed: int = 0
    weight_decay: float = 0.0
    length_bucketing: bool = True  # batch similar lengths together: far less padding on CPU
    # Data-parallel processes (torchrun), each on its share of every batch: 0 = one per CUDA GPU when there
    # are several, else 1. More than 1 without a GPU runs CPU processes (gloo): for tests and big CPU hosts.
    processes: int = 0

    def __post_init__(self):
        object.__setattr__(self, "target_modules", tuple(self.target_modules))
        problems = self.problems()
        if problems:
            raise SpecError("Invalid training spec: " + "; ".join(problems))

    def problems(self) -> list[str]:
        p = []
        if not str(self.dataset).strip():
            p.append("choose a dataset")
        if not str(self.adapter_name).strip():
            p.append("give the adapter a name")
        if not isinstance(self.lora_r, int) or not 1 <= self.lora_r <= 256:
            p.append(f"LoRA r must be an integer from 1 to 256 (got {self.lora_r})")
        if not 0 < self.lora_alpha <= 1024:
            p.append(f"LoRA alpha must be in (0, 1024] (got {self.lora_alpha})")
        if not 0 <= self.lora_dropout < 1:
            p.append(f"dropout must be in [0, 1) (got {self.lora_dropout})")
        if not self.target_modules:
            p.append("pick at least one target module")
        if not (isinstance(self.learning_rate, (int, float)) and math.isfinite(self.learning_rate)
                and 0 < self.learning_rate <= 0.1):
            p.append(f"learning rate must be in (0, 0.1] (got {self.learning_rate})")
        if self.lr_schedule not in SCHEDULES:
            p.append(f"schedule must be one of {', '.join(SCHEDULES)}")
        if self.warmup_steps < 0:
            p.append("warmup steps cannot be negative")
        if self.max_steps < 0:
            p.append("max steps cannot be negative")
        if self.max_steps == 0 and not (0 < self.epochs <= 100):
            p.append(f"epochs must be in (0, 100] when max steps is 0 (got {self.epochs})")
        if not 1 <= self.batch_size <= 512:
            p.append(f"batch size must be from 1 to 512 (got {self.batch_size})")
        if not 1 <= self.grad_accum <= 256:
            p.append(f"gradient accumulation must be from 1 to 256 (got {self.grad_accum})")
        if not 16 <= self.max_seq_len <= 32768:
            p.append(f"max sequence length must be from 16 to 32768 tokens (got {self.max_seq_len})")
        if self.overlong not in OVERLONG:
            p.append(f"over-long examples must be 'truncate' or 'drop' (got {self.overlong!r})")
        if not 0 <= self.val_fraction < 0.9:
            p.append(f"validation fraction must be in [0, 0.9) (got {self.val_fraction})")
        if self.val_interval < 0:
            p.append("validation interval cannot be negative")
        if self.max_val_examples < 1:
            p.append("max validation examples must be at least 1")
        if not isinstance(self.processes, int) or not 0 <= self.processes <= 64:
            p.append(f"processes must be an integer from 0 (one per GPU) to 64 (got {self.processes})")
        elif self.processes > self.batch_size:
            p.append(f"batch size ({self.batch_size}) must be at least the number of processes "
                     f"({self.processes}): each process takes a share of every batch")
        if not 0 <= self.weight_decay < 1:
            p.append("weight decay must be in [0, 1)")
        return p

    def to_json(self) -> dict:
        d = asdict(self)
        d["target_modules"] = list(self.target_modules)
        return d

    @classmethod
    def from_json(cls, d: dict | str) -> "TrainSpec":
        """From a dict or JSON text; unknown keys are an error (a typo must not pass silently)."""
        if isinstance(d, str):
            d = json.loads(d)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise SpecError(f"Unknown spec field(s): {', '.join(unknown)}")
        return cls(**d)

    def with_(self, **changes) -> "TrainSpec":
        return replace(self, **changes)


# Presets fill in everything but the dataset and adapter name.
PRESETS: dict[str, dict] = {
    # Sized for the sample behaviour dataset (320 rows) on a 2-core laptop CPU (160 examples seen, about
    # 18k tokens): 100 s end to end on the 2-core dev machine under load, 2.5 to 7 min on a busier one;
    # the adapter then answered 51 of the 53 sample questions in the house format, against 40 with the
    # sample prompt recipe and 0 for the bare base model (workbench/sample/data/README.md).
    "Quick CPU demo": dict(
        lora_r=8, lora_alpha=16, lora_dropout=0.0, target_modules=ATTENTION, learning_rate=1e-3,
        lr_schedule="cosine", warmup_steps=2, epochs=1.0, max_steps=20, batch_size=8, grad_accum=1,
        max_seq_len=256, overlong="truncate", val_fraction=0.1, val_interval=10, max_val_examples=16,
        seed=0,
    ),
    # A usual single-GPU LoRA recipe: all linear layers, 3 epochs, longer sequences.
    "GPU standard": dict(
        lora_r=16, lora_alpha=32, lora_dropout=0.05, target_modules=ALL_LINEAR, learning_rate=2e-4,
        lr_schedule="cosine", warmup_steps=10, epochs=3.0, max_steps=0, batch_size=16, grad_accum=2,
        max_seq_len=1024, overlong="truncate", val_fraction=0.1, val_interval=25, max_val_examples=128,
        seed=0,
    ),
}


def preset(name: str, dataset: str, adapter_name: str, **overrides) -> TrainSpec:
    """A spec from a preset, with the dataset and adapter name filled in."""
    if name not in PRESETS:
        raise SpecError(f"Unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    return TrainSpec(dataset=dataset, adapter_name=adapter_name, **{**PRESETS[name], **overrides})
