"""The one client for OpenAI-compatible chat endpoints (Ollama, vLLM, llama.cpp server, ...).

Standard library only: two calls (`chat`, `stream_chat` over server-sent events) do not need the
`openai` package and its dependency tree. Every failure becomes an EndpointError whose message names
the URL and says what went wrong; a reply outside the protocol (an HTML page, an empty body, JSON without
choices) is such a failure, never an empty answer. Which API key goes to which URL is decided in
`api_key_for` alone; a key never travels over plain http to another machine, and no redirect is followed.
"""
from __future__ import annotations

import ipaddress
import json
import socket
import urllib.error
import urllib.parse
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


def origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of `url`, default ports filled in; None when it is not an http(s) URL."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        scheme = parts.scheme.lower()
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    if scheme not in ("http", "https") or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port


def is_configured_endpoint(settings: Settings, url: str) -> bool:
    """`url` has the scheme, host and port of WORKBENCH_ENDPOINT_URL."""
    return bool(settings.endpoint_url) and origin(url) is not None and origin(url) == origin(settings.endpoint_url)


def api_key_for(settings: Settings, url: str, user_key: str | None = None) -> str | None:
    """The key sent to `url`: the one the user entered for it, else the configured key (WORKBENCH_ENDPOINT_API_KEY)
    when `url` is the configured endpoint, else none: a URL typed elsewhere never gets the environment's key."""
    if user_key:
        return user_key
    return settings.endpoint_api_key if is_configured_endpoint(settings, url) else None


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def key_transport_problem(url: str, api_key: str | None) -> str | None:
    """Why `api_key` must not be sent to `url` (plain http to another machine), None when it may."""
    o = origin(url)
    if not api_key or o is None or o[0] == "https" or _is_loopback(o[1]):
        return None
    return (f"Refusing to send the API key to {o[1]} over plain http: anyone on the network could read it. "
            "Use an https:// URL (or a loopback address, such as an SSH tunnel to the server).")


def check_url(url: str) -> str:
    """`url` without a trailing slash; EndpointError unless it is http(s) with a host and no credentials in it."""
    if not url.startswith(("http://", "https://")):
        raise EndpointError(f"The endpoint URL must start with http:// or https://, got {url!r}.")
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise EndpointError(f"The endpoint URL is not valid: {e}") from None
    if parts.username is not None or parts.password is not None:
        # The URL shows in column names and exports; a key must come through the key field.
        raise EndpointError("The endpoint URL must not hold a user name or key; enter the key in its own field.")
    if origin(url) is None:
        raise EndpointError(f"The endpoint URL has no valid host and port: {url!r}.")
    return url.rstrip("/")


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect is an error: following it would carry the key and the prompt to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        fp.close()
        raise EndpointError(f"The endpoint {req.full_url} redirected (HTTP {code}) to {newurl}; redirects are not "
                            "followed, so the key and the prompt go only where they were sent. Use the final URL.")


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def _not_protocol(url: str, raw: bytes) -> EndpointError:
    """A reply that is not an OpenAI chat completion, described so the user can tell what answered."""
    head = raw.lstrip()[:120]
    if not head:
        what = "an empty reply"
    elif head[:1] == b"<":
        what = "an HTML page, not JSON"
    else:
        what = f"something that is not JSON: {head!r}"
    return EndpointError(f"The endpoint {url} sent {what}; is this the API base of an OpenAI-compatible server "
                         "(such as http://localhost:11434/v1)?")


@dataclass(frozen=True)
class ChatClient:
    """Chat completions from `url` (a base URL such as http://localhost:11434/v1, or the full path)."""

    url: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 60.0  # per connect and per read: a cold model on a busy server can take this long

    @classmethod
    def from_settings(cls, settings: Settings, url: str | None = None, timeout_s: float = 60.0,
                      user_key: str | None = None) -> "ChatClient":
        """A client for `url` (default: WORKBENCH_ENDPOINT_URL) with the key `api_key_for` picks (`user_key`:
        the key the user entered for `url`, kept in the session only)."""
        url = check_url(url or settings.endpoint_url or "")
        return cls(url, api_key_for(settings, url, user_key), timeout_s)

    @property
    def completions_url(self) -> str:
        url = self.url.rstrip("/")
        return url if url.endswith("/chat/completions") else url + "/chat/completions"

    def _open(self, body: dict, accept: str):
        headers = {"Content-Type": "application/json", "Accept": accept}
        if self.api_key:
            problem = key_transport_problem(self.completions_url, self.api_key)
            if problem:
                raise EndpointError(problem)
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(self.completions_url, data=json.dumps(body).encode(), headers=headers,
                                     method="POST")
        return _OPENER.open(req, timeout=self.timeout_s)

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

    def _reply_text(self, raw: bytes) -> str:
        """The message of a non-streamed completion; EndpointError for anything else."""
        try:
            reply = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: a reply nested too deeply
            raise _not_protocol(self.completions_url, raw) from None
        if isinstance(reply, dict) and reply.get("error"):
            raise EndpointError(f"The endpoint reported an error: {reply['error']}")
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EndpointError(f"The endpoint {self.completions_url} answered without a chat message: "
                                f"{raw[:120]!r}") from None

    def chat(self, model: str, messages: list[dict], **params) -> str:
        """The reply text of one non-streamed completion; `params` go into the request body as given."""
        try:
            with self._open({"model": model, "messages": messages, **params}, "application/json") as resp:
                raw = resp.read()
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as e:
            raise self._error(e) from None
        return self._reply_text(raw)

    def stream_chat(self, model: str, messages: list[dict], **params) -> Iterator[ChatChunk]:
        """The completion as it streams (usage asked for in the last event); `params` go into the body.

        A server that answers with one JSON completion instead is read as one chunk; a stream with no
        completion event at all (an HTML page, an empty body) is an EndpointError."""
        body = {"model": model, "messages": messages, "stream": True,
                "stream_options": {"include_usage": True}, **params}
        try:
            with self._open(body, "text/event-stream") as resp:
                if resp.headers.get_content_type() == "application/json":
                    yield ChatChunk(self._reply_text(resp.read()))
                    return
                events = 0
                other = b""  # the start of what was not an event, to say what answered instead
                for raw in resp:
                    line = raw.decode("utf-8", "replace").strip()
                    if not line.startswith("data:"):
                        other += raw if len(other) < 200 else b""
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    try:
                        event = json.loads(data)
                    except (ValueError, RecursionError):
                        raise EndpointError(f"The endpoint sent something that is not JSON: {data[:120]!r}") from None
                    if not isinstance(event, dict):
                        raise EndpointError(f"The endpoint sent an event that is not a chat completion chunk: "
                                            f"{data[:120]!r}")
                    if event.get("error"):
                        raise EndpointError(f"The endpoint reported an error: {event['error']}")
                    choices = event.get("choices")
                    if not isinstance(choices, list) and not event.get("usage"):
                        other += raw if len(other) < 200 else b""
                        continue  # not a completion chunk (some servers send keep-alive or metadata events)
                    events += 1
                    text = "".join((c.get("delta") or {}).get("content") or ""
                                   for c in (choices if isinstance(choices, list) else []) if isinstance(c, dict))
                    yield ChatChunk(text, event.get("usage") or None)
                if not events:
                    if other.lstrip()[:1] in (b"", b"<"):
                        raise _not_protocol(self.completions_url, other)
                    raise EndpointError(f"The endpoint {self.completions_url} streamed no chat completion: "
                                        f"{other.lstrip()[:120]!r}")
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as e:
            raise self._error(e) from None
