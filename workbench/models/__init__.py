"""Model registry and loaders: the bundled embedder and generator, local folders, hub ids."""
from workbench.models.registry import ModelError, ModelInfo, model_inventory, pick_device

__all__ = ["ModelError", "ModelInfo", "model_inventory", "pick_device"]
