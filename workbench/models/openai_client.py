"""The one client for OpenAI-compatible chat endpoints (Ollama, vLLM, llama.cpp server, ...).

Standard library only: two calls (`chat`, `stream_chat` over server-sent events) do not need the
`openai` package and its dependency tree. Every failure becomes an EndpointError whose message names
the URL and says what went wrong. Which API key is sent to which URL is decided in `api_key_for` alone.
"""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field

from workbench.models.registry import ModelError
from workbench.settings import Settings


class EndpointError(ModelError):
    """The endpoint could not be reached or answered with an error; the message is for the user."""


@dataclass(frozen=True)
class ChatChunk:
    """One server-sent event of a streamed completion: its text (may be empty) and usage, when reported."""

    text: str
    usage: dict | None = None


def api_key_for(settings: Settings, url: str) -> str | None:
    """The key sent to `url`: today the configured WORKBENCH_ENDPOINT_API_KEY, whatever the URL."""
    return settings.endpoint_api_key


def check_url(url: str) -> str:
    """`url` without a trailing slash; EndpointError unless it is http(s)."""
    if not url.startswith(("http://", "https://")):
        raise EndpointError(f"The endpoint URL must start with http:// or https://, got {url!r}.")
    return url.rstrip("/")


@dataclass(frozen=True)
class ChatClient:
    """Chat completions from `url` (a base URL such as http://localhost:11434/v1, or the full path)."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0  # per connect and per read: a cold model on a busy server can take this long

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, timeout_s: float = 60.0) -> "ChatClient":
        """A client for `url` (default: WORKBENCH_ENDPOINT_URL) with the key `api_key_for` picks."""
        url = check_url(url or settings.endpoint_url or "")
        return cls(url, api_key_for(settings, url), timeout_s)

    @property
    def completions_url(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    def _open(self, body: dict, accept: str):
        headers = {"Content-Type": "application/json", "Accept": accept}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.completions_url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
        return urllib.request.urlopen(req, timeout=self.timeout_s)

    def _error(self, e: BaseException) -> EndpointError:
        """The failure `e` as a message that names the URL."""
        if isinstance(e, urllib.error.HTTPError):
            try:
                detail = e.read()[:300].decode("utf-8", "replace") if e.fp else ""
            except OSError:
                detail = ""
            return EndpointError(f"The endpoint {self.completions_url} answered HTTP {e.code}: {detail or e.reason}")
        reason = getattr(e, "reason", None) or e
        return EndpointError(f"The endpoint {self.completions_url} is unreachable: {reason}")

    def chat(self, model: str, messages: list[dict], **params) -> str:
        """The reply text of one non-streamed completion; `params` go into the request body as given."""
        try:
            with self._open({"model": model, "messages": messages, **params}, "application/json") as resp:
                raw = resp.read()
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as e:
            raise self._error(e) from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise EndpointError(f"The endpoint {self.completions_url} sent something that is not JSON: "
                                f"{raw[:120]!r}") from None
        if isinstance(reply, dict) and reply.get("error"):
            raise EndpointError(f"The endpoint reported an error: {reply['error']}")
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"The endpoint {self.completions_url} answered without a chat message: "
                                f"{raw[:120]!r}") from None

    def stream_chat(self, model: str, messages: list[dict], **params) -> Iterator[ChatChunk]:
        """The completion as it streams (usage asked for in the last event); `params` go into the body."""
        body = {"model": model, "messages": messages, "stream": True,
                "stream_options": {"include_usage": True}, **params}
        try:
            with self._open(body, "text/event-stream") as resp:
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
                        raise EndpointError(f"The endpoint sent something that is not JSON: {data[:120]!r}") from None
                    if event.get("error"):
                        raise EndpointError(f"The endpoint reported an error: {event['error']}")
                    text = "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
                    yield ChatChunk(text, event.get("usage") or None)
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as e:
            raise self._error(e) from None
