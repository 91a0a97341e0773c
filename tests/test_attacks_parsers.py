"""Every upload parser turns any input into rows or a file-level message, never a traceback (issue 14.6):
question sets, training datasets, recipes, model answers and endpoint replies, through the real parsers and
the real pages."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler

import pytest

from tests.pages import app_page
from tests.servers import fake_endpoint
from workbench.answering.recipes import Recipe, RecipeError, load_recipe, recipes_dir, save_recipe
from workbench.evaluation.metrics import answer_text, format_ok, parse_json_object, score_answer
from workbench.finetune.datasets import DatasetError, parse_dataset
from workbench.questions import Question, QuestionSetError, parse_questions

DEEP = "[" * 100_000 + "]" * 100_000  # far past the JSON decoder's recursion limit
BIG_FIELD = "x" * 200_000  # past the csv module's 131,072-character field limit


def q_row(**extra) -> bytes:
    return (json.dumps({"question": "How long is the trial?", "reference": "21 days", **extra}) + "\n").encode()


def d_row(**extra) -> bytes:
    return (json.dumps({"prompt": "How long is the trial?", "completion": "21 days", **extra}) + "\n").encode()


GOOD_Q, GOOD_D = q_row(id="ok"), d_row()


def questions(data: bytes, name: str):
    """parse_questions: a QuestionSet (rows and row errors) or QuestionSetError; anything else fails the test."""
    try:
        return parse_questions(data, name)
    except QuestionSetError as e:
        return e


def dataset(data: bytes, name: str):
    try:
        return parse_dataset(name, data)
    except DatasetError as e:
        return e


def one_row_error(result, line: int) -> str:
    """The reason for `line`, after checking the good row still loaded."""
    assert not isinstance(result, Exception), result
    reasons = {e.line: e.reason for e in result.errors}
    assert line in reasons, result.errors
    ok = result.questions if hasattr(result, "questions") else result.examples
    assert len(ok) == 1
    return reasons[line]


# --- question sets and datasets: the same bad rows ---------------------------------------------------------

@pytest.mark.parametrize("bad,reason", [
    (b'{"question": "q", "reference": ' + DEEP.encode() + b"}\n", "nested too deeply"),
    (b'{"prompt": ' + DEEP.encode() + b', "completion": "c"}\n', "nested too deeply"),
    (b'{"question": "q", "reference": "r", "source_page": 1e400}\n', "whole number"),
    (b'{"question": "q", "reference": "r", "source_page": NaN}\n', "whole number"),
    (b'{"question": "q", "reference": "r", "source_page": -Infinity}\n', "whole number"),
    (b'{"question": "q", "reference": "r", "source_document": "d", "span": [0, 1e400]}\n', "span"),
    (b'{"question": "q", "reference": "r", "source_page": ' + b"9" * 5000 + b"}\n", "4,300 digits"),
    (b'{"question": "q", "reference": "r", "id": ' + b'{"a":' * 990 + b"1" + b"}" * 990 + b"}\n", ""),
    (b'{"question": "q", "reference": "r", "expected_format": ' + b'{"a":' * 990 + b"1" + b"}" * 990 + b"}\n", ""),
    (b'[1, 2, 3]\n', "JSON object"),
    (b'"just a string"\n', "JSON object"),
    (b"\x00\x01\x02\x7f garbage\n", "JSON"),
])
def test_a_bad_question_row_is_a_row_error_and_the_others_load(bad, reason):
    rep = questions(GOOD_Q + bad, "set.jsonl")
    if isinstance(rep, Exception) or not rep.errors:  # a deep but readable value may load as a question
        assert not isinstance(rep, Exception), rep
        return
    assert reason in one_row_error(rep, 2)


@pytest.mark.parametrize("bad,reason", [
    (b'{"prompt": "p", "completion": ' + DEEP.encode() + b"}\n", "nested too deeply"),
    (b'{"prompt": "p", "completion": "c", "x": 1e400}\n', None),  # an unused number out of range: fine
    (b'{"prompt": NaN, "completion": Infinity}\n', "missing or empty"),
    (b'{"prompt": "p", "completion": "c", "n": ' + b"9" * 5000 + b"}\n", "4,300 digits"),
    (b'{"messages": ' + b"[" * 990 + b"]" * 990 + b"}\n", "message 1"),
    (b'[1, 2, 3]\n', "expected an object"),
    (b"\x00\x01\x02\x7f garbage\n", "not valid JSON"),
])
def test_a_bad_dataset_row_is_a_row_error_and_the_others_load(bad, reason):
    rep = dataset(GOOD_D + bad, "train.jsonl")
    assert not isinstance(rep, Exception), rep
    if reason is None:
        assert len(rep.examples) == 2
    else:
        assert reason in one_row_error(rep, 2) or "nested too deeply" in one_row_error(rep, 2)


def test_a_csv_field_over_the_field_limit_is_reported_on_its_row():
    rep = questions(f'question,reference\nq1,r1\n"{BIG_FIELD}",r2\nq3,r3\n'.encode(), "set.csv")
    reason = one_row_error(rep, 3)
    assert "field larger than field limit" in reason and "rest of the file were not read" in reason
    rep = dataset(f'prompt,completion\np1,c1\n"{BIG_FIELD}",c2\n'.encode(), "train.csv")
    assert "field larger than field limit" in one_row_error(rep, 3)
    rep = dataset(f'prompt,messages\np1,"{"[" * 5000}"\n'.encode(), "train.csv")  # a deep JSON cell
    assert "'messages' column" in rep.errors[0].reason and "nested too deeply" in rep.errors[0].reason
    for data, name in ((f'"{BIG_FIELD}",reference\nq,r\n', "set.csv"), (f'"{BIG_FIELD}",completion\n', "t.csv")):
        res = questions(data.encode(), name) if name == "set.csv" else dataset(data.encode(), name)
        if isinstance(res, Exception):
            assert "CSV" in str(res)  # a header that cannot be read: the file as a whole
        else:
            assert "CSV" in res.errors[0].reason


@pytest.mark.parametrize("data,name,message", [
    (DEEP.encode(), "set.json", "nested too deeply"),
    (b"\xff\xfe\x00garbage" + bytes(range(256)), "set.jsonl", "not UTF-8"),
    (b"[" + b"1" * 5000 + b"]", "set.json", "4,300 digits"),
])
def test_a_question_file_that_is_unreadable_as_a_whole_is_one_message(data, name, message):
    res = questions(data, name)
    assert isinstance(res, QuestionSetError) and message in str(res)


@pytest.mark.parametrize("data,name,message", [
    (DEEP.encode(), "train.json", "nested too deeply"),
    (b"\xff\xfe\x00garbage" + bytes(range(256)), "train.jsonl", "not UTF-8"),
    (b'"a string"', "train.json", "expected a JSON array"),
    (b"42", "train.json", "expected a JSON array"),
])
def test_a_dataset_file_that_is_unreadable_as_a_whole_is_one_message(data, name, message):
    res = dataset(data, name)
    assert isinstance(res, DatasetError) and message in str(res)


# --- recipes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage", [
    DEEP, "[]", '"x"', "42", '{"name": "house", "version": 1e400}', '{"name": "house", "version": NaN}',
    '{"name": "house", "shots": [1]}', '{"name": "house", "shots": 5}', '{"name": "house", "instructions": [1]}',
    '{"name": "house", "shots": [{"user": {"a": 1}, "assistant": "b"}]}', "\udcff",
])
def test_a_damaged_recipe_file_is_a_recipe_error(settings, damage):
    save_recipe(settings, Recipe("house", instructions="Be exact."))
    path = recipes_dir(settings) / "house" / "v0001.json"
    path.write_bytes(damage.encode("utf-8", "surrogateescape"))
    with pytest.raises(RecipeError, match="v0001.json of 'house' is damaged"):
        load_recipe(settings, "house")
    with pytest.raises(RecipeError, match="damaged"):
        save_recipe(settings, Recipe("house", instructions="Be brief."))


@pytest.mark.parametrize("d", [[], "x", None, {"instructions": "no name"}, {"name": "h", "version": float("inf")},
                               {"name": "h", "shots": [{"user": "u"}]}, {"name": ["h"]}])
def test_recipe_from_json_refuses_what_is_not_a_recipe(d):
    with pytest.raises(RecipeError, match="not a recipe"):
        Recipe.from_json(d)


# --- model answers and endpoint replies -----------------------------------------------------------------------

@pytest.mark.parametrize("depth", [100, 500, 900, 990, 100_000])
def test_an_answer_with_deeply_nested_json_is_scored_without_a_crash(depth):
    deep = "[" * depth + "]" * depth
    item = Question(id="q", question="?", reference="21 days",
                    expected_format='{"type": "object", "properties": {"answer": {"type": "string"}}}')
    for raw in (deep, '{"answer": ' + deep + "}", "```json\n" + deep + "\n```",
                '{"answer": ' + '{"a": ' * depth + "1" + "}" * depth + "}"):
        parse_json_object(raw)
        answer_text(raw)
        score_answer(item, "base", raw, None)
        for spec in ("json", "regex:^\\[+", item.expected_format, '{"a":' * 2000 + "1" + "}" * 2000):
            format_ok(raw, spec)
    assert parse_json_object(DEEP) is None and format_ok(DEEP, "json") is False


class DeepReply(BaseHTTPRequestHandler):
    """An endpoint whose reply (plain or streamed) is JSON nested 100,000 levels deep."""

    def do_POST(self):
        stream = json.loads(self.rfile.read(int(self.headers["Content-Length"]))).get("stream")
        data = f"data: {DEEP}\n\n".encode() if stream else DEEP.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if stream else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def test_an_endpoint_reply_nested_too_deeply_is_an_endpoint_error():
    from workbench.models.openai_client import ChatClient, EndpointError

    msg = [{"role": "user", "content": "hi"}]
    with fake_endpoint(handler=DeepReply) as srv:
        client = ChatClient(f"http://127.0.0.1:{srv.server_port}/v1", timeout_s=5)
        with pytest.raises(EndpointError, match="^The endpoint"):
            client.chat("m", msg)
        with pytest.raises(EndpointError, match="^The endpoint"):
            list(client.stream_chat("m", msg))


# --- the pages show the message ------------------------------------------------------------------------------

@pytest.fixture
def pages(fresh_ui_caches):
    """Pages with this test's storage."""


def test_the_run_evaluation_page_lists_unreadable_question_rows(settings, pages):
    at = app_page("pages/evaluate_run.py").run()
    data = (GOOD_Q + b'{"question": "q", "reference": ' + DEEP.encode() + b"}\n"
            + b'{"question": "q", "reference": "r", "source_page": 1e400}\n')
    at.file_uploader[0].set_value(("bad.jsonl", data, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert list(errors["line"]) == [2, 3]
    assert "nested too deeply" in errors["reason"][0] and "whole number" in errors["reason"][1]
    at.file_uploader[0].set_value(("deep.json", DEEP.encode(), "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("nested too deeply" in e.value for e in at.error)
    csv_data = f'question,reference\nq1,r1\n"{BIG_FIELD}",r2\n'.encode()
    at.file_uploader[0].set_value(("big.csv", csv_data, "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert "field larger than field limit" in errors["reason"][0]


def test_the_datasets_page_lists_unreadable_rows_and_files(settings, pages):
    at = app_page("pages/finetune_datasets.py").run()
    data = GOOD_D + b'{"prompt": ' + DEEP.encode() + b', "completion": "c"}\n'
    at.file_uploader[0].set_value(("bad.jsonl", data, "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert list(errors["row"]) == [2] and "nested too deeply" in errors["reason"][0]
    at.file_uploader[0].set_value(("big.csv", f'prompt,completion\n"{BIG_FIELD}",c\n'.encode(), "text/csv")).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = next(df.value for df in at.dataframe if "reason" in df.value.columns)
    assert "field larger than field limit" in errors["reason"][0]
    at.file_uploader[0].set_value(("deep.json", DEEP.encode(), "application/json")).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("nested too deeply" in e.value for e in at.error)
