"""Expected formats run bounded: user regexes on the `regex` engine with a time budget, JSON schemas with
no `$ref` retrieval and their `pattern`s on the same engine.

A question set comes from outside; Python's `re` can backtrack for minutes on a pattern such as
^(\\w+\\s?)*$ while holding the GIL (every session of the server stalls), and jsonschema would fetch an
http:// or file:// `$ref`. `regex` reads the same syntax as `re`, stops at a timeout, and releases the GIL
while it matches (concurrent=True). Compiling is not bounded by that timeout, so a pattern whose counted
repeats unroll too far is refused before it is compiled (pattern_problem).
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache

import regex

# Time one format check may spend in user patterns: a real pattern takes microseconds on an answer.
BUDGET_S = 0.2
_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
_deadline: ContextVar[float | None] = ContextVar("format_deadline", default=None)
_timeouts: ContextVar[list | None] = ContextVar("format_timeouts", default=None)


class FormatTimeout(Exception):
    """A user pattern ran past the check's time budget."""


@contextmanager
def budget(seconds: float = BUDGET_S) -> Iterator[None]:
    """Every bounded match inside the block shares one deadline `seconds` from now (never later than an
    enclosing block's: a whole report's checks can share one budget)."""
    deadline = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _deadline.reset(token)


@contextmanager
def timeouts() -> Iterator[list]:
    """Collects the checks inside the block that ran past their budget (one entry each): a check that
    times out answers False, and this is how its caller tells that apart from a real mismatch."""
    seen: list = []
    token = _timeouts.set(seen)
    try:
        yield seen
    finally:
        _timeouts.reset(token)


def _timed_out() -> None:
    seen = _timeouts.get()
    if seen is not None:
        seen.append(True)


def _remaining() -> float:
    deadline = _deadline.get()
    left = (deadline - time.monotonic()) if deadline is not None else BUDGET_S
    if left <= 0:
        raise FormatTimeout
    return left


def fullmatch(pattern: str, text: str, flags: int = 0) -> bool:
    """`pattern` matches the whole of `text`, within the budget; FormatTimeout past it."""
    try:
        return regex.fullmatch(pattern, text, flags, concurrent=True, timeout=_remaining()) is not None
    except TimeoutError:
        raise FormatTimeout from None


def search(pattern: str, text: str, flags: int = 0) -> bool:
    """`pattern` matches somewhere in `text`, within the budget; FormatTimeout past it."""
    try:
        return regex.search(pattern, text, flags, concurrent=True, timeout=_remaining()) is not None
    except TimeoutError:
        raise FormatTimeout from None


def matches_pattern(pattern: str, text: str) -> bool:
    """A "regex:" format: `pattern` matches all of `text` ("." spans lines); False when it runs past the budget
    or does not compile."""
    if pattern_problem(pattern):  # a set stored before its pattern was checked: never compile it
        return False
    try:
        with budget():
            return fullmatch(pattern, text, regex.S)
    except FormatTimeout:
        _timed_out()
        return False
    except regex.error:
        return False


def expanded_size(pattern: str) -> int:
    """About how many steps compiling `pattern` unrolls: counted repeats multiply what they repeat
    (a{1000} is 1,000, (?:a{1000}){1000} a million); *, + and ? loop and count once."""
    sums, last, i = [0], 1, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            brace = pattern[i + 1:i + 3].endswith("{") and pattern[i + 1] in "xNpPuUg"
            i = (pattern.find("}", i) + 1 or len(pattern)) if brace else i + 2
            last = 1
        elif c == "[":
            j = i + 1 + (pattern[i + 1:i + 2] == "^")
            j += pattern[j:j + 1] == "]"  # a leading ] is a member
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i, last = j + 1, 1
        elif c == "(":
            sums.append(0)
            i += 1
            continue
        elif c == ")" and len(sums) > 1:
            last = max(1, sums.pop())
            i += 1
        elif c == "{" and (m := _COUNT.match(pattern, i)):
            digits = max(m.group(1), m.group(2) or "", key=len)
            count = int(digits) if len(digits) < 10 else 10 ** 10
            count = max(count, int(m.group(1) or 0))
            sums[-1] += last * (count - 1)
            last *= count
            i = m.end()
            continue
        else:
            i, last = i + 1, 1
        sums[-1] += last
    return sum(sums)


_COUNT = regex.compile(r"\{(\d*)(?:,(\d*))?\}")
# Compiling unrolls counted repeats before any time budget applies, at about a microsecond a step, holding
# the GIL: a{65535} nested twice would take minutes. Real formats stay far below these.
MAX_EXPANDED = 100_000
MAX_PATTERN_CHARS = 10_000


@lru_cache(maxsize=256)
def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be used (too large to compile quickly, or it does not compile), None when it can."""
    if not isinstance(pattern, str):
        return "a pattern must be text"
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"it is {len(pattern):,} characters long, over the limit of {MAX_PATTERN_CHARS:,}"
    if expanded_size(pattern) > MAX_EXPANDED:
        return (f"its counted repeats ({{n}}, nested) unroll to over {MAX_EXPANDED:,} steps, too large to check "
                "safely; use *, + or smaller counts")
    try:
        regex.compile(pattern)
    except (regex.error, TypeError, ValueError, OverflowError, RecursionError) as e:
        return str(e)
    return None


def _nodes(schema) -> Iterator[dict]:
    """Every object in a schema, depth first."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def schema_problem(schema: dict) -> str | None:
    """Why a JSON schema cannot be used as an expected format, None when it can: it must be self-contained
    (only local "#..." references) and its patterns must compile."""
    nodes = list(_nodes(schema))
    for node in nodes:
        for kw in _REF_KEYWORDS:
            ref = node.get(kw)
            if isinstance(ref, str) and not ref.startswith("#"):
                return (f"it refers to {ref!r} ({kw}); only references inside the schema ('#/...') are allowed, "
                        "so paste the referenced schema in instead")
        patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        if isinstance(node.get("patternProperties"), dict):
            patterns += list(node["patternProperties"])
        for p in patterns:
            if problem := pattern_problem(p):
                return f"the pattern {p!r} does not compile: {problem}"
    if any("unevaluatedProperties" in n for n in nodes) and any("patternProperties" in n for n in nodes):
        return "unevaluatedProperties together with patternProperties is not supported; use additionalProperties"
    return None


def _pattern(validator, patrn, instance, schema):
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not search(patrn, instance):
        yield ValidationError(f"{instance!r} does not match {patrn!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for patrn, subschema in patterns.items():
        for k, v in instance.items():
            if search(patrn, k):
                yield from validator.descend(v, subschema, path=k, schema_path=patrn)


def _additional_properties(validator, additional, instance, schema):
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [k for k in instance if k not in known and not any(search(p, k) for p in patterns)]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, extras))} unexpected)")


@lru_cache(maxsize=16)
def _bounded(base):
    """`base` (a jsonschema validator class) with its pattern keywords on the bounded engine."""
    from jsonschema import validators

    return validators.extend(base, {"pattern": _pattern, "patternProperties": _pattern_properties,
                                    "additionalProperties": _additional_properties})


def matches_schema(instance, schema: dict) -> bool:
    """`instance` is valid under `schema`; False for a schema that is invalid, not self-contained or too slow.

    References resolve inside the schema only: the registry retrieves nothing (no http, no file reads)."""
    import jsonschema
    import referencing
    import referencing.exceptions

    if not isinstance(schema, dict) or schema_problem(schema):
        return False
    base = jsonschema.validators.validator_for(schema)
    try:
        base.check_schema(schema)
        validator = _bounded(base)(schema, registry=referencing.Registry(retrieve=_retrieve_nothing))
        with budget():
            return validator.is_valid(instance)
    except FormatTimeout:
        _timed_out()
        return False
    except (jsonschema.SchemaError, referencing.exceptions.Unresolvable, RecursionError):
        return False


def _retrieve_nothing(uri: str):
    """The registry's retrieval: none, so a reference outside the schema is unresolvable, never fetched or read."""
    import referencing.exceptions

    raise referencing.exceptions.NoSuchResource(ref=uri)
