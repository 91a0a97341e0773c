"""What the tests that start servers share: real ones (streamlit, chroma) and a fake chat endpoint."""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """Terminate a server process, killing it if it has not exited after `grace_s`."""
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()


@contextlib.contextmanager
def streamlit_app(storage: Path, log_path: Path, **env: str) -> Iterator[str]:
    """The app as `make run` starts it, on a free loopback port with `storage` (and `env`); yields its URL."""
    port = free_port()
    with open(log_path, "w+") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.ui.serve", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.headless", "true"],
            cwd=REPO, env=dict(os.environ, WORKBENCH_STORAGE=str(storage), **env), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(120):
                try:
                    if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                        break
                except OSError:
                    time.sleep(0.5)
            else:
                log.seek(0)
                raise RuntimeError("streamlit did not start:\n" + log.read()[-3000:])
            yield url
        finally:
            stop_process(proc)


class FakeEndpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible chat endpoint that answers by model name: "teapot" (HTTP 418), "missing" (HTTP 404),
    "junk" (not JSON), "oops" (an error field), "slow" (waits 1.5 s); any other model replies `server.pieces`
    (streamed piece by piece, then `server.usage`). Every request lands in `server.seen` as (path, body, auth)."""

    ERRORS = {"teapot": (418, b'{"error": "no coffee here"}'), "missing": (404, b'{"error": "model not found"}')}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.seen.append((self.path, body, self.headers.get("Authorization")))
        model, stream = body["model"], body.get("stream")
        if model in self.ERRORS:
            status, text = self.ERRORS[model]
            self.send_response(status)
            self.end_headers()
            self.wfile.write(text)
            return
        if model == "slow":
            time.sleep(1.5)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        self.end_headers()
        if model == "junk":
            self.wfile.write(b"data: <html>\n\n" if stream else b"<html>proxy login</html>")
        elif model == "oops":
            self.wfile.write(b'data: {"error": {"message": "quota exceeded"}}\n\n' if stream
                             else b'{"error": {"message": "quota exceeded"}}')
        elif stream:
            for piece in self.server.pieces:
                self.wfile.write(f"data: {json.dumps({'choices': [{'delta': {'content': piece}}]})}\n\n".encode())
            usage = {"choices": [], "usage": self.server.usage}
            self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        else:
            self.wfile.write(json.dumps({"choices": [{"message": {"content": "".join(self.server.pieces)}}]}).encode())

    def log_message(self, *a):
        pass


@contextlib.contextmanager
def fake_endpoint(pieces: tuple[str, ...] = ("Hel", "lo"), prompt_tokens: int = 5, completion_tokens: int = 2,
                  handler: type[BaseHTTPRequestHandler] = FakeEndpoint) -> Iterator[ThreadingHTTPServer]:
    """`handler` (a FakeEndpoint by default) on a free 127.0.0.1 port for the duration of the block; its URL
    base is f"http://127.0.0.1:{server.server_port}"."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.seen, srv.pieces = [], pieces
    srv.usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
