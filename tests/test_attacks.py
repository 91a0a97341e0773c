"""Untrusted input stays harmless (issue 14): keys go only where they were configured or entered, endpoints
that do not speak the protocol are errors, user patterns and schemas run bounded and fetch nothing."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler

import pytest

from tests.servers import fake_endpoint, free_port
from tests.test_evaluation_runs import FakeGenerator
from workbench.evaluation.metrics import format_ok
from workbench.models.endpoint import EndpointGenerator
from workbench.models.generator import GenerationResult
from workbench.models.openai_client import ChatClient, EndpointError, api_key_for, key_transport_problem
from workbench.questions import QuestionSetError, check_format_spec, parse_questions

MSG = [{"role": "user", "content": "hi"}]


# --- 1. A secret goes only where it was configured -------------------------------------------------------

@pytest.fixture
def two_servers():
    """The configured endpoint and another one a user might type in the Arena."""
    with fake_endpoint() as configured, fake_endpoint() as typed:
        yield configured, typed


def _url(srv) -> str:
    return f"http://127.0.0.1:{srv.server_port}/v1"


def test_the_environment_key_goes_to_the_configured_endpoint_only(two_servers, settings):
    configured, typed = two_servers
    s = replace(settings, endpoint_url=_url(configured), endpoint_model="ok", endpoint_api_key="sk-env")
    assert EndpointGenerator.from_settings(s).client.chat("ok", MSG) == "Hello"
    assert configured.seen[-1][2] == "Bearer sk-env"
    # Same host, another port (or scheme): another server, no key.
    ep = EndpointGenerator.from_settings(s, url=_url(typed), model="ok")
    assert "".join(ep.stream(MSG)) == "Hello"
    assert ChatClient.from_settings(s, _url(typed)).chat("ok", MSG) == "Hello"
    assert [auth for _, _, auth in typed.seen] == [None, None]
    assert api_key_for(s, _url(configured).replace("http:", "https:")) is None
    assert api_key_for(s, _url(configured).replace("127.0.0.1", "localhost")) is None
    assert api_key_for(s, _url(configured) + "/chat/completions") == "sk-env"  # same server, full path
    from workbench.evaluation import judge

    assert judge.ask(s, "Grade this.") == "Hello"  # the judge asks the configured endpoint, with its key
    assert configured.seen[-1][2] == "Bearer sk-env" and len(typed.seen) == 2


def test_a_key_the_user_entered_reaches_the_typed_endpoint(two_servers, settings):
    configured, typed = two_servers
    s = replace(settings, endpoint_url=_url(configured), endpoint_api_key="sk-env")
    ep = EndpointGenerator.from_settings(s, url=_url(typed), model="ok", user_key="sk-user")
    assert "".join(ep.stream(MSG)) == "Hello"
    assert typed.seen[-1][2] == "Bearer sk-user" and not configured.seen
    assert "sk-user" not in repr(ep) and "sk-user" not in ep.name


def test_no_key_over_plain_http_to_another_machine(settings):
    s = replace(settings, endpoint_url="http://10.255.255.1:8000/v1", endpoint_model="m", endpoint_api_key="sk-env")
    t0 = time.monotonic()
    with pytest.raises(EndpointError, match="Refusing to send the API key to 10.255.255.1 over plain http"):
        ChatClient.from_settings(s, timeout_s=30).chat("m", MSG)
    with pytest.raises(EndpointError, match="over plain http"):
        list(EndpointGenerator.from_settings(s, url="http://gpu-box.example:8000/v1", user_key="sk-user").stream(MSG))
    assert time.monotonic() - t0 < 5  # refused before any connection is tried
    assert key_transport_problem("https://api.example.com/v1", "k") is None
    assert key_transport_problem("http://localhost:11434/v1", "k") is None
    assert key_transport_problem("http://[::1]:8000/v1", "k") is None
    assert key_transport_problem("http://api.example.com/v1", None) is None  # no key, nothing to protect
    with pytest.raises(EndpointError, match="must not hold a user name or key"):
        ChatClient.from_settings(s, "http://user:sk-in-url@127.0.0.1:9/v1")


class Recording(BaseHTTPRequestHandler):
    """Records every request, whatever its method, as (method, path, Authorization); answers "{}" (a JSON
    schema that accepts anything)."""

    def _record(self):
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization")))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    do_GET = do_POST = do_HEAD = _record

    def log_message(self, *a):
        pass


class Redirecting(BaseHTTPRequestHandler):
    """Answers every request with `server.status` to `server.target`."""

    def do_POST(self):
        self.server.seen.append((self.path, None, self.headers.get("Authorization")))
        self.send_response(self.server.status)
        self.send_header("Location", self.server.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_no_redirect_is_followed_with_the_key(settings, status):
    with fake_endpoint(handler=Recording) as elsewhere, fake_endpoint(handler=Redirecting) as front:
        front.status, front.target = status, f"{_url(elsewhere)}/chat/completions"
        s = replace(settings, endpoint_url=_url(front), endpoint_model="ok", endpoint_api_key="sk-env")
        with pytest.raises(EndpointError, match=f"redirected \\(HTTP {status}\\) to http://127.0.0.1:"):
            ChatClient.from_settings(s).chat("ok", MSG)
        with pytest.raises(EndpointError, match="redirects are not followed"):
            list(EndpointGenerator.from_settings(s).stream(MSG))
        assert [auth for _, _, auth in front.seen] == ["Bearer sk-env"] * 2
        assert elsewhere.seen == []  # neither the key nor the prompt went on, by any method


class OffProtocol(BaseHTTPRequestHandler):
    """Replies outside the protocol, by model name: "html" (a login page), "empty" (no body), "nochoices",
    "sse-nochoices" (events without choices), "done-only" (the end of a stream and nothing before it)."""

    REPLIES = {"html": ("text/html", b"<!doctype html><html><body>Sign in</body></html>"),
               "empty": ("text/event-stream", b""),
               "nochoices": ("application/json", b'{"id": "x", "object": "chat.completion"}'),
               "sse-nochoices": ("text/event-stream", b'data: {"id": "x"}\n\ndata: [DONE]\n\n'),
               "done-only": ("text/event-stream", b"data: [DONE]\n\n")}

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ctype, data = self.REPLIES[body["model"]]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("model, message", [
    ("html", "sent an HTML page, not JSON"),
    ("empty", "sent an empty reply"),
    ("nochoices", "answered without a chat message"),
    ("sse-nochoices", "streamed no chat completion"),
    ("done-only", "sent an empty reply"),
])
def test_a_reply_outside_the_protocol_is_an_error_not_an_empty_answer(model, message):
    with fake_endpoint(handler=OffProtocol) as srv:
        client = ChatClient(_url(srv), timeout_s=5)
        with pytest.raises(EndpointError, match="^The endpoint") as e:
            list(client.stream_chat(model, MSG))
        assert message in str(e.value)
        if model in ("html", "empty", "nochoices"):
            with pytest.raises(EndpointError, match="^The endpoint"):
                client.chat(model, MSG)


def test_the_arena_sends_the_session_key_to_the_typed_url_only(two_servers, monkeypatch, fresh_ui_caches, settings):
    """Through the page: the environment key stays home, the entered key goes to its URL only, is cleared when
    the URL changes, and appears in no export and no file."""
    from tests.pages import app_page
    from workbench.arena.conversation import to_json, to_markdown
    from workbench.ui import state

    configured, typed = two_servers
    monkeypatch.setenv("WORKBENCH_ENDPOINT_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("WORKBENCH_ENDPOINT_API_KEY", "sk-env")
    at = app_page("pages/arena.py", timeout=60).run()  # inside the app's navigation: its page links resolve
    at.multiselect(key="arena_setups").set_value(["base"])
    at.radio(key="arena_source").set_value("OpenAI-compatible endpoint").run()
    at.text_input(key="arena_ep_url").set_value(_url(typed))
    at.text_input(key="arena_ep_model").set_value("ok").run()
    assert any("the key from the environment is not sent here" in c.value for c in at.caption)
    at.chat_input[0].set_value("First?").run()
    assert not at.exception, [e.value for e in at.exception]
    assert typed.seen[-1][2] is None
    at.text_input(key="arena_ep_key").set_value("sk-user").run()
    at.chat_input[0].set_value("Second?").run()
    assert typed.seen[-1][2] == "Bearer sk-user"
    at.text_input(key="arena_ep_url").set_value(_url(configured)).run()  # another server: the key is cleared
    assert at.text_input(key="arena_ep_key").value == ""
    at.chat_input[0].set_value("Third?").run()
    assert configured.seen[-1][2] is None
    conv = at.session_state[state.ARENA_CONV]
    assert [t.answers["base"].text for t in conv.turns] == ["Hello"] * 3
    for text in (to_json(conv), to_markdown(conv), repr(conv)):
        assert "sk-user" not in text and "sk-env" not in text
    for f in settings.storage.rglob("*"):
        if f.is_file():
            assert b"sk-user" not in f.read_bytes(), f


# --- 2. User-supplied patterns and schemas run bounded ---------------------------------------------------

SLOW_FOR_RE = r"^(\w+\s?)*$"  # Python's re backtracks for minutes on this against "word word ... !"
SLOW_FOR_REGEX = r"^(.*?,){30}P"  # exponential even for the `regex` engine: only its time budget stops it


@pytest.mark.parametrize("pattern, text", [(SLOW_FOR_RE, "word " * 40 + "!"), (SLOW_FOR_REGEX, "1," * 60)])
def test_a_catastrophic_regex_format_returns_within_a_second(pattern, text):
    check_format_spec("regex:" + pattern)  # a valid pattern: accepted at upload, bounded when it runs
    t0 = time.monotonic()
    assert format_ok(text, "regex:" + pattern) is False
    assert time.monotonic() - t0 < 1
    assert format_ok("one two three", "regex:" + pattern) is (pattern == SLOW_FOR_RE)


@pytest.mark.parametrize("schema, answer", [
    ({"type": "object", "properties": {"answer": {"type": "string", "pattern": SLOW_FOR_REGEX}}},
     {"answer": "1," * 60}),
    ({"type": "object", "patternProperties": {SLOW_FOR_REGEX: {}}, "additionalProperties": False},
     {"1," * 60: 1}),
    ({"type": "object", "propertyNames": {"pattern": SLOW_FOR_REGEX}}, {"1," * 60: 1}),
])
def test_a_catastrophic_schema_pattern_returns_within_a_second(schema, answer):
    spec = json.dumps(schema)
    check_format_spec(spec)
    t0 = time.monotonic()
    assert format_ok(json.dumps(answer), spec) is False
    assert time.monotonic() - t0 < 1


@pytest.mark.parametrize("pattern", ["(a{65535}){65535}", "(?:(?:a{100}){100}){100}", "x{99999999999999999999}"])
def test_a_pattern_too_large_to_compile_quickly_is_refused_without_compiling(pattern):
    """Compiling unrolls counted repeats before any time budget applies: (a{65535}){65535} holds the GIL
    for minutes in regex.compile. It is refused by its size at upload, and a stored one is never compiled."""
    t0 = time.monotonic()
    with pytest.raises(QuestionSetError, match="unroll to over 100,000 steps"):
        check_format_spec("regex:" + pattern)
    with pytest.raises(QuestionSetError, match="unroll to over 100,000 steps"):
        check_format_spec(json.dumps({"properties": {"answer": {"pattern": pattern}}}))
    assert format_ok("aaa", "regex:" + pattern) is False
    assert format_ok('{"answer": "aaa"}', json.dumps({"properties": {"answer": {"pattern": pattern}}})) is False
    assert time.monotonic() - t0 < 1
    for fine in (r"^\d{3}-\d{4}$", r"[A-Z]{2}\d{1,6}", r"\p{L}{1,200}.{0,500}", r"(?:\w{1,20}\s){1,50}"):
        check_format_spec("regex:" + fine)


def test_schema_patterns_still_work():
    spec = json.dumps({"type": "object", "required": ["answer"], "additionalProperties": False,
                       "properties": {"answer": {"type": "string", "pattern": "^[0-9]+ months$"}},
                       "patternProperties": {"^x-": {"type": "integer"}}})
    assert format_ok('{"answer": "24 months", "x-n": 3}', spec) is True
    assert format_ok('{"answer": "two years"}', spec) is False
    assert format_ok('{"answer": "24 months", "x-n": "3"}', spec) is False
    assert format_ok('{"answer": "24 months", "other": 1}', spec) is False
    local = json.dumps({"$defs": {"a": {"type": "string"}}, "type": "object",
                        "properties": {"answer": {"$ref": "#/$defs/a"}}})
    check_format_spec(local)
    assert format_ok('{"answer": "x"}', local) is True and format_ok('{"answer": 1}', local) is False
    assert format_ok("Café", r"regex:\w+") is True  # the same Unicode \w as Python's re


def test_remote_and_file_refs_are_refused_at_upload_and_never_followed(tmp_path, monkeypatch):
    import urllib.request

    opened = []
    real_urlopen = urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: opened.append(a) or real_urlopen(*a, **k))
    accept_all = tmp_path / "schema.json"
    accept_all.write_text("{}")  # if it were read, every answer would pass
    with fake_endpoint(handler=Recording) as srv:
        refs = [f"http://127.0.0.1:{srv.server_port}/schema.json", accept_all.as_uri(),
                "schema.json", f"http://127.0.0.1:{free_port()}/x#/a"]
        for ref in refs:
            for schema in ({"$ref": ref}, {"type": "object", "properties": {"answer": {"$ref": ref}}},
                           {"$id": f"http://127.0.0.1:{srv.server_port}/", "$dynamicRef": ref}):
                spec = json.dumps(schema)
                with pytest.raises(QuestionSetError, match="only references inside the schema"):
                    check_format_spec(spec)
                # A set stored before this check existed: validation resolves nothing, the answer fails.
                assert format_ok('{"answer": 1}', spec) is False
        rows = "\n".join(json.dumps({"question": "q", "reference": "r", "expected_format": {"$ref": r}}) for r in refs)
        qs = parse_questions(rows.encode(), "set.jsonl")
        assert not qs.questions and len(qs.errors) == len(refs)
        assert all("only references inside the schema" in e.reason for e in qs.errors)
        assert srv.seen == [] and opened == []


# --- 2. ... and outside the UI thread: checked once in the run's worker, the report only reads them ------

SLOW_TEXT = "1," * 60


class CatastrophicAnswers(FakeGenerator):
    """A generator whose every answer sends SLOW_FOR_REGEX into catastrophic backtracking."""

    def generate(self, messages, cfg):
        out = super().generate(messages, cfg)
        return GenerationResult(SLOW_TEXT, out.stats, out.prompt)


def catastrophic_job(ctx) -> dict:
    """runs.run_job answering SLOW_TEXT to every question."""
    from workbench.evaluation import runs

    return runs.execute(ctx.settings, ctx.spec["run_id"], ctx, generator=CatastrophicAnswers())


def _slow_items(n: int):
    from workbench.evaluation.sample import sample_items

    return [replace(q, expected_format="regex:" + SLOW_FOR_REGEX) for q in sample_items()[:n]]


def _timed_report(fresh_ui_caches):
    """The Report page on the newest run: (AppTest, seconds its second run took: the scoring and drawing)."""
    from tests.pages import app_page

    at = app_page("pages/evaluate_report.py").run()
    assert not at.exception, [e.value for e in at.exception]
    t0 = time.monotonic()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at, time.monotonic() - t0


def test_format_checks_run_in_the_worker_and_the_report_only_reads_them(settings, fresh_ui_caches, monkeypatch):
    from tests.fakes import wait_for
    from workbench.evaluation import run_index, runs
    from workbench.questions import formats

    run_id = runs.submit_run(settings, runs.RunSpec(set_name="t", setups=("base",)), _slow_items(3),
                             handler="tests.test_attacks:catastrophic_job")
    job = run_index.get(settings, run_id).job_id
    assert wait_for(lambda: (js := run_index.job_status(settings, job)) and js.is_final and js).state == "succeeded"
    results = runs.load_run(settings, run_id).results
    assert len(results) == 3
    assert all(r["format_ok"] is False and r["format_timed_out"] is True for r in results)

    def never(*a, **k):
        raise AssertionError("a user pattern ran in the Streamlit process")

    monkeypatch.setattr(formats, "fullmatch", never)
    monkeypatch.setattr(formats, "search", never)
    at, _ = _timed_report(fresh_ui_caches)
    slow = [w.value for w in at.warning if "timed out" in w.value]
    assert slow and slow[0].startswith("The format check of 3 answer(s) timed out")


def test_a_report_on_answers_stored_without_checks_stays_within_one_budget(settings, fresh_ui_caches):
    """A run stored before checks were kept with its answers: the page checks them itself, all of them
    within scoring.UNSTORED_BUDGET_S (one check each, 0.2 s apiece, would take 10 s here)."""
    from workbench.evaluation import runs, scoring

    items = _slow_items(50)
    run_id = runs.create_run(settings, runs.RunSpec(set_name="t", setups=("base",)), items)
    settings.evals_dir.joinpath(run_id, "results.jsonl").write_text("".join(
        json.dumps({"id": i.id, "setup": "base", "text": SLOW_TEXT, "error": None, "latency_s": 0.1}) + "\n"
        for i in items))
    t0 = time.monotonic()
    rs = scoring.score_run(runs.load_run(settings, run_id))
    assert time.monotonic() - t0 < scoring.UNSTORED_BUDGET_S + 1
    assert len(rs.format_timeouts) == 50 and all(sc.format_ok is False for sc in rs.scores.values())
    at, seconds = _timed_report(fresh_ui_caches)
    assert seconds < 6, seconds
    assert any(w.value.startswith("The format check of 50 answer(s) timed out") for w in at.warning)
