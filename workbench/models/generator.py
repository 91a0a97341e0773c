"""The local generator: a causal LM loaded once per process, chat-templated, streaming."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from workbench.models.convert import ensure_bundled_generator
from workbench.models.registry import ModelError, converted_generator_dir, pick_device, resolve_local
from workbench.settings import Settings
from workbench.types import GenerationStats


@dataclass(frozen=True)
class GenerationConfig:
    """Sampling settings shared by every column of a comparison."""

    max_new_tokens: int = 96  # answers are short; 96 tokens is ~8 s on a 2-core CPU
    temperature: float = 0.0  # 0 means greedy, so runs are repeatable
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class GenerationResult:
    text: str
    stats: GenerationStats
    prompt: str


def resolve_generator_path(settings: Settings, name: str | None = None) -> str:
    """A loadable folder for the generator, converting the bundled GGUF on first use."""
    name = name or settings.generator_model
    if name.startswith("bundled:"):
        return str(ensure_bundled_generator(converted_generator_dir(settings)))
    return resolve_local(name, settings, "generator")


class LocalGenerator:
    """A Hugging Face causal LM plus its tokenizer; one generation at a time per instance."""

    def __init__(self, name: str, path: str, device: str, dtype):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device).eval()
        except Exception as e:
            raise ModelError(f"Could not load the generator '{name}' from {path}: {e}") from e
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.name, self.path, self.device, self.dtype = name, path, device, dtype
        self.lock = threading.RLock()  # the model (and its active adapter) is shared state

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def render(self, messages: list[dict]) -> str:
        """The exact prompt string the model sees for these chat messages."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig(),
               stats_out: list | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; append a GenerationStats to `stats_out` at the end."""
        import torch
        from transformers import TextIteratorStreamer

        prompt = self.render(messages)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        n_prompt = int(inputs["input_ids"].shape[1])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = dict(**inputs, max_new_tokens=cfg.max_new_tokens, streamer=streamer,
                      pad_token_id=self.tokenizer.pad_token_id)
        if cfg.temperature > 0:
            kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        out: dict = {}
        errors: list[BaseException] = []

        def run():
            try:
                with self.lock, torch.inference_mode():
                    torch.manual_seed(cfg.seed)
                    out["ids"] = self.model.generate(**kwargs)
            except BaseException as e:  # surfaced in the caller's thread below
                errors.append(e)
                streamer.end()

        t0 = time.perf_counter()
        ttft = None
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        for piece in streamer:
            if ttft is None and piece:
                ttft = time.perf_counter() - t0
            yield piece
        worker.join()
        if errors:
            raise ModelError(f"Generation failed: {errors[0]}")
        n_out = int(out["ids"].shape[1]) - n_prompt
        if stats_out is not None:
            stats_out.append(GenerationStats(time.perf_counter() - t0, ttft, n_prompt, n_out))

    def generate(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig()) -> GenerationResult:
        """The whole answer at once, with its stats."""
        stats: list[GenerationStats] = []
        text = "".join(self.stream(messages, cfg, stats_out=stats))
        return GenerationResult(text.strip(), stats[0], self.render(messages))


@lru_cache(maxsize=2)
def _load(name: str, path: str, device: str, dtype_name: str) -> LocalGenerator:
    import torch

    return LocalGenerator(name, path, device, getattr(torch, dtype_name))


def load_generator(settings: Settings, name: str | None = None) -> LocalGenerator:
    """The generator named `name` (default: settings.generator_model), loaded once per process."""
    name = name or settings.generator_model
    path = resolve_generator_path(settings, name)
    device, dtype = pick_device(settings)
    return _load(name, str(Path(path)), device, str(dtype).removeprefix("torch."))


def loaded_generators() -> int:
    """How many generators this process holds (System page)."""
    return _load.cache_info().currsize
