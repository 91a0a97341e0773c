"""`python -m workbench.prepare`: one-time preparation before the app starts (idempotent, fast when done)."""
from __future__ import annotations

import sys
import time

from workbench.models.convert import ensure_bundled_generator
from workbench.models.registry import ModelError, bundled_embedder_dir, converted_generator_dir, is_complete
from workbench.settings import Settings


def main() -> int:
    settings = Settings.from_env().ensure_dirs()
    try:
        bundled_embedder_dir()
        target = converted_generator_dir(settings)
        if not is_complete(target):
            print("Converting the bundled SmolLM2 GGUF into a Hugging Face folder (once, ~30 s)...")
            t0 = time.perf_counter()
            ensure_bundled_generator(target)
            print(f"  done in {time.perf_counter() - t0:.0f} s -> {target}")
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
