"""An OpenAI-compatible chat endpoint (Ollama, vLLM, llama.cpp server, ...) as a generator for the arena.

Same shape as LocalGenerator where the arena needs it (`name`, `render`, `stream`), streamed over
server-sent events with the standard library. Adapters are refused: fine-tuned columns stay local.
"""
from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from workbench.models.generator import GenerationConfig, PreparedPrompt
from workbench.models.registry import ModelError
from workbench.settings import Settings
from workbench.types import GenerationStats


class EndpointError(ModelError):
    """The endpoint could not be reached or answered with an error; the message is for the user."""


@dataclass(frozen=True)
class EndpointGenerator:
    """Chat completions from `url` (base URL such as http://localhost:11434/v1) with model `model`."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0  # per read: a cold model on a busy server can take this long to start

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, model: str | None = None) -> "EndpointGenerator":
        """The configured endpoint (WORKBENCH_ENDPOINT_URL / _MODEL, key from the environment)."""
        url = url or settings.endpoint_url
        model = model or settings.endpoint_model
        if not url or not model:
            raise EndpointError("No endpoint configured: set WORKBENCH_ENDPOINT_URL and WORKBENCH_ENDPOINT_MODEL "
                                "(and WORKBENCH_ENDPOINT_API_KEY if the server needs one).")
        if not url.startswith(("http://", "https://")):
            raise EndpointError(f"The endpoint URL must start with http:// or https://, got {url!r}.")
        return cls(url.rstrip("/"), model, settings.endpoint_api_key)

    @property
    def name(self) -> str:
        return f"{self.model} @ {self.url}"

    @property
    def completions_url(self) -> str:
        return self.url if self.url.endswith("/chat/completions") else self.url + "/chat/completions"

    def render(self, messages: list[dict]) -> str:
        """What is sent: the chat messages as JSON (the server applies its own template)."""
        return json.dumps(messages, indent=1, ensure_ascii=False)

    def _request(self, messages: list[dict], cfg: GenerationConfig) -> urllib.request.Request:
        body = {"model": self.model, "messages": messages, "stream": True, "max_tokens": cfg.max_new_tokens,
                "temperature": cfg.temperature, "top_p": cfg.top_p, "seed": cfg.seed,
                "stream_options": {"include_usage": True}}
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return urllib.request.Request(self.completions_url, data=json.dumps(body).encode(), headers=headers,
                                      method="POST")

    def stream(self, messages: list[dict], cfg: GenerationConfig = GenerationConfig(),
               stats_out: list | None = None, adapter=None, prepared_out: list | None = None) -> Iterator[str]:
        """Yield text pieces from the endpoint; append GenerationStats to `stats_out` at the end."""
        if adapter is not None:
            raise EndpointError("An endpoint cannot apply a local LoRA adapter; use the local model for "
                                "fine-tuned and hybrid columns.")
        prompt = self.render(messages)
        if prepared_out is not None:
            prepared_out.append(PreparedPrompt(list(messages), prompt, _estimate_tokens(messages)))
        t0 = time.perf_counter()
        ttft = None
        text = ""
        usage: dict = {}
        try:
            with urllib.request.urlopen(self._request(messages, cfg), timeout=self.timeout_s) as resp:
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise EndpointError(f"The endpoint sent something that is not JSON: {data[:120]!r}")
                    if event.get("error"):
                        raise EndpointError(f"The endpoint reported an error: {event['error']}")
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            if ttft is None:
                                ttft = time.perf_counter() - t0
                            text += piece
                            yield piece
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace") if e.fp else ""
            raise EndpointError(f"The endpoint {self.completions_url} answered HTTP {e.code}: {detail or e.reason}")
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as e:
            reason = getattr(e, "reason", e)
            raise EndpointError(f"The endpoint {self.completions_url} is unreachable: {reason}")
        if stats_out is not None:
            stats_out.append(GenerationStats(
                time.perf_counter() - t0, ttft,
                int(usage.get("prompt_tokens") or _estimate_tokens(messages)),
                int(usage.get("completion_tokens") or max(1, len(text) // 4) if text else 0)))


def _estimate_tokens(messages: list[dict]) -> int:
    """About four characters per token, for servers that report no usage."""
    return sum(len(m.get("content", "")) for m in messages) // 4 + 4 * len(messages)
