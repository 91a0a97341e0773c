"""An OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, ...) as a generator for the arena.

Same shape as LocalGenerator where the arena needs it (`name`, `render`, `stream`), streamed through
the one endpoint client (workbench/models/openai_client.py). Adapters are refused: fine-tuned columns
stay local.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from workbench.models.generator import GenerationConfig, PreparedPrompt
from workbench.models.openai_client import ChatClient, EndpointError
from workbench.settings import Settings
from workbench.types import GenerationStats


@dataclass(frozen=True)
class EndpointGenerator:
    """Chat completions from `url` (base URL such as http://localhost:11434/v1) with model `model`."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0  # per read: a cold model on a busy server can take this long to start

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, model: str | None = None,
                      user_key: str | None = None) -> "EndpointGenerator":
        """The configured endpoint (WORKBENCH_ENDPOINT_URL / _MODEL), or `url`/`model`; key per api_key_for
        (`user_key`: the key the user entered for `url` in this session)."""
        url = url or settings.endpoint_url
        model = model or settings.endpoint_model
        if not url or not model:
            raise EndpointError("No endpoint configured: set WORKBENCH_ENDPOINT_URL and WORKBENCH_ENDPOINT_MODEL "
                                "(and WORKBENCH_ENDPOINT_API_KEY if the server needs one).")
        client = ChatClient.from_settings(settings, url, user_key=user_key)
        return cls(client.url, model, client.api_key, client.timeout_s)

    @property
    def name(self) -> str:
        return f"{self.model} @ {self.url}"

    @property
    def client(self) -> ChatClient:
        return ChatClient(self.url, self.api_key, self.timeout_s)

    def render(self, messages: list[dict]) -> str:
        """What is sent: the chat messages as JSON (the server applies its own template)."""
        return json.dumps(messages, indent=1, ensure_ascii=False)

    def stream(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig(),
               stats_out: list | None = None, adapter=None, prepared_out: list | None = None) -> Iterator[str]:
        """Yield text pieces from the endpoint; append GenerationStats to `stats_out` at the end."""
        if adapter is not None:
            raise EndpointError("An endpoint cannot apply a local LoRA adapter; use the local model for "
                                "fine-tuned and hybrid columns.")
        if prepared_out is not None:
            prepared_out.append(PreparedPrompt(list(messages), self.render(messages), _estimate_tokens(messages)))
        t0 = time.perf_counter()
        ttft = None
        text = ""
        usage: dict = {}
        for chunk in self.client.stream_chat(self.model, messages, max_tokens=cfg.max_new_tokens,
                                             temperature=cfg.temperature, top_p=cfg.top_p, seed=cfg.seed):
            usage = chunk.usage or usage
            if chunk.text:
                if ttft is None:
                    ttft = time.perf_counter() - t0
                text += chunk.text
                yield chunk.text
        if stats_out is not None:
            stats_out.append(GenerationStats(
                time.perf_counter() - t0, ttft,
                int(usage.get("prompt_tokens") or _estimate_tokens(messages)),
                int(usage.get("completion_tokens") or max(1, len(text) // 4) if text else 0)))


def _estimate_tokens(messages: list[dict]) -> int:
    """About four characters per token, for servers that report no usage."""
    return sum(len(m.get("content", "")) for m in messages) // 4 + 4 * len(messages)
