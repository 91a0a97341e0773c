"""One parser for question sets (CSV, TSV, JSONL, JSON list): row checks with line numbers, size limit, formats."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from workbench.questions import formats
from workbench.questions.question import Question, QuestionSet, QuestionSetError
from workbench.types import RowError
from workbench.uploads import json_problem

# Accepted spellings of each column, canonical name first (keys are matched lower-cased and stripped).
ID_KEYS = ("id", "qid")
QUESTION_KEYS = ("question", "query", "q")
REFERENCE_KEYS = ("reference", "answer", "expected_answer", "gold_answer")
SOURCE_KEYS = ("source_document", "source", "document", "doc", "doc_name")
PAGE_KEYS = ("source_page", "page")
FILE_TYPES = (".csv", ".tsv", ".jsonl", ".ndjson", ".json")  # what the parser reads; uploaders offer these
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


def _first(row: dict, keys):
    for k in keys:
        v = row.get(k)
        if v is not None and str(v).strip() != "":
            return v
    return None


def _as_bool(value, column: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise QuestionSetError(f"'{column}' must be true/false, got {value!r}")


def _as_page(value) -> int | None:
    if value is None:
        return None
    try:
        page = int(float(value))
    except (TypeError, ValueError, OverflowError):  # NaN, Infinity and 1e400 are JSON numbers too
        raise QuestionSetError(f"'source_page' must be a whole number, got {value!r}") from None
    if page < 1:
        raise QuestionSetError(f"'source_page' must be 1 or more, got {page}")
    return page


def _as_span(value) -> tuple[int, int] | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, str):  # a CSV cell: "[120, 480]" or "120,480"
            value = json.loads("[" + value.strip().strip("[]") + "]")
        start, end = int(value[0]), int(value[1])
    except (TypeError, ValueError, IndexError, KeyError, OverflowError, RecursionError):
        raise QuestionSetError("'span' must be [start, end] character offsets") from None
    if not 0 <= start < end:
        raise QuestionSetError(f"'span' must have 0 <= start < end, got [{start}, {end}]")
    return start, end


def check_format_spec(spec: str) -> None:
    """Raise QuestionSetError when an expected_format is not '', 'json', 'regex:...' or a JSON schema."""
    if spec in ("", "json"):
        return
    if spec.startswith("regex:"):
        # Compiled by the engine that will match it (formats.py: bounded, same syntax as `re`).
        problem = formats.pattern_problem(spec[len("regex:"):])
        if problem:
            raise QuestionSetError(f"invalid regular expression in expected_format: {problem}")
        return
    try:
        schema = json.loads(spec)
    except (json.JSONDecodeError, RecursionError):
        raise QuestionSetError("expected_format must be empty, 'json', 'regex:<pattern>' or a JSON schema") from None
    if not isinstance(schema, dict):
        raise QuestionSetError("a JSON schema in expected_format must be an object")
    problem = formats.schema_problem(schema)
    if problem:
        raise QuestionSetError(f"the JSON schema in expected_format cannot be used: {problem}")
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        raise QuestionSetError(f"invalid JSON schema in expected_format: {e.message}") from None
    except RecursionError:
        raise QuestionSetError("the JSON schema in expected_format is nested too deeply") from None


def question_from_row(row, line: int) -> Question:
    """One validated question from a raw row (CSV dict or JSON object); raises QuestionSetError."""
    if not isinstance(row, dict):
        raise QuestionSetError("each row must be a JSON object")
    row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
    question = str(_first(row, QUESTION_KEYS) or "").strip()
    if not question:
        raise QuestionSetError("missing 'question'")
    unanswerable = _as_bool(row.get("unanswerable"), "unanswerable")
    reference = str(_first(row, REFERENCE_KEYS) or "").strip()
    source = _first(row, SOURCE_KEYS)
    source = str(source).strip() if source is not None else None
    span = _as_span(row.get("span"))
    if span is not None and source is None:
        raise QuestionSetError("a 'span' needs the 'source_document' it indexes")
    # Retrieval scoring needs a reference text or a source; answer scoring needs a reference.
    if not (reference or source or unanswerable):
        raise QuestionSetError("missing 'reference' (leave it empty only for unanswerable questions, or give the "
                               "'source_document' that holds the answer)")
    fmt = row.get("expected_format") or ""
    fmt = json.dumps(fmt) if isinstance(fmt, dict) else str(fmt).strip()
    check_format_spec(fmt)
    return Question(
        id=str(_first(row, ID_KEYS) or f"row{line}").strip(),
        question=question,
        reference=reference or ("unknown" if unanswerable else ""),
        expected_format=fmt,
        source_document=source,
        source_page=_as_page(_first(row, PAGE_KEYS)),
        unanswerable=unanswerable,
        span=span,
        synthetic=_as_bool(row.get("synthetic"), "synthetic"),
    )


def _csv_rows(text: str, tsv: bool) -> list[tuple[int, object]]:
    """(line number, row) pairs; a row the csv module cannot read ends the file as an exception value."""
    reader = csv.DictReader(io.StringIO(text), delimiter="\t" if tsv else ",")
    try:
        header = [(f or "").strip().lower() for f in reader.fieldnames or ()]
    except csv.Error as e:
        raise QuestionSetError(f"the header row is not readable as CSV ({e})") from None
    if not set(header) & set(QUESTION_KEYS):
        raise QuestionSetError("the CSV needs a header row with a 'question' column and a 'reference' "
                               "or 'source_document' column")
    # Line numbers count the header as line 1, as a spreadsheet shows them.
    out: list[tuple[int, object]] = []
    rows = iter(reader)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return out
        except csv.Error as e:
            # The reader cannot resync after a broken row (a quoted field may span lines): stop, and say so.
            out.append((len(out) + 2, QuestionSetError(f"not readable as CSV ({e}); this row and the rest of "
                                                       "the file were not read")))
            return out
        out.append((len(out) + 2, row))


def _rows(data: bytes, filename: str) -> list[tuple[int, object]]:
    """(line number, raw row) pairs; a row that does not parse becomes an exception value."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise QuestionSetError(f"the file is not UTF-8 text ({e.reason} at byte {e.start})") from None
    name = filename.lower()
    if name.endswith((".csv", ".tsv")):
        return _csv_rows(text, name.endswith(".tsv"))
    if name.endswith((".jsonl", ".ndjson", ".json")):
        if name.endswith(".json") and text.lstrip().startswith("["):
            try:
                rows = json.loads(text)
            except (ValueError, RecursionError) as e:
                raise QuestionSetError(f"the file is {json_problem(e)}") from None
            return [(i + 1, r) for i, r in enumerate(rows)]
        out: list[tuple[int, object]] = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append((i, json.loads(line)))
            except (ValueError, RecursionError) as e:
                out.append((i, QuestionSetError(json_problem(e))))
        return out
    raise QuestionSetError(f"upload a {', '.join(FILE_TYPES[:-1])} or {FILE_TYPES[-1]} file")


def _row_problem(e: Exception) -> str:
    """What to tell the user about a row whose check raised `e` (anything but a QuestionSetError is unplanned)."""
    if isinstance(e, QuestionSetError):
        return str(e)
    if isinstance(e, RecursionError):
        return "a value is nested too deeply to read"
    return f"could not be read ({type(e).__name__}: {str(e)[:200]})"


def parse_questions(data: bytes, filename: str, max_mb: float = 20.0) -> QuestionSet:
    """Validate every row; valid rows become questions, invalid ones are reported with their line.

    Raises QuestionSetError when the file as a whole is unusable (type, size, encoding, no rows); nothing
    else escapes: a row that breaks the checks in any way is reported with its line."""
    if len(data) > max_mb * 1024 * 1024:  # before decoding: a bigger file is never held twice in memory
        raise QuestionSetError(f"the file is {len(data) / 1e6:.1f} MB; the limit is {max_mb:g} MB")
    try:
        rows = _rows(data, filename)
    except QuestionSetError:
        raise
    except Exception as e:  # MemoryError, RecursionError, a csv quirk: a message, never a traceback
        raise QuestionSetError(f"the file could not be read ({type(e).__name__}: {str(e)[:200]})") from None
    questions: list[Question] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for line, row in rows:
        try:
            if isinstance(row, Exception):
                raise row
            q = question_from_row(row, line)
            if q.id in seen:
                raise QuestionSetError(f"duplicate id {q.id!r}")
        except Exception as e:  # one bad row never costs the others, nor reaches the page as a traceback
            errors.append(RowError(line, _row_problem(e)))
            continue
        seen.add(q.id)
        questions.append(q)
    if not questions and not errors:
        raise QuestionSetError("the file holds no rows")
    return QuestionSet(filename, tuple(questions), tuple(errors))


def load_question_file(path, max_mb: float = 20.0) -> QuestionSet:
    """parse_questions on a file on disk."""
    p = Path(path)
    return parse_questions(p.read_bytes(), p.name, max_mb)


def sample_question_set() -> QuestionSet:
    """The sample workspace's question set (references, source documents, 8 unanswerable questions)."""
    from workbench.sample import eval_path

    qs = load_question_file(eval_path())
    return QuestionSet("sample workspace question set", qs.questions, qs.errors)
