"""Fine-tuning: datasets (datasets.py), the job spec (spec.py), the LoRA loop (train.py), data-parallel
training through torchrun (distributed.py), the adapter registry (adapters.py), the sample dataset loader
(sample.py) and a synthetic QA builder (synthetic.py).

A fine-tune runs as a background job of kind "finetune" (workbench.jobs); `launch` validates and queues one.
"""
from __future__ import annotations

from workbench.finetune.spec import PRESETS, SpecError, TrainSpec, preset
from workbench.settings import Settings


def launch(settings: Settings, spec: TrainSpec):
    """Check the spec against what exists (dataset, adapter name), then queue it; returns the JobStatus."""
    from workbench import jobs
    from workbench.finetune.adapters import AdapterRegistry
    from workbench.finetune.datasets import DatasetError, get_dataset
    from workbench.names import check_name

    problems = []
    try:
        info = get_dataset(settings, spec.dataset)
        if info.n_examples < 2:
            problems.append(f"dataset '{spec.dataset}' has {info.n_examples} example(s); at least 2 are needed")
    except DatasetError as e:
        problems.append(str(e))
    try:
        check_name(spec.adapter_name, "adapter")
        if AdapterRegistry(settings).exists(spec.adapter_name):
            problems.append(f"an adapter named '{spec.adapter_name}' exists already")
    except ValueError as e:
        problems.append(str(e))
    try:
        from workbench.finetune.model import linear_layer_names

        available = linear_layer_names(settings, spec.base_model)
        missing = [m for m in spec.target_modules if m not in available]
        if missing:
            problems.append(f"target module(s) {', '.join(missing)} are not linear layers of {spec.base_model} "
                            f"(it has {', '.join(available)})")
    except Exception as e:  # a missing or broken base model is reported, not raised
        problems.append(f"base model {spec.base_model} unavailable: {e}")
    if problems:
        raise SpecError("Cannot start: " + "; ".join(problems))
    return jobs.submit(settings, "finetune", spec.to_json(), handler="workbench.finetune.train:run_job",
                       name=spec.adapter_name, lane="training")


__all__ = ["PRESETS", "SpecError", "TrainSpec", "launch", "preset"]
