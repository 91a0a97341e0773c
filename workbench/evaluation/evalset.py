"""Evaluation sets: questions with reference answers, parsed from CSV/JSONL with row-level errors."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from workbench.settings import Settings

# Columns a row may carry; only `question` and `reference` are required (reference may be
# empty for an unanswerable question, where the expected answer is an abstention).
COLUMNS = ("id", "question", "reference", "expected_format", "source_document", "source_page", "unanswerable")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


class EvalSetError(ValueError):
    """An evaluation set that cannot be used; the message is meant for the user."""


@dataclass(frozen=True)
class EvalItem:
    """One question of an evaluation set."""

    id: str
    question: str
    reference: str
    # "" (none), "json" (must parse), "regex:<pattern>" (full match), or a JSON schema as text.
    expected_format: str = ""
    source_document: str | None = None  # file name of the document holding the answer
    source_page: int | None = None  # 1-based page, for paged documents
    unanswerable: bool = False  # the documents do not hold the answer: abstaining is correct

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "EvalItem":
        return cls(**{k: d[k] for k in COLUMNS if k in d})


@dataclass(frozen=True)
class RowError:
    """Why one row of an upload was rejected; `line` is 1-based in the uploaded file."""

    line: int
    reason: str


@dataclass(frozen=True)
class ParseReport:
    """The valid items of an upload and the rows that were rejected."""

    items: tuple[EvalItem, ...]
    errors: tuple[RowError, ...] = field(default=())


def _as_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise EvalSetError(f"'unanswerable' must be true/false, got {value!r}")


def _as_page(value) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        page = int(float(value))
    except (TypeError, ValueError):
        raise EvalSetError(f"'source_page' must be a whole number, got {value!r}") from None
    if page < 1:
        raise EvalSetError(f"'source_page' must be 1 or more, got {page}")
    return page


def check_format_spec(spec: str) -> None:
    """Raise EvalSetError when an expected_format is not '', 'json', 'regex:...' or a JSON schema."""
    if spec in ("", "json"):
        return
    if spec.startswith("regex:"):
        try:
            re.compile(spec[len("regex:"):])
        except re.error as e:
            raise EvalSetError(f"invalid regular expression in expected_format: {e}") from None
        return
    try:
        schema = json.loads(spec)
    except json.JSONDecodeError:
        raise EvalSetError("expected_format must be empty, 'json', 'regex:<pattern>' or a JSON schema") from None
    if not isinstance(schema, dict):
        raise EvalSetError("a JSON schema in expected_format must be an object")
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as e:
        raise EvalSetError(f"invalid JSON schema in expected_format: {e.message}") from None


def item_from_row(row: dict, line: int) -> EvalItem:
    """One validated item from a raw row (CSV dict or JSON object); raises EvalSetError."""
    if not isinstance(row, dict):
        raise EvalSetError("each row must be a JSON object")
    question = str(row.get("question") or "").strip()
    if not question:
        raise EvalSetError("missing 'question'")
    unanswerable = _as_bool(row.get("unanswerable"))
    reference = row.get("reference")
    reference = "" if reference is None else str(reference).strip()
    if not reference and not unanswerable:
        raise EvalSetError("missing 'reference' (leave it empty only for unanswerable questions)")
    fmt = row.get("expected_format") or ""
    fmt = json.dumps(fmt) if isinstance(fmt, dict) else str(fmt).strip()
    check_format_spec(fmt)
    source = row.get("source_document")
    source = str(source).strip() or None if source is not None else None
    return EvalItem(
        id=str(row.get("id") or f"row{line}").strip(),
        question=question,
        reference=reference or "unknown",
        expected_format=fmt,
        source_document=source,
        source_page=_as_page(row.get("source_page")),
        unanswerable=unanswerable,
    )


def _rows(data: bytes, filename: str) -> list[tuple[int, object]]:
    """(line number, raw row) pairs; a JSONL line that does not parse becomes an exception value."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EvalSetError("the file is not UTF-8 text") from None
    name = filename.lower()
    if name.endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "question" not in [f.strip() for f in reader.fieldnames]:
            raise EvalSetError("the CSV needs a header row with at least 'question' and 'reference' columns")
        # Line numbers count the header as line 1, as a spreadsheet shows them.
        return [(i + 2, {(k or "").strip(): v for k, v in r.items()}) for i, r in enumerate(reader)]
    if name.endswith((".jsonl", ".json")):
        if name.endswith(".json") and text.lstrip().startswith("["):
            try:
                return [(i + 1, r) for i, r in enumerate(json.loads(text))]
            except json.JSONDecodeError as e:
                raise EvalSetError(f"invalid JSON: {e}") from None
        out: list[tuple[int, object]] = []
        for i, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append((i, json.loads(line)))
            except json.JSONDecodeError as e:
                out.append((i, EvalSetError(f"not valid JSON ({e.msg})")))
        return out
    raise EvalSetError("upload a .csv, .jsonl or .json file")


def parse_evalset(data: bytes, filename: str, max_mb: float = 20.0) -> ParseReport:
    """Validate every row; valid rows become items, invalid ones are reported with their line."""
    if len(data) > max_mb * 1024 * 1024:
        raise EvalSetError(f"the file is {len(data) / 1e6:.1f} MB; the limit is {max_mb:g} MB")
    items: list[EvalItem] = []
    errors: list[RowError] = []
    seen: set[str] = set()
    for line, row in _rows(data, filename):
        try:
            if isinstance(row, Exception):
                raise row
            item = item_from_row(row, line)
            if item.id in seen:
                raise EvalSetError(f"duplicate id {item.id!r}")
        except EvalSetError as e:
            errors.append(RowError(line, str(e)))
            continue
        seen.add(item.id)
        items.append(item)
    if not items and not errors:
        raise EvalSetError("the file holds no rows")
    return ParseReport(tuple(items), tuple(errors))


# --- stored sets: settings.evals_dir/sets/<name>.jsonl ---------------------------------------

def sets_dir(settings: Settings) -> Path:
    return settings.evals_dir / "sets"


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise EvalSetError("a set name uses letters, digits, spaces, '_', '.' or '-' (at most 64)")
    return name


def save_set(settings: Settings, name: str, items: list[EvalItem] | tuple[EvalItem, ...]) -> Path:
    """Store a set under its name (replacing one of the same name); returns its path."""
    name = check_name(name)
    if not items:
        raise EvalSetError("an evaluation set needs at least one valid question")
    d = sets_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.jsonl"
    tmp = d / f".{name}.jsonl.tmp"
    tmp.write_text("".join(json.dumps(i.to_json()) + "\n" for i in items))
    tmp.replace(path)
    return path


def list_sets(settings: Settings) -> list[str]:
    d = sets_dir(settings)
    return sorted(p.stem for p in d.glob("*.jsonl")) if d.is_dir() else []


def load_set(settings: Settings, name: str) -> list[EvalItem]:
    path = sets_dir(settings) / f"{check_name(name)}.jsonl"
    if not path.is_file():
        raise EvalSetError(f"no evaluation set named {name!r}")
    return [EvalItem.from_json(json.loads(ln)) for ln in path.read_text().splitlines() if ln.strip()]


def delete_set(settings: Settings, name: str) -> None:
    path = sets_dir(settings) / f"{check_name(name)}.jsonl"
    path.unlink(missing_ok=True)
