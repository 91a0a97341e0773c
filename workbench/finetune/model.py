"""The base model for training: where it lives, which linear layers it has, how it is loaded."""
from __future__ import annotations

from functools import lru_cache

from workbench.models.generator import resolve_generator_path
from workbench.models.registry import pick_device
from workbench.models.threads import configure_torch_threads
from workbench.settings import Settings


def base_model_path(settings: Settings, name: str) -> str:
    """The Hugging Face folder of the base model (the bundled generator is converted on first use)."""
    return resolve_generator_path(settings, name)


@lru_cache(maxsize=4)
def _linear_names(path: str) -> tuple[str, ...]:
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(path)
    with init_empty_weights():  # structure only: no weights are read
        model = AutoModelForCausalLM.from_config(config)
    out_emb = model.get_output_embeddings()
    names = {name.rsplit(".", 1)[-1] for name, m in model.named_modules()
             if isinstance(m, torch.nn.Linear) and m is not out_emb}
    return tuple(sorted(names))


def linear_layer_names(settings: Settings, name: str) -> tuple[str, ...]:
    """Names (last path part) of the model's linear layers that LoRA can target; lm_head excluded."""
    return _linear_names(base_model_path(settings, name))


def device_for_training(settings: Settings):
    """(device, dtype, label): CUDA with bf16/fp16 autocast when present, else CPU fp32."""
    import torch

    device, dtype = pick_device(settings)
    if device == "cuda":
        return device, dtype, f"GPU ({torch.cuda.get_device_name(0)}, {str(dtype).removeprefix('torch.')})"
    return device, torch.float32, f"CPU ({torch.get_num_threads()} threads, fp32)"


def load_for_training(settings: Settings, spec):
    """(peft model with fresh LoRA weights, tokenizer, device, autocast dtype or None, device label)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = base_model_path(settings, spec.base_model)
    available = set(_linear_names(path))
    missing = [t for t in spec.target_modules if t not in available]
    if missing:
        raise ValueError(f"target module(s) {', '.join(missing)} not in this model; it has {', '.join(sorted(available))}")
    configure_torch_threads()  # before the label reads the count; a job's process is its own
    device, dtype, label = device_for_training(settings)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Weights stay fp32 (the LoRA optimiser state needs it); GPUs compute in bf16/fp16 via autocast.
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    torch.manual_seed(spec.seed)
    lora = LoraConfig(r=spec.lora_r, lora_alpha=spec.lora_alpha, lora_dropout=spec.lora_dropout,
                      target_modules=list(spec.target_modules), task_type="CAUSAL_LM", bias="none")
    model = get_peft_model(model, lora)
    autocast = dtype if device == "cuda" else None
    return model, tokenizer, device, autocast, label, path
