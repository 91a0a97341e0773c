"""Local generation: `ChatModel` (what every engine shares), the transformers engine, and the engine choice.

`ChatModel` holds the tokenizer and chat template, fits prompts into the context window and checks adapters;
`LocalGenerator` (below) generates with transformers; `workbench/models/llama_engine.py` with llama.cpp, which
`engine_for` picks on CPU for the bundled model (WORKBENCH_ENGINE). Either is shared per process through
workbench.resources. What follows describes the transformers engine.

LoRA adapters attach to the one shared base model (transformers' PEFT integration:
`load_adapter` once per adapter folder, then `set_adapter` / `disable_adapters` per generation), all
under `LocalGenerator.lock`, so concurrent sessions each get the adapter they asked for without a
second copy of the base weights. Prompts longer than the context window are trimmed with a note.
Greedy decoding uses prompt-lookup (n-gram) speculation: identical output, faster when the answer
copies its context, as RAG answers do. On CPU torch uses the cores other processes left free when the
process loaded its first model (workbench/models/threads.py). On CPU the decoder's weights are packed
into 4 bits where that is lossless (workbench/models/int4.py), so decoding reads far fewer bytes: with
prompt lookup about 2.9x the tokens/s of plain fp32 `generate` on the bundled model where the CPU runs
bf16 natively, 1.6x where it does not.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from workbench.models.convert import ensure_bundled_generator
from workbench.models.registry import ModelError, converted_generator_dir, generation_device, resolve_local
from workbench.models.threads import configure_torch_threads
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
    note: str | None = None  # e.g. "prompt trimmed to fit the context window"


@dataclass(frozen=True)
class PreparedPrompt:
    """Chat messages after fitting them into the context window, and the exact prompt they render to."""

    messages: list
    prompt: str
    prompt_tokens: int
    note: str | None = None  # set when something was cut to fit


WEIGHT_NOTES: dict[str, str] = {}  # generator name -> weight format of the copy this process loaded


class AdapterError(ModelError):
    """An adapter cannot be used with the loaded base model; the message says why."""


# Draft length for prompt-lookup decoding, measured best on the bundled model (bench/generate.py):
# 10 with dense weights, 3 with 4-bit weights.
PROMPT_LOOKUP_TOKENS = 10
PROMPT_LOOKUP_TOKENS_INT4 = 3
# Requests per batched generate. A GPU step costs about the same for 8 rows as for 1 (it reads the weights;
# not yet measured here: gpu-check's eval_batch_speedup reports it). On CPU batching lost, measured on 2 cores
# (sample evaluation, 36 answers): 0.58 answers/s one at a time (int4 weights, prompt lookup), 0.44 four at a
# time, 0.50 eight at a time; dense bf16 0.39 vs 0.33; bench/eval_batch.py's run tied, 0.54 vs 0.53. One at a
# time keeps prompt lookup, which rows in a batch cannot use.
BATCH_GPU = 8
BATCH_CPU = 1
# Config fields that must agree for a LoRA adapter's weights to fit the base model.
_SHAPE_FIELDS = ("model_type", "hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size")


def batch_width(device: str) -> int:
    """Greedy requests one batched `generate` answers at once on `device` (models/batching.py)."""
    return BATCH_GPU if device != "cpu" else BATCH_CPU


def _adapter_key(path: Path) -> str:
    """A stable PEFT adapter name for a folder; changes when the weights file changes."""
    weights = next((f for f in (path / "adapter_model.safetensors", path / "adapter_model.bin") if f.is_file()),
                   None)
    stamp = f"{weights.stat().st_mtime_ns}:{weights.stat().st_size}" if weights else ""
    return "a_" + hashlib.sha1(f"{path.resolve()}|{stamp}".encode()).hexdigest()[:12]


def resolve_generator_path(settings: Settings, name: str | None = None) -> str:
    """A loadable folder for the generator, converting the bundled GGUF on first use."""
    name = name or settings.generator_model
    if name.startswith("bundled:"):
        return str(ensure_bundled_generator(converted_generator_dir(settings)))
    return resolve_local(name, settings, "generator")


class ChatModel:
    """What every local engine shares: the tokenizer and chat template, fitting prompts into the context
    window, and checking that an adapter was trained on this base. Subclasses set `tokenizer`, `config`
    (the HF model config), `name` and `path`, and implement `stream`."""

    tokenizer = None
    config = None
    name: str = ""
    path: str = ""

    @property
    def context_window(self) -> int:
        return int(getattr(self.config, "max_position_embeddings", 2048))

    def render(self, messages: list[dict]) -> str:
        """The exact prompt string the model sees for these chat messages."""
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def check_adapter(self, adapter_path: str | Path) -> dict:
        """The adapter's PEFT config; raises AdapterError if it is missing or made for another base model."""
        folder = Path(adapter_path).expanduser()
        cfg_file = folder / "adapter_config.json"
        if not cfg_file.is_file():
            raise AdapterError(f"{folder} is not a PEFT adapter folder (no adapter_config.json).")
        try:
            acfg = json.loads(cfg_file.read_text())
        except (OSError, ValueError) as e:
            raise AdapterError(f"The adapter config {cfg_file} cannot be read: {e}") from e
        base = str(acfg.get("base_model_name_or_path") or "")
        mine = self.config
        base_dir = Path(base).expanduser() if base else None
        if base_dir is not None and (base_dir / "config.json").is_file():
            try:
                theirs = json.loads((base_dir / "config.json").read_text())
            except (OSError, ValueError):
                theirs = {}
            diff = [f"{k}: adapter {theirs.get(k)} vs loaded {getattr(mine, k, None)}"
                    for k in _SHAPE_FIELDS if k in theirs and theirs.get(k) != getattr(mine, k, None)]
            if diff:
                raise AdapterError(
                    f"The adapter '{folder.name}' was trained on '{base}', which is not the loaded base model "
                    f"'{self.name}' ({'; '.join(diff)}). Pick an adapter trained on '{self.name}'.")
        elif base:
            known = {Path(self.path).name.lower(), self.name.removeprefix("bundled:").lower().split("/")[-1]}
            if base.rstrip("/").split("/")[-1].lower() not in known:
                raise AdapterError(
                    f"The adapter '{folder.name}' was trained on '{base}', but the loaded base model is "
                    f"'{self.name}'. Pick an adapter trained on '{self.name}'.")
        return acfg

    def prepare(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig()) -> PreparedPrompt:
        """Fit `messages` into the context window minus cfg.max_new_tokens, noting anything cut."""
        budget = self.context_window - cfg.max_new_tokens
        if budget < 32:
            raise ModelError(f"max_new_tokens={cfg.max_new_tokens} leaves no room for a prompt in the "
                             f"{self.context_window}-token context window.")
        msgs = [dict(m) for m in messages]
        prompt = self.render(msgs)
        n = self.count_tokens(prompt)
        if n <= budget:
            return PreparedPrompt(msgs, prompt, n)
        dropped = 0
        # Oldest earlier turns go first: the current question and the system prompt matter most.
        while n > budget:
            idx = [i for i, m in enumerate(msgs[:-1]) if m["role"] != "system"]
            if not idx:
                break
            del msgs[idx[0]]
            dropped += 1
            prompt = self.render(msgs)
            n = self.count_tokens(prompt)
        cut = 0
        if n > budget:
            # Cut the middle of the last message: its head holds the instruction (and the first,
            # best-ranked passages), its tail the question itself.
            ids = self.tokenizer(msgs[-1]["content"], add_special_tokens=False)["input_ids"]
            cut = n - budget + 8
            if cut >= len(ids) - 16:
                raise ModelError("The prompt does not fit the context window even after trimming.")
            keep_head = (len(ids) - cut) // 2
            keep_tail = len(ids) - cut - keep_head
            msgs[-1]["content"] = (self.tokenizer.decode(ids[:keep_head]) + "\n[...]\n"
                                   + self.tokenizer.decode(ids[len(ids) - keep_tail:]))
            prompt = self.render(msgs)
            n = self.count_tokens(prompt)
        parts = []
        if dropped:
            parts.append(f"dropped the {dropped} oldest conversation message(s)")
        if cut:
            parts.append(f"cut about {cut} tokens from the middle of the question")
        note = (f"Prompt trimmed to fit the {self.context_window}-token context window "
                f"({cfg.max_new_tokens} kept for the answer): " + " and ".join(parts) + ".")
        return PreparedPrompt(msgs, prompt, n, note)

    def generate(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig(),
                 adapter: str | Path | None = None) -> GenerationResult:
        """The whole answer at once, with its stats (and the adapter, when given)."""
        stats: list[GenerationStats] = []
        prepared: list[PreparedPrompt] = []
        text = "".join(self.stream(messages, cfg, stats_out=stats, adapter=adapter, prepared_out=prepared))
        return GenerationResult(text.strip(), stats[0], prepared[0].prompt, prepared[0].note)



class LocalGenerator(ChatModel):
    """A Hugging Face causal LM plus its tokenizer (transformers). Greedy requests that arrive together share
    one batched `generate` (up to `parallel`); each streams, stops and counts on its own."""

    engine = "transformers"

    def __init__(self, name: str, path: str, device: str, dtype, weights: str = "dense"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if weights not in ("auto", "int4", "dense"):
            raise ModelError(f"WORKBENCH_CPU_WEIGHTS={weights!r}: use auto, int4 or dense.")
        configure_torch_threads()
        # 4-bit packing is for CPU decoding; "auto" only where it is lossless (int4.quantize_int4). With
        # float32 (CPUs without native bf16) the rest of the model stays float32 and only the packed
        # layers compute in bf16: ~1.7x fp32 in an AVX2-only run (bench/RESULTS.md).
        pack = device == "cpu" and weights in ("auto", "int4")
        self.int4, self.weights_note = False, "dense"
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path)
            # Packing checks exactness on the float32 weights, so load those first when packing.
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32 if pack else dtype)
            if pack:
                from workbench.models.int4 import quantize_int4

                report = quantize_int4(model, lossless_only=weights == "auto")
                self.int4 = report.layers > 0
                self.weights_note = f"int4: {report.reason}" if self.int4 else f"dense ({report.reason})"
                model = model.to(dtype)
            self.model = model.to(device).eval()
        except Exception as e:
            raise ModelError(f"Could not load the generator '{name}' from {path}: {e}") from e
        WEIGHT_NOTES[name] = self.weights_note
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.name, self.path, self.device, self.dtype = name, path, device, dtype
        self.config = self.model.config
        self.lock = threading.RLock()  # the model (and its active adapter) is shared state
        self.adapters: dict[str, str] = {}  # PEFT adapter name -> folder, attached to self.model
        # Greedy only: sampling with speculation would change the output distribution's seed path.
        # Fewer draft tokens with 4-bit weights: their kernel's cost grows faster with the rows checked.
        self.prompt_lookup_tokens: int | None = PROMPT_LOOKUP_TOKENS_INT4 if self.int4 else PROMPT_LOOKUP_TOKENS
        from workbench.models.batching import Batcher

        # Requests answered in one batched generate (answer_all writes this many side by side).
        self._batcher = Batcher(batch_width(device), self._generate)

    def _activate(self, adapter_path: str | Path | None) -> None:
        """Make `adapter_path` the only active adapter (None: plain base model). Caller holds the lock."""
        if adapter_path is None:
            if self.adapters:
                self.model.disable_adapters()
            return
        folder = Path(adapter_path).expanduser()
        name = _adapter_key(folder)
        if name not in self.adapters:
            self.check_adapter(folder)
            try:
                self.model.load_adapter(str(folder), adapter_name=name)
            except Exception as e:
                raise AdapterError(f"The adapter '{folder.name}' could not be attached to '{self.name}': {e}") from e
            self.adapters[name] = str(folder)
        self.model.set_adapter(name)
        self.model.enable_adapters()

    def detach_adapters(self) -> None:
        """Remove every attached adapter, leaving the plain base model (frees their memory)."""
        with self.lock:
            if self.adapters:
                self.model.delete_adapter(list(self.adapters))
                self.adapters.clear()

    def active_adapter(self) -> str | None:
        """Folder of the adapter the next generation would use if nothing changed it (tests, System page)."""
        if not self.adapters:
            return None
        from peft.tuners.tuners_utils import BaseTunerLayer

        for module in self.model.modules():
            if isinstance(module, BaseTunerLayer):
                if module.disable_adapters:
                    return None
                return self.adapters.get(module.active_adapters[0])
        return None

    def stream(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig(),
               stats_out: list | None = None, adapter: str | Path | None = None,
               prepared_out: list | None = None) -> Iterator[str]:
        """Yield text pieces as they are generated; append a GenerationStats to `stats_out` at the end.

        `adapter`: a PEFT adapter folder to generate with (None: the plain base model).
        `prepared_out` receives the PreparedPrompt actually sent (with its trimming note).
        Greedy requests that arrive together with the same adapter and budget share one batched `generate`
        (models/batching.py, up to `parallel` at once); a lone one, or a sampled one, runs on its own.
        """
        from workbench.models.batching import Request

        if adapter is not None:
            self.check_adapter(adapter)  # refuse early, before any thread starts
        prepared = self.prepare(messages, cfg)
        if prepared_out is not None:
            prepared_out.append(prepared)
        ids = self.tokenizer(prepared.prompt, add_special_tokens=False)["input_ids"]
        folder = None if adapter is None else str(Path(adapter).expanduser().resolve())
        greedy = cfg.temperature <= 0
        # Sampled answers never share a batch: each keeps its own seed path (the object() key is unique).
        req = Request(ids, (folder, cfg) if greedy else (object(),), cfg=cfg, adapter=adapter)
        try:
            yield from self._batcher.submit(req)
        except ModelError:
            raise
        except Exception as e:
            raise ModelError(f"Generation failed: {e}") from e
        if stats_out is not None:
            from workbench.models.batching import stats_for

            stats_out.append(stats_for(req))

    @property
    def parallel(self) -> int:
        return self._batcher.width

    @parallel.setter
    def parallel(self, width: int) -> None:
        self._batcher.width = max(1, int(width))

    def _eos(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        eos = [eos] if isinstance(eos, int) else list(eos or [])
        return set(eos) | ({self.tokenizer.eos_token_id} if self.tokenizer.eos_token_id is not None else set())

    def _generate(self, reqs: list) -> None:
        """One `generate` for `reqs` (one key: the same settings and adapter), streaming each row to its request;
        several are read one by one and then decoded together (`_prefill_rows`)."""
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        from workbench.models.batching import RowStreamer

        cfg, adapter = reqs[0].cfg, reqs[0].adapter
        width = max(len(r.ids) for r in reqs)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(r.ids)) + r.ids for r in reqs], device=self.device)
        mask = torch.tensor([[0] * (width - len(r.ids)) + [1] * len(r.ids) for r in reqs], device=self.device)

        class RowsCancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                return torch.tensor([r.cancel.is_set() for r in reqs], dtype=torch.bool, device=input_ids.device)

        kwargs = dict(input_ids=input_ids, attention_mask=mask, max_new_tokens=cfg.max_new_tokens,
                      pad_token_id=pad, streamer=RowStreamer(self.tokenizer, reqs, self._eos()),
                      stopping_criteria=StoppingCriteriaList([RowsCancelled()]))
        if cfg.temperature > 0:
            kwargs.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if self.prompt_lookup_tokens and len(reqs) == 1:  # prompt lookup runs one sequence at a time
                kwargs.update(prompt_lookup_num_tokens=self.prompt_lookup_tokens)
        with self.lock, torch.inference_mode():
            self._activate(adapter)
            torch.manual_seed(cfg.seed)
            if len(reqs) > 1 and min(len(r.ids) for r in reqs) > 1:
                kwargs["past_key_values"] = self._prefill_rows(reqs, width)
            self.model.generate(**kwargs)

    def _prefill_rows(self, reqs: list, width: int):
        """Each prompt but its last token read on its own (no padding: a batch of prompts of unequal length
        would compute every pad), the caches then stacked left-padded for the batched steps that follow."""
        import torch
        from transformers import DynamicCache

        caches = [self.model(torch.tensor([r.ids[:-1]], device=self.device), use_cache=True).past_key_values
                  for r in reqs]
        layers = []
        for i in range(len(caches[0].layers)):
            per = [(c.layers[i].keys, c.layers[i].values) for c in caches]

            def padded(t):  # [1, heads, n, dim] -> [1, heads, width - 1, dim], zeros first (masked out)
                return torch.nn.functional.pad(t, (0, 0, width - 1 - t.shape[2], 0))

            layers.append((torch.cat([padded(k) for k, _ in per]), torch.cat([padded(v) for _, v in per])))
        return DynamicCache(ddp_cache_data=layers)


def engine_for(settings: Settings, name: str | None = None) -> str:
    """Which engine serves generator `name`: "llama.cpp" or "transformers" (WORKBENCH_ENGINE, see Settings)."""
    name = name or settings.generator_model
    want = settings.engine
    if want not in ("auto", "llama.cpp", "transformers"):
        raise ModelError(f"WORKBENCH_ENGINE={want!r}: use auto, llama.cpp or transformers.")
    if want == "transformers":
        return want
    from workbench.models import llama_engine

    bundled = name.startswith("bundled:")
    if want == "llama.cpp":
        if not bundled:
            raise ModelError(f"WORKBENCH_ENGINE=llama.cpp serves the bundled model only; '{name}' has no GGUF "
                             "here. Use WORKBENCH_ENGINE=auto or transformers.")
        if not llama_engine.available():
            raise ModelError("WORKBENCH_ENGINE=llama.cpp, but the xllamacpp wheel is not installed (make prepare).")
        return want
    device, _ = generation_device(settings)
    return "llama.cpp" if bundled and device == "cpu" and llama_engine.available() else "transformers"


def load_generator(settings: Settings, name: str | None = None) -> ChatModel:
    """A new generator named `name` (default: settings.generator_model); workbench.resources.generator shares one."""
    name = name or settings.generator_model
    path = resolve_generator_path(settings, name)

    def transformers_engine() -> LocalGenerator:
        device, dtype = generation_device(settings)
        return LocalGenerator(name, str(Path(path)), device, dtype, settings.cpu_weights)

    if engine_for(settings, name) == "transformers":
        return transformers_engine()
    from workbench.models import llama_engine

    gguf = llama_engine.serving_gguf(settings, Path(path))
    # The process's one CPU thread count (models/threads.py), decided at the first model load.
    gen = llama_engine.LlamaCppGenerator(name, str(path), gguf, settings.models_dir / "gguf-lora",
                                         configure_torch_threads(), fallback=transformers_engine,
                                         prompt_cache=settings.prompt_cache)
    WEIGHT_NOTES[name] = gen.weights_note
    return gen
