"""The one OpenAI-compatible client, against a local fake endpoint on 127.0.0.1."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.servers import fake_endpoint
from workbench.models.openai_client import ChatClient, ChatChunk, EndpointError, api_key_for


@pytest.fixture
def server():
    with fake_endpoint() as srv:
        yield srv


def test_chat_and_stream_send_the_request_and_parse_the_reply(server, settings):
    url = f"http://127.0.0.1:{server.server_port}/v1/"
    client = ChatClient.from_settings(replace(settings, endpoint_url=url, endpoint_api_key="sk-x"), url)
    assert client.url == url.rstrip("/") and client.completions_url.endswith("/v1/chat/completions")
    assert client.chat("ok", [{"role": "user", "content": "hi"}], temperature=0) == "Hello"
    path, body, auth = server.seen[-1]
    assert path == "/v1/chat/completions" and auth == "Bearer sk-x"
    assert body == {"model": "ok", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    chunks = list(client.stream_chat("ok", [{"role": "user", "content": "hi"}], max_tokens=8))
    assert [c.text for c in chunks if c.text] == ["Hel", "lo"]
    assert chunks[-1] == ChatChunk("", {"prompt_tokens": 5, "completion_tokens": 2})
    _, body, _ = server.seen[-1]
    assert body["stream"] is True and body["max_tokens"] == 8 and body["stream_options"] == {"include_usage": True}
    assert "sk-x" not in repr(client)  # the key never shows in logs or tracebacks


def test_no_key_no_authorization_header(server, settings):
    client = ChatClient(f"http://127.0.0.1:{server.server_port}/v1/chat/completions")
    assert client.chat("ok", []) == "Hello"
    assert server.seen[-1][0] == "/v1/chat/completions" and server.seen[-1][2] is None
    assert api_key_for(settings, client.url) is None
    assert api_key_for(replace(settings, endpoint_api_key="k"), client.url) is None  # not the configured URL
    assert api_key_for(replace(settings, endpoint_url=client.url, endpoint_api_key="k"), client.url) == "k"


@pytest.mark.parametrize("model, message", [
    ("teapot", "answered HTTP 418: {\"error\": \"no coffee here\"}"),
    ("junk", "not JSON"),
    ("oops", "reported an error: {'message': 'quota exceeded'}"),
    ("slow", "is unreachable: timed out"),
])
def test_failures_read_as_clear_messages(server, model, message):
    client = ChatClient(f"http://127.0.0.1:{server.server_port}/v1", timeout_s=0.5)
    with pytest.raises(EndpointError, match="^The endpoint") as e:
        client.chat(model, [])
    assert message in str(e.value)
    with pytest.raises(EndpointError) as e:
        list(client.stream_chat(model, []))
    assert message in str(e.value)


def test_unreachable_and_bad_urls(settings):
    with pytest.raises(EndpointError, match=r"http://127.0.0.1:9/v1/chat/completions is unreachable"):
        ChatClient("http://127.0.0.1:9/v1", timeout_s=2).chat("m", [])
    with pytest.raises(EndpointError, match="must start with http"):
        ChatClient.from_settings(settings, "localhost:11434/v1")
    with pytest.raises(EndpointError, match="must start with http"):
        ChatClient.from_settings(settings)  # nothing configured
