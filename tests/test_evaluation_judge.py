"""The optional LLM judge: off unless configured; over HTTP against a local OpenAI-compatible server."""
from __future__ import annotations

import json
from dataclasses import replace
from http.server import BaseHTTPRequestHandler

import pytest

from tests.servers import fake_endpoint
from workbench.evaluation import judge, runs
from workbench.questions import Question


class Grader(BaseHTTPRequestHandler):
    """Grades 10 when the candidate contains the reference, else 2 (reads the judge prompt)."""

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        prompt = body["messages"][0]["content"]
        ref = prompt.split("Reference answer: ")[1].split("\n")[0]
        cand = prompt.split("Candidate answer: ")[1].split("\n\n")[0]
        reply = "10" if ref in cand else "Score: 2"
        out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint():
    with fake_endpoint(handler=Grader) as server:
        yield f"http://127.0.0.1:{server.server_port}/v1"


def test_judge_scores_answers_over_http(settings, endpoint):
    assert not judge.configured(settings)
    with pytest.raises(judge.JudgeError, match="no judge configured"):
        judge.judge_run(settings, "x", runs.PlainContext())
    s = replace(settings, endpoint_url=endpoint, endpoint_model="grader")
    run_id = runs.create_run(s, runs.RunSpec(set_name="t", setups=("base",)),
                             [Question("a", "Q?", "27 days"), Question("b", "Q2?", "2016")])
    (s.evals_dir / run_id / "results.jsonl").write_text(
        json.dumps({"id": "a", "setup": "base", "text": "27 days"}) + "\n"
        + json.dumps({"id": "b", "setup": "base", "text": "1999"}) + "\n")
    assert judge.judge_run(s, run_id, runs.PlainContext()) == {"judged": 2}
    assert judge.judge_means(s, run_id) == {"base": pytest.approx(0.6)}
    assert all("LLM judge (grader" in r["judge"] for r in judge.load_judgements(s, run_id))
    assert judge.judge_run(s, run_id, runs.PlainContext()) == {"judged": 2}  # nothing graded twice


def test_unreachable_judge_is_a_clear_error(settings):
    s = replace(settings, endpoint_url="http://127.0.0.1:9/v1", endpoint_model="m")
    with pytest.raises(judge.JudgeError, match="failed"):
        judge.ask(s, "hi", timeout_s=2)
    assert judge.parse_score("I'd say 7/10") == 0.7 and judge.parse_score("no idea") is None
