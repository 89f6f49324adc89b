"""Errors in ``tocsin.toml`` in words a person can act on: the file, the line, the key, and
what is allowed, for every error pydantic reports (never its own wording, such as "String
should match pattern"). tomllib keeps no positions, so :func:`locate` finds a key's line
in the text.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from bot.text import shown


@dataclass(frozen=True)
class Form:
    """How a value with a ``pattern`` is written, in words, for its error message: what it
    is (``"a colour"``) and how to write it (``'write it as "#rrggbb", e.g. "#d73a4a"'``)."""

    what: str
    how: str


def explain(
    path: Path,
    text: str,
    exc: ValidationError,
    *,
    data: Any = None,
    prefix: list[str] | None = None,
    model: type[BaseModel],
    removed: Collection[tuple[int | str, ...]] = (),
) -> str:
    """One line per error: the file and line, the key, and what is wrong in words, with
    the allowed values (from the field's bounds and :class:`Form`), never pydantic's own
    wording."""
    lines = []
    for err in exc.errors(include_url=False):
        if err["type"] == "missing" and tuple(err["loc"]) in removed:
            continue  # left out to check the rest: its own error is said already
        ctx = err.get("ctx") or {}
        inner = [str(p) for p in (ctx["at"] if err["type"] == "tocsin" else err["loc"])]
        if inner[:1] == ["people"] and inner[2:3] == ["ids"] and "ids" not in _at(data, inner):
            # a person's platform id, written slack = "U…", is Person.ids["slack"]
            inner = [*inner[:2], *inner[3:]]
        loc = [*(prefix or []), *inner]
        line = locate(text, loc)
        where = f"{path}:{line}" if line else str(path)
        lines.append(f"{where}: {_words(err, loc, inner, model)}")
    return "\n".join(dict.fromkeys(lines))


def _at(data: Any, loc: list[str]) -> Any:
    """The table at ``loc[:2]`` of the data read (a person's), or an empty one."""
    for part in loc[:2]:
        data = data.get(part, {}) if isinstance(data, dict) else {}
    return data if isinstance(data, dict) else {}


def _words(err: ErrorDetails, loc: list[str], inner: list[str], model: type[BaseModel]) -> str:
    """What is wrong with the value at ``loc``, as a person would say it."""
    kind, ctx = err["type"], err.get("ctx") or {}
    key = ".".join(loc) or "the file"
    got = toml(err.get("input"))
    field = _field(model, inner)
    if kind == "extra_forbidden":
        message = f"unknown key {key!r}"
        hint = _closest(loc, data_model_keys(inner[:-1], model))
        return message + (f" (did you mean {hint!r}?)" if hint else "")
    if kind == "tocsin":
        return f"{key}: {ctx['message']}"
    if kind == "value_error":
        return f"{key}: {str(ctx.get('error', err['msg'])).removeprefix('Value error, ')}"
    if kind == "missing":
        about = f" ({field.description})" if field and field.description else ""
        return f"{key} is required{about}"
    if kind == "string_pattern_mismatch":
        form = next((m for m in (field.metadata if field else []) if isinstance(m, Form)), None)
        if form:
            return f"{key}: {got} is not {form.what}; {form.how}"
        return f"{key}: {got} is not written the way it should be"
    if kind in ("string_too_short", "string_too_long"):
        least, most = _bounds(field, "min_length", "max_length")
        if kind == "string_too_short" and (least or 0) <= 1:
            return f"{key} must not be empty"
        size = len(err["input"]) if isinstance(err.get("input"), str) else "?"
        return f"{key} is {size} characters long; write {_range(least, most, 'characters')}"
    if kind == "too_short":
        least = ctx.get("min_length", 1)
        return (
            f"{key} is empty; give at least {least}"
            if not err.get("input")
            else (f"{key}: give at least {least}")
        )
    if kind == "too_long":
        return f"{key}: give at most {ctx.get('max_length', '…')}"
    if kind in _NUMBER_ERRORS:
        least, most = _bounds(field, "ge", "le")
        wanted = f"write {_range(least, most, 'whole number')}"
        if kind in ("int_type", "int_parsing", "int_from_float"):
            return f"{key}: {got} is not a whole number; {wanted}"
        return f"{key}: {got} is out of range; {wanted}"
    if kind in _EXPECTED:
        return f"{key}: {got} is not {_EXPECTED[kind]}"
    if kind in ("literal_error", "enum"):
        return f"{key}: {got} is not one of {ctx.get('expected', '…')}"
    message = err["msg"]
    return f"{key}: {message[:1].lower()}{message[1:]} (got {got})"


_NUMBER_ERRORS = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
}
_EXPECTED = {
    "string_type": "text; write it in quotes",
    "bool_type": "true or false (without quotes)",
    "bool_parsing": "true or false (without quotes)",
    "dict_type": "a table: give it its own [section], or { key = value, … }",
    "model_type": "a table: give it its own [section], or { key = value, … }",
    "model_attributes_type": "a table: give it its own [section], or { key = value, … }",
    "list_type": "a list: [ …, … ]",
    "float_type": "a number",
    "float_parsing": "a number",
}


def toml(value: Any) -> str:
    """A value as it is written in TOML, short: ``"red"``, ``7``, ``true``, a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(shown(value), ensure_ascii=False)
    if isinstance(value, int | float):
        return shown(str(value))
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _bounds(field: FieldInfo | None, low: str, high: str) -> tuple[Any, Any]:
    """A field's bounds (``ge``/``le``, ``min_length``/``max_length``), or None each."""
    least = most = None
    for item in field.metadata if field else []:
        least = getattr(item, low, least)
        most = getattr(item, high, most)
    return least, most


def _range(least: Any, most: Any, unit: str) -> str:
    if unit == "characters":
        if most is not None:
            return f"{least or 0} to {most} characters" if least else f"at most {most} characters"
        return f"at least {least} characters"
    if least is not None and most is not None:
        return f"a {unit} from {least} to {most}"
    if least is not None:
        return f"a {unit} of at least {least}"
    if most is not None:
        return f"a {unit} of at most {most}"
    return f"a {unit}"


def _field(model: type[BaseModel], loc: list[str]) -> FieldInfo | None:
    """The field at a location (through models and the values of dicts), if any."""
    annotation: Any = model
    found: FieldInfo | None = None
    for part in loc:
        args = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) in (Union, UnionType) and len(args) == 1:
            annotation = args[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found = annotation.model_fields.get(part)
            if found is None:
                return None
            annotation = found.annotation
        elif get_origin(annotation) is dict:
            annotation, found = get_args(annotation)[1], None
        else:
            return None
    return found


def _closest(loc: list[str], candidates: list[str]) -> str | None:
    matches = difflib.get_close_matches(loc[-1], candidates, n=1, cutoff=0.6) if loc else []
    return matches[0] if matches else None


def data_model_keys(parent: list[str], model: type[BaseModel]) -> list[str]:
    """The keys allowed under a dotted path (for 'did you mean')."""
    for part in parent:
        field = model.model_fields.get(part)
        if field is None:
            # a dict level such as severities.SEV1: the value model is the dict's
            continue
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        inner = args[-1] if args else annotation
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            model = inner
        else:
            return []
    return [name for name, field in model.model_fields.items() if not field.exclude]


_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"'.]+)\s*=")


def locate(text: str, loc: list[str]) -> int | None:
    """The 1-based line of the key at ``loc`` in TOML ``text`` (best effort: tomllib keeps
    no positions), else of the nearest enclosing table written in the file, else of the
    first key written under ``loc`` (a table whose keys are wrong together)."""
    ancestor: tuple[int, int] | None = None  # (depth, line)
    descendant: int | None = None
    table: list[str] = []
    arrays: dict[tuple[str, ...], int] = {}  # [[x]] tables seen: x's next index
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string:  # inside a multi-line string: no keys here
            if raw.count(in_string) % 2:
                in_string = None
            continue
        header = _HEADER.match(raw)
        if header:
            path = [_unquote(p) for p in header.group(1).split(".")]
            if raw.lstrip().startswith("[["):  # an array of tables: its entries are 0, 1, …
                index = arrays[tuple(path)] = arrays.get(tuple(path), -1) + 1
                path = [*path, str(index)]
            table = path
        else:
            key = _KEY.match(raw)
            if not key:
                continue
            path = table + [_unquote(p) for p in key.group(1).split(".")]
            quotes = re.findall(r'"""|\'\'\'', raw)
            if len(quotes) % 2:
                in_string = quotes[-1]
        if path == loc[: len(path)]:
            if len(path) == len(loc) or not header:
                return number  # the key itself, or a key whose inline value holds it
            if ancestor is None or len(path) > ancestor[0]:
                ancestor = (len(path), number)
        elif path[: len(loc)] == loc and descendant is None:
            descendant = number
    return ancestor[1] if ancestor else descendant


def _unquote(part: str) -> str:
    return part.strip().strip("\"'")
