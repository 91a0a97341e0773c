"""The bundled generator served by llama.cpp inside this process (the prebuilt `xllamacpp` wheel): the CPU engine.

Measured on the 2-core dev machine (bench/generate.py, bench/RESULTS.md): llama.cpp decodes the bundled
model about twice as fast as torch. On CPU the workbench serves it from a GGUF written once from the
converted folder (`serving_gguf`), in the type WORKBENCH_GGUF_SERVING names: "q8_0" by default (the bundled
Q4_1 weights to within 1/16 of their own quantization step, and llama.cpp prefills Q8_0 about 1.6x faster
than Q4_1 on this CPU: its int8 kernels need no 4-bit unpacking), "source" (the bundled file as it is) or
"q4_0" (faster again, but re-quantizing the 4-bit weights onto another 4-bit grid cost the sample's RAG
answers most of their facts, measured: not for this model). Greedy answers use llama.cpp's n-gram
speculation (drafts copied from the prompt, checked in one batch: the same tokens, faster when an answer
quotes its passages, as RAG answers do).

Prompts are rendered and fitted by the same tokenizer and chat template as the transformers path (ChatModel)
and sent as token ids, so both engines see the same tokens. LoRA adapters are converted once to GGUF LoRAs
(`finetune.gguf_export.write_lora`, cached under the models folder) and applied per request on the one loaded
base (llama-server's per-request `lora` scales); a new adapter restarts the server with the longer list (a
fraction of a second). An adapter that cannot become a GGUF LoRA is answered by the transformers path, and the
answer's note says so. Several requests at once run in parallel slots (continuous batching).

With `prompt_cache` (WORKBENCH_PROMPT_CACHE=1; off by default, see Settings.prompt_cache) prompt prefixes are
read once: everything before the last user turn (a recipe's instructions
and few-shot examples, the same ~560 tokens on every prompted, RAG and hybrid question; an arena conversation's
earlier turns) is first read on its own into the request's slot, or found there or in llama.cpp's in-memory
prompt cache, and the rest of the prompt is read after it. The split is always at that message boundary, never
where an earlier prompt happened to stop matching: llama.cpp rounds a row differently with the length of the
cache it attends over, so a split that moved with history made greedy answers depend on what was asked before
(measured: the freshness demo's RAG answer turned to garbage after other questions). Fixed splits gave the same
answers whatever came before in the tests (not guaranteed: llama.cpp still reuses the common opening a head
shares with an earlier prompt, and re-reads a found head's last token alone, which the head request repeats so
both paths end alike). Measured on the sample evaluation (bench/eval_batch.py, 36 answers): 1.47-1.51x the
answers per second of reading every prompt whole (an earlier split wherever a slot's prompt stopped matching: 1.63x). On 2 cores the slots' batched steps add nothing measurable
(decode there is bound by arithmetic, not by reading the weights).
"""
from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from workbench.models.generator import (
    ChatModel,
    GenerationConfig,
    PreparedPrompt,
    _adapter_key,
)
from workbench.models.registry import ModelError
from workbench.settings import Settings
from workbench.types import GenerationStats

SLOT_CONTEXT = 4096  # tokens per parallel slot: prompt plus answer (longer prompts are trimmed to fit)
SLOTS = 4  # requests answered at once (evaluation runs, several arena columns)
# llama.cpp's n-gram speculation: drafts copied from the prompt and checked in one batch (same tokens).
NGRAM_SPECULATION = True
# Prompt states kept in memory beyond the slots' own (llama-server's default is 8 GiB): ~23 KB per token for the
# bundled model, so about 20,000 tokens: a conversation's earlier turns, a re-run's questions.
CACHE_RAM_MIB = 512
MIN_PREFIX = 48  # a shorter shared prefix (a bare question's system line) is not worth a request of its own
_DONE = object()


def available() -> bool:
    """Whether the llama.cpp wheel can be imported here."""
    try:
        import xllamacpp  # noqa: F401
    except Exception:
        return False
    return True


def _write_once(out: Path, write: Callable[[Path], object]) -> Path:
    """`write(tmp)` then rename to `out`, so a crash never leaves a half-written file that looks finished."""
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Per process and thread: the app's warm-up and a job worker may both write it on a first start.
    tmp = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def serving_gguf(settings: Settings, hf_folder: Path) -> Path:
    """The GGUF file this machine serves the bundled model from (written once per type)."""
    from workbench.finetune.gguf_export import SERVING_TYPES, write_model
    from workbench.models.registry import bundled_gguf

    kind = settings.gguf_serving
    if kind == "source":
        return bundled_gguf()
    if kind not in SERVING_TYPES and kind != "q8_0":
        raise ModelError(f"WORKBENCH_GGUF_SERVING={kind!r}: use q4_0, q8_0 or source.")
    out = settings.models_dir / f"{hf_folder.name}-serving-{kind}.gguf"
    return _write_once(out, lambda tmp: write_model(hf_folder, tmp, kind, bundled_gguf(), hf_folder.name))


class LlamaCppGenerator(ChatModel):
    """A GGUF model in an in-process llama.cpp server; same interface as LocalGenerator."""

    engine = "llama.cpp"
    device = "cpu"

    def __init__(self, name: str, hf_path: str, gguf: Path, lora_dir: Path, threads: int,
                 fallback: Callable[[], ChatModel] | None = None, slots: int = SLOTS, prompt_cache: bool = False):
        from transformers import AutoConfig, AutoTokenizer

        self.name, self.path, self.gguf = name, hf_path, Path(gguf)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(hf_path)
            self.config = AutoConfig.from_pretrained(hf_path)
        except Exception as e:
            raise ModelError(f"Could not load the tokenizer of '{name}' from {hf_path}: {e}") from e
        self.weights_note = f"llama.cpp, {self.gguf.name}"
        self.lora_dir, self.threads, self.slots = Path(lora_dir), max(1, threads), slots
        # Answers an evaluation run writes at once (evaluation.runs.answer_all). On 2 threads the slots' batched
        # steps gained nothing measurable (bench/eval_batch.py: 0.45-0.48 vs 0.47-0.51 answers/s), and nothing
        # was lost either; the demo's measured answers were measured this way, and the 135M model's greedy
        # answers move with the batch they are computed in (the freshness demo's RAG answer did, one at a time).
        self.parallel = slots
        # Read the part before the last user turn once per slot (module docstring); False reads every prompt
        # whole. bench/generate.py turns it off to compare prompt reading itself.
        self._prompt_cache = prompt_cache
        self._free_slots: queue.Queue = queue.Queue()  # each request holds one slot: its prefix stays put
        for i in range(slots):
            self._free_slots.put(i)
        self._fallback_factory, self._fallback = fallback, None
        self.lock = threading.RLock()  # guards the server and the adapter list, never held while generating
        self._loras: list[Path] = []  # GGUF LoRA files, index = llama.cpp adapter id
        self._lora_ids: dict[str, int] = {}  # adapter key -> id
        self._server = None
        self.restarts = 0  # servers started after the first (a new adapter, or a crash)
        with self.lock:
            self._start()

    @property
    def prompt_cache(self) -> bool:
        return self._prompt_cache

    @prompt_cache.setter
    def prompt_cache(self, on: bool) -> None:
        """Switching restarts the server: without the cache it keeps no prompt states at all."""
        with self.lock:
            if bool(on) != self._prompt_cache:
                self._prompt_cache = bool(on)
                if self._server is not None:
                    self._start()

    @property
    def context_window(self) -> int:
        return min(super().context_window, SLOT_CONTEXT)

    def _start(self) -> None:
        """(Re)start the llama.cpp server with every known adapter attached at scale 0. Caller holds the lock."""
        import xllamacpp as x

        p = x.CommonParams()
        p.model.path = str(self.gguf)
        p.n_parallel, p.n_ctx = self.slots, self.slots * SLOT_CONTEXT
        p.cpuparams.n_threads = p.cpuparams_batch.n_threads = self.threads
        p.cache_prompt = self._prompt_cache  # and each request says whether it may reuse its slot's head
        p.cache_ram_mib = CACHE_RAM_MIB if self._prompt_cache else 0
        p.cache_idle_slots = self._prompt_cache
        p.verbosity = -1
        p.warmup = False
        if NGRAM_SPECULATION:
            p.speculative.types = [x.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        if self._loras:
            p.lora_adapters = [x.CommonAdapterLoraInfo(str(f), 1.0) for f in self._loras]
            p.lora_init_without_apply = True  # every request says which adapter it wants
        try:
            server = x.Server(p)
        except Exception as e:
            raise ModelError(f"llama.cpp could not load {self.gguf.name}: {e}") from e
        if self._server is not None:
            self.restarts += 1
        self._server = server  # the old one is freed once its last request returns

    def _lora_id(self, adapter: Path) -> int:
        """llama.cpp's id for this PEFT adapter, converting it and restarting the server the first time."""
        from workbench.finetune.gguf_export import write_lora

        key = _adapter_key(adapter)
        with self.lock:
            if key in self._lora_ids:
                return self._lora_ids[key]
            cfg = self.config.to_dict()
            out = _write_once(self.lora_dir / f"{key}.gguf", lambda tmp: write_lora(adapter, tmp, cfg, adapter.name))
            self._loras.append(out)
            self._lora_ids[key] = len(self._loras) - 1
            try:
                self._start()
            except ModelError:
                self._loras.pop()
                del self._lora_ids[key]
                raise
            return self._lora_ids[key]

    def _fallback_model(self) -> ChatModel:
        with self.lock:
            if self._fallback is None:
                if self._fallback_factory is None:
                    raise ModelError("No transformers engine to fall back to.")
                self._fallback = self._fallback_factory()
            return self._fallback

    def _prefix(self, prepared: PreparedPrompt, ids: list[int]) -> int:
        """How many leading tokens to read on their own: those before the last user turn, 0 for none."""
        head = prepared.messages[:-1]
        if not self.prompt_cache or not head:
            return 0
        text = self.tokenizer.apply_chat_template(head, tokenize=False, add_generation_prompt=False)
        pre = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(pre) < MIN_PREFIX or len(pre) >= len(ids) or ids[:len(pre)] != pre:
            return 0  # short, or a template that does not render the head as a token prefix: read whole
        return len(pre)

    def _request(self, ids: list[int], cfg: GenerationConfig, lora: int | None) -> dict:
        req = {"prompt": ids, "n_predict": cfg.max_new_tokens, "stream": True, "cache_prompt": False,
               "return_tokens": False, "seed": cfg.seed}
        if cfg.temperature > 0:  # plain temperature + top-p, as transformers samples (no top-k, min-p)
            req.update(temperature=cfg.temperature, top_p=cfg.top_p, top_k=0, min_p=0.0, repeat_penalty=1.0)
        else:
            req.update(temperature=0.0)
        req["lora"] = [{"id": i, "scale": 1.0 if i == lora else 0.0} for i in range(len(self._loras))]
        return req

    def stream(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig(),
               stats_out: list | None = None, adapter: str | Path | None = None,
               prepared_out: list | None = None) -> Iterator[str]:
        """Yield text pieces as llama.cpp writes them; as LocalGenerator.stream (stats, notes, cancel)."""
        lora = None
        if adapter is not None:
            folder = Path(adapter).expanduser()
            self.check_adapter(folder)  # refuse early: an adapter for another base
            try:
                lora = self._lora_id(folder)
            except (ValueError, OSError, KeyError) as e:  # GGUFError is a ValueError: cannot be a GGUF LoRA
                yield from self._stream_fallback(messages, cfg, stats_out, folder, prepared_out, e)
                return
        prepared = self.prepare(messages, cfg)
        if prepared_out is not None:
            prepared_out.append(prepared)
        ids = self.tokenizer(prepared.prompt, add_special_tokens=False)["input_ids"]
        n_prefix = self._prefix(prepared, ids)
        with self.lock:
            server, req = self._server, self._request(ids, cfg, lora)
        pieces: queue.Queue = queue.Queue()
        cancel = threading.Event()
        errors: list[BaseException] = []
        counts = {"tokens": 0, "predicted": None, "reused": 0}

        def on_chunk(chunk: dict) -> bool:
            if "error" in chunk or chunk.get("code"):
                err = chunk.get("error") or chunk
                errors.append(ModelError(f"llama.cpp: {err.get('message', err)}"))
                return True
            choice = (chunk.get("choices") or [{}])[0]
            text = choice.get("text") or ""
            counts["tokens"] += 1
            if timings := chunk.get("timings"):
                counts["predicted"] = timings.get("predicted_n")
            if text:
                pieces.put(text)
            return cancel.is_set()  # True ends the request: llama.cpp stops writing this answer

        pin = self._prompt_cache  # the head must stay in the slot the rest is read in; otherwise llama.cpp picks

        def run():
            slot = self._free_slots.get() if pin else None
            try:
                if slot is not None:
                    req["id_slot"] = slot
                if n_prefix:  # the head on its own (found in the slot or the prompt cache, or read now)
                    head = {**req, "prompt": ids[:n_prefix], "n_predict": 0, "stream": False, "cache_prompt": True}
                    # Twice: llama.cpp reads a found head's last token again, alone, so the second request makes
                    # that row's numbers the same whether the head was found or read just now.
                    for i in range(2):
                        done = server.handle_completions(head)
                        if isinstance(done, dict) and (done.get("error") or done.get("code")):
                            raise ModelError(f"llama.cpp: {done.get('error') or done}")
                        if i == 0:  # head tokens read now; the rest of the head was found
                            read = int(((done or {}).get("timings") or {}).get("prompt_n") or n_prefix)
                            counts["reused"] = max(0, n_prefix - read)
                    req["cache_prompt"] = True  # the slot now holds exactly the head: the rest is read after it
                server.handle_completions(req, on_chunk)
            except BaseException as e:  # surfaced in the caller's thread below
                errors.append(e)
            finally:
                if slot is not None:
                    self._free_slots.put(slot)
                pieces.put(_DONE)

        t0 = time.perf_counter()
        ttft = None
        worker = threading.Thread(target=run, daemon=True, name="llama.cpp request")
        worker.start()
        try:
            while (piece := pieces.get()) is not _DONE:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                yield piece
        finally:
            cancel.set()  # a consumer that stops reading (Stop, a rerun) ends the answer at the next token
        worker.join()
        if errors:
            self._recover(server)
            if isinstance(errors[0], ModelError):
                raise errors[0]
            raise ModelError(f"Generation failed in llama.cpp: {errors[0]}")
        if stats_out is not None:
            n_out = counts["predicted"] if counts["predicted"] is not None else counts["tokens"]
            stats_out.append(GenerationStats(time.perf_counter() - t0, ttft, len(ids), int(n_out), counts["reused"]))

    def _recover(self, failed) -> None:
        """After a failed request, start a fresh server so the next question works (once per failure)."""
        with self.lock:
            if self._server is failed:
                try:
                    self._start()
                except ModelError:
                    pass  # the next request reports the load error itself

    def _stream_fallback(self, messages, cfg, stats_out, folder: Path, prepared_out, why: Exception):
        """The transformers engine answers for an adapter llama.cpp cannot load; the note says so."""
        inner: list[PreparedPrompt] = []
        yield from self._fallback_model().stream(messages, cfg, stats_out=stats_out, adapter=folder,
                                                 prepared_out=inner)
        if prepared_out is not None and inner:
            p = inner[0]
            note = f"Answered by the transformers engine: the adapter cannot run in llama.cpp ({why})."
            prepared_out.append(PreparedPrompt(p.messages, p.prompt, p.prompt_tokens,
                                               f"{p.note} {note}" if p.note else note))

    def clear_cache(self) -> None:
        """Forget every cached prompt (a fresh server with the same adapters): benchmarks start each row cold."""
        with self.lock:
            self._start()

    def detach_adapters(self) -> None:
        """Forget every attached adapter (the server restarts without them)."""
        with self.lock:
            if self._loras:
                self._loras.clear()
                self._lora_ids.clear()
                self._start()

