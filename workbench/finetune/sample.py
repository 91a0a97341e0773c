"""One-click sample: the behaviour dataset (one-line JSON answers) stored as a training dataset."""
from __future__ import annotations

from collections.abc import Callable

from workbench.finetune.datasets import DatasetError, parse_dataset, save_dataset
from workbench.sample import behaviour_path
from workbench.settings import Settings

SAMPLE_NAME = "sample-behaviour"


def load(settings: Settings, progress: Callable[[float, str], None] | None = None) -> str:
    """Store the sample behaviour dataset as SAMPLE_NAME (replacing an older copy); returns a summary."""
    path = behaviour_path()
    if progress:
        progress(0.0, "reading the behaviour dataset")
    if not path.is_file():
        raise DatasetError(f"The sample behaviour dataset is missing ({path}).")
    parsed = parse_dataset(path.name, path.read_bytes())
    info = save_dataset(settings, SAMPLE_NAME, parsed.examples, source="sample", shapes=parsed.shapes,
                        overwrite=True)
    if progress:
        progress(1.0, "behaviour dataset stored")
    rejected = f", {len(parsed.errors)} rows rejected" if parsed.errors else ""
    return f"{info.n_examples} examples as dataset '{SAMPLE_NAME}'{rejected}"
