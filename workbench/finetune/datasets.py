"""Training datasets: parse uploads in the common shapes, check them row by row, store, split, measure.

Every example is normalised to chat messages whose last turn is the assistant's answer: the loss is
computed on that answer only. Shapes accepted per row:
  prompt/completion   {"prompt": str, "completion": str, "system"?: str}
  Alpaca              {"instruction": str, "input"?: str, "output": str}
  chat                {"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from workbench.names import check_name
from workbench.answering.prompts import DEFAULT_SYSTEM_PROMPT
from workbench.settings import Settings
from workbench.types import RowError
from workbench.uploads import json_problem

ROLES = ("system", "user", "assistant")


class DatasetError(ValueError):
    """A dataset problem meant for the user (unreadable file, nothing usable, bad name)."""


@dataclass(frozen=True)
class Example:
    """One training example: chat messages ending with the assistant turn the model learns."""

    messages: tuple[tuple[str, str], ...]  # (role, content) pairs
    source_row: int = 0  # 1-based line / row in the uploaded file

    def as_dicts(self) -> list[dict]:
        return [{"role": r, "content": c} for r, c in self.messages]

    @property
    def prompt_messages(self) -> list[dict]:
        return self.as_dicts()[:-1]

    @property
    def completion(self) -> str:
        return self.messages[-1][1]


@dataclass(frozen=True)
class ParseResult:
    examples: tuple[Example, ...]
    errors: tuple[RowError, ...]
    shapes: dict = field(default_factory=dict)  # shape -> count of rows in it
    n_rows: int = 0


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    n_examples: int
    content_hash: str  # sha256 of the stored examples, first 16 hex chars
    source: str  # uploaded file name, "sample", or "synthetic from collection X"
    synthetic: bool
    created_at: float
    shapes: dict
    path: Path


def _text(v) -> str | None:
    return v if isinstance(v, str) and v.strip() else None


def normalise_row(row, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT) -> tuple[str, list[tuple[str, str]]]:
    """(shape, messages) for one parsed row; raises ValueError with the reason it is unusable."""
    if not isinstance(row, dict):
        raise ValueError(f"expected an object, got {type(row).__name__}")
    if "messages" in row:
        msgs = row["messages"]
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty list")
        out = []
        for i, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
                raise ValueError(f"message {i + 1} needs a role in {ROLES} and string content")
            out.append((m["role"], m["content"]))
        if out[-1][0] != "assistant" or not out[-1][1].strip():
            raise ValueError("the last message must be a non-empty assistant turn (what the model learns)")
        if not any(r == "user" for r, _ in out):
            raise ValueError("no user message")
        if system_prompt and out[0][0] != "system":
            out.insert(0, ("system", system_prompt))
        return "chat", out
    if "instruction" in row or "output" in row:
        instruction, output = _text(row.get("instruction")), _text(row.get("output"))
        missing = [k for k, v in (("instruction", instruction), ("output", output)) if v is None]
        if missing:
            raise ValueError(f"missing or empty field(s): {', '.join(missing)}")
        extra = row.get("input")
        if extra is not None and not isinstance(extra, str):
            raise ValueError("'input' must be a string")
        user = instruction + (f"\n\n{extra}" if extra and extra.strip() else "")
        head = [("system", system_prompt)] if system_prompt else []
        return "alpaca", head + [("user", user), ("assistant", output)]
    if "prompt" in row or "completion" in row:
        prompt, completion = _text(row.get("prompt")), _text(row.get("completion"))
        missing = [k for k, v in (("prompt", prompt), ("completion", completion)) if v is None]
        if missing:
            raise ValueError(f"missing or empty field(s): {', '.join(missing)}")
        system = _text(row.get("system")) or system_prompt
        head = [("system", system)] if system else []
        return "prompt/completion", head + [("user", prompt), ("assistant", completion)]
    keys = ", ".join(sorted(map(str, row))[:6]) or "none"
    raise ValueError(f"unknown shape (fields: {keys}); expected prompt/completion, "
                     "instruction/output or messages")


def _row_problem(e: BaseException) -> str:
    """What to tell the user about a row whose check raised `e` (a ValueError carries the planned message)."""
    if isinstance(e, RecursionError):
        return "a value is nested too deeply to read"
    if type(e) is ValueError:
        return str(e)
    return f"could not be read ({type(e).__name__}: {str(e)[:200]})"


def _jsonl_rows(text: str):
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line)
        except (ValueError, RecursionError) as e:
            yield i, ValueError(json_problem(e))


def _csv_rows(text: str):
    reader = csv.DictReader(io.StringIO(text))
    try:
        if not reader.fieldnames:
            return
    except csv.Error as e:
        yield 1, ValueError(f"the header row is not readable as CSV ({e})")
        return
    rows, i = iter(reader), 1
    while True:
        i += 1
        try:
            r = next(rows)
        except StopIteration:
            return
        except csv.Error as e:
            # The reader cannot resync after a broken row (a quoted field may span lines): stop, and say so.
            yield i, ValueError(f"not readable as CSV ({e}); this row and the rest of the file were not read")
            return
        if None in r:
            yield i, ValueError("more values than header columns")
            continue
        row = {k: v for k, v in r.items() if v not in (None, "")}
        if isinstance(row.get("messages"), str):
            try:
                row["messages"] = json.loads(row["messages"])
            except (ValueError, RecursionError) as e:
                yield i, ValueError(f"'messages' column: {json_problem(e)}")
                continue
        yield i, row


def _rows(name: str, data: bytes):
    """(row number, parsed row or the exception for it) for each row of the file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(f"{name} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    suffix = Path(name).suffix.lower()
    if suffix == ".csv":
        yield from _csv_rows(text)
    elif suffix == ".json":
        try:
            doc = json.loads(text)
        except (ValueError, RecursionError) as e:
            if text.lstrip().startswith("{") and "\n" in text.strip():
                yield from _jsonl_rows(text)  # JSON Lines saved with a .json name
                return
            if isinstance(e, json.JSONDecodeError):
                raise DatasetError(f"{name} is not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
            raise DatasetError(f"{name}: {json_problem(e)}") from None
        if isinstance(doc, dict):
            doc = next((v for v in doc.values() if isinstance(v, list)), [doc])
        if not isinstance(doc, list):
            raise DatasetError(f"{name}: expected a JSON array of examples, got a {type(doc).__name__}")
        yield from enumerate(doc, start=1)
    elif suffix in (".jsonl", ".ndjson"):
        yield from _jsonl_rows(text)
    else:
        raise DatasetError(f"{name}: unsupported file type '{suffix or 'none'}' (use .jsonl, .json or .csv)")


def parse_dataset(name: str, data: bytes, system_prompt: str | None = DEFAULT_SYSTEM_PROMPT,
                  max_bytes: int | None = None) -> ParseResult:
    """Every usable example and, for every other row, its number and why it was rejected.

    DatasetError when the file as a whole is unusable (type, size, encoding, not JSON); nothing else escapes."""
    if max_bytes is not None and len(data) > max_bytes:  # before decoding: a bigger file is never held twice
        raise DatasetError(f"{name} is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    examples, errors, shapes, n = [], [], {}, 0
    try:
        for row_no, row in _rows(name, data):
            n += 1
            try:
                if isinstance(row, Exception):
                    raise row
                shape, msgs = normalise_row(row, system_prompt)
            except Exception as e:  # one bad row never costs the others, nor reaches the page as a traceback
                errors.append(RowError(row_no, _row_problem(e)))
                continue
            shapes[shape] = shapes.get(shape, 0) + 1
            examples.append(Example(tuple(msgs), row_no))
    except DatasetError:
        raise
    except Exception as e:  # MemoryError, RecursionError, a csv quirk: a message, never a traceback
        raise DatasetError(f"{name} could not be read ({type(e).__name__}: {str(e)[:200]})") from None
    return ParseResult(tuple(examples), tuple(errors), shapes, n)


def split(examples: list[Example] | tuple[Example, ...], val_fraction: float, seed: int):
    """(train, validation): a seeded shuffle, at least one validation example when asked for any."""
    items = list(examples)
    random.Random(seed).shuffle(items)
    if val_fraction <= 0 or len(items) < 2:
        return items, []
    n_val = min(len(items) - 1, max(1, round(len(items) * val_fraction)))
    return items[n_val:], items[:n_val]


# ---- rendering and tokenisation with the model's own chat template ----

def render(tokenizer, ex: Example) -> tuple[str, str]:
    """(prompt, completion) strings as the chat template lays them out; prompt + completion = full text."""
    prompt = tokenizer.apply_chat_template(ex.prompt_messages, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(ex.as_dicts(), tokenize=False)
    if not full.startswith(prompt):  # templates that rewrite earlier turns: fall back to a plain join
        return prompt, ex.completion + (tokenizer.eos_token or "")
    return prompt, full[len(prompt):]


@dataclass(frozen=True)
class Encoded:
    input_ids: tuple[int, ...]
    n_prompt: int  # tokens before the completion (masked out of the loss)
    truncated: bool


def encode(tokenizer, ex: Example, max_len: int, overlong: str = "truncate") -> Encoded | None:
    """Token ids with the completion boundary; None when the example is dropped as too long."""
    prompt, completion = render(tokenizer, ex)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    c = tokenizer(completion, add_special_tokens=False)["input_ids"]
    ids = p + c
    if len(ids) <= max_len:
        return Encoded(tuple(ids), len(p), False)
    if overlong == "drop" or len(p) >= max_len:
        return None  # nothing of the answer would be left to learn from
    return Encoded(tuple(ids[:max_len]), len(p), True)


def token_lengths(tokenizer, examples) -> list[int]:
    """Full rendered length of each example in tokens (prompt + completion)."""
    out = []
    for ex in examples:
        prompt, completion = render(tokenizer, ex)
        out.append(len(tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]))
    return out


# ---- storage: datasets_dir/NAME/{examples.jsonl, meta.json} ----

def examples_hash(examples) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex.messages).encode())
    return h.hexdigest()[:16]


def save_dataset(settings: Settings, name: str, examples, source: str, synthetic: bool = False,
                 shapes: dict | None = None, overwrite: bool = False) -> DatasetInfo:
    """Store examples under `name` (written to a temp folder, then moved into place)."""
    name = check_name(name, "dataset", DatasetError)
    if not examples:
        raise DatasetError("The dataset has no usable examples.")
    root = settings.datasets_dir
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists() and not overwrite:
        raise DatasetError(f"A dataset named '{name}' exists already.")
    tmp = root / f".{name}.{time.time_ns()}.tmp"
    tmp.mkdir()
    with open(tmp / "examples.jsonl", "w") as f:
        for ex in examples:
            f.write(json.dumps({"messages": ex.as_dicts(), "row": ex.source_row}) + "\n")
    meta = {"name": name, "n_examples": len(examples), "content_hash": examples_hash(examples),
            "source": source, "synthetic": synthetic, "created_at": time.time(), "shapes": shapes or {}}
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    return _info(final)


def _info(d: Path) -> DatasetInfo:
    m = json.loads((d / "meta.json").read_text())
    return DatasetInfo(m["name"], m["n_examples"], m["content_hash"], m["source"], m["synthetic"],
                       m["created_at"], m.get("shapes", {}), d)


def list_datasets(settings: Settings) -> list[DatasetInfo]:
    root = settings.datasets_dir
    if not root.is_dir():
        return []
    out = []
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or not (d / "meta.json").is_file():
            continue
        try:
            out.append(_info(d))
        except (OSError, ValueError, KeyError):
            continue
    return out


def get_dataset(settings: Settings, name: str) -> DatasetInfo:
    d = settings.datasets_dir / name
    if not name or "/" in name or not (d / "meta.json").is_file():
        raise DatasetError(f"No dataset named '{name}'.")
    return _info(d)


def load_examples(settings: Settings, name: str) -> list[Example]:
    info = get_dataset(settings, name)
    out = []
    for line in (info.path / "examples.jsonl").read_text().splitlines():
        r = json.loads(line)
        out.append(Example(tuple((m["role"], m["content"]) for m in r["messages"]), r.get("row", 0)))
    return out


def delete_dataset(settings: Settings, name: str) -> None:
    shutil.rmtree(get_dataset(settings, name).path)
