"""The incident-process config: ``tocsin.toml`` (path in ``TOCSIN_CONFIG``).

Severities, roles, people, services and channels. ``tomllib`` reads it; pydantic validates
it; every error names the file, the line and the key, in words a person can act on.

Platform plugins own their tables (``[discord]``) and the keys a person carries for them
(``slack = "U…"``): :func:`load_config` takes the installed plugins' names and models, so
a new platform needs no change here.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from bot.durations import parse_duration
from bot.errors import ConfigError

_M = TypeVar("_M", bound=BaseModel)
_SEV_KEY = re.compile(r"^SEV([1-9])$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _duration(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f'write a duration as a string, like "15m" or "1h30m", not {value!r}')
    return parse_duration(value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
"""A duration written as a string: ``"30s"``, ``"15m"``, ``"1h30m"``, ``"2d"``, ``"1w"``."""


@dataclass(frozen=True)
class Form:
    """How a value with a ``pattern`` is written, in words, for its error message: what it
    is (``"a colour"``) and how to write it (``'write it as "#rrggbb", e.g. "#d73a4a"'``)."""

    what: str
    how: str


Colour = Annotated[
    str,
    Field(pattern=r"^#[0-9a-fA-F]{6}$"),
    Form("a colour", 'write it as "#rrggbb", e.g. "#d73a4a"'),
]
ChannelPrefix = Annotated[
    str,
    Field(pattern=r"^[a-z0-9][a-z0-9-]{0,19}$"),
    Form(
        "a channel prefix",
        "use lowercase letters, digits and '-', at most 20 characters, e.g. \"inc\"",
    ),
]


def _refuse(message: str, *at: str) -> PydanticCustomError:
    """A refusal from a validator of several keys, located at the key ``at`` names (a model
    validator's own errors have no location)."""
    return PydanticCustomError("tocsin", "{message}", {"message": message, "at": at})


class Severity(_Strict):
    label: str = Field(
        min_length=1, max_length=30, description='its name in words, like "critical"'
    )
    colour: Colour = "#9e9e9e"
    update_every: Duration | None = Field(
        default=None, description="how long an incident may go without a status update"
    )

    @property
    def colour_int(self) -> int:
        return int(self.colour[1:], 16)


class Person(_Strict):
    """Someone, with their user id on each platform (keys: the installed plugins' names)."""

    name: str = Field(
        min_length=1, max_length=200, description='their name, like name = "Alice Liddell"'
    )
    ids: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _platform_ids(cls, data: Any) -> Any:
        """``slack = "U…"`` in the file is ``ids["slack"]`` here."""
        if not isinstance(data, dict):
            return data
        ids = {k: v for k, v in data.items() if k not in ("name", "ids")}
        if not isinstance(data.get("ids", {}), dict):
            return data  # pydantic says what ids should be
        return {k: v for k, v in data.items() if k in ("name", "ids")} | {
            "ids": {**data.get("ids", {}), **ids}
        }


class Service(_Strict):
    description: str = ""
    runbook: str = ""


class IncidentSettings(_Strict):
    channel_prefix: ChannelPrefix = "inc"
    announce_channel: str = Field(default="incidents", min_length=1)
    commander: str = Field(
        default="declarer", description="'declarer', or the key of a person under [people]"
    )
    default_severity: int | None = Field(
        default=None, ge=1, le=9, description="for declares without one; default SEV3 or lower"
    )
    platform: str | None = Field(
        default=None,
        description="where the channel of an incident with no chat origin (the CLI, an alert) "
        "goes when several platforms run",
    )


DEFAULT_SEVERITIES: dict[str, Severity] = {
    "SEV1": Severity(label="critical", colour="#d32f2f", update_every=timedelta(minutes=15)),
    "SEV2": Severity(label="major", colour="#f57c00", update_every=timedelta(minutes=30)),
    "SEV3": Severity(label="minor", colour="#fbc02d", update_every=timedelta(hours=1)),
    "SEV4": Severity(label="low", colour="#1976d2"),
}

DEFAULT_ROLES: dict[str, str] = {
    "commander": "Leads the response and makes the calls",
    "communications": "Keeps stakeholders and the announce channel updated",
    "operations": "Works on the fix",
}


class TocsinConfig(_Strict):
    """The whole file. Every table is optional; what is missing takes the defaults."""

    incident: IncidentSettings = IncidentSettings()
    severities: dict[str, Severity] = Field(default_factory=lambda: dict(DEFAULT_SEVERITIES))
    roles: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ROLES))
    people: dict[str, Person] = Field(default_factory=dict)
    services: dict[str, Service] = Field(default_factory=dict)
    sections: dict[str, Any] = Field(default_factory=dict, exclude=True)
    """The platform plugins' own tables, validated by their models (see load_config)."""

    @field_validator("severities")
    @classmethod
    def _severity_keys(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        if not value:
            raise _refuse("at least one severity is needed: [severities.SEV1] …", "severities")
        levels = []
        for key in value:
            match = _SEV_KEY.match(key)
            if not match:
                raise _refuse(
                    f"severity keys are SEV1 … SEV9, not {_shown(key)}", "severities", key
                )
            levels.append(int(match.group(1)))
        missing = sorted(set(range(1, max(levels) + 1)) - set(levels))
        if missing:
            after = min(level for level in levels if level > missing[0])
            raise _refuse(
                f"SEV{missing[0]} is missing: severities are numbered SEV1, SEV2, … with no gaps",
                "severities",
                f"SEV{after}",
            )
        seen: dict[str, str] = {}
        for key, severity in value.items():
            other = seen.setdefault(severity.label.lower(), key)
            if other != key:
                raise _refuse(
                    f"{key} has the same label as {other}: {_shown(severity.label)}",
                    "severities",
                    key,
                    "label",
                )
        return dict(sorted(value.items(), key=lambda kv: int(kv[0][3:])))

    @field_validator("roles", "people", "services")
    @classmethod
    def _names(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for key in value:
            if not _NAME.match(key):
                raise _refuse(
                    f"{_shown(key)} is not a valid name: use lowercase letters, digits, '-' "
                    "and '_'",
                    str(info.field_name),
                    key,
                )
        return value

    @field_validator("roles")
    @classmethod
    def _commander_role(cls, value: dict[str, str]) -> dict[str, str]:
        if "commander" not in value:
            raise _refuse("the 'commander' role cannot be removed", "roles")
        return value

    @model_validator(mode="after")
    def _references(self) -> TocsinConfig:
        chosen = self.incident.default_severity
        if chosen is not None and chosen > len(self.severities):
            raise _refuse(
                f"{chosen} is not a severity here: only SEV1 … SEV{len(self.severities)} are "
                f"defined; write a number from 1 to {len(self.severities)}",
                "incident",
                "default_severity",
            )
        who = self.incident.commander
        if who != "declarer" and who not in self.people:
            raise _refuse(
                f'{_shown(who)} is not under [people]; write "declarer" or the key of a person',
                "incident",
                "commander",
            )
        return self

    @property
    def default_level(self) -> int:
        """The severity of a declare that names none."""
        return self.incident.default_severity or min(3, len(self.severities))

    def severity(self, level: int) -> Severity:
        return self.severities[f"SEV{level}"]

    @property
    def levels(self) -> range:
        return range(1, len(self.severities) + 1)

    def section(self, name: str, model: type[_M]) -> _M:
        """A platform plugin's table (``[discord]``), or its defaults when the file has none."""
        value = self.sections.get(name)
        return value if isinstance(value, model) else model()


def load_config(
    path: Path | None, platforms: Mapping[str, type[BaseModel] | None] | None = None
) -> TocsinConfig:
    """Read and validate ``path``; ``None`` gives the built-in defaults.

    ``platforms`` are the installed platform plugins, by name, with the model of their own
    table in the file (or ``None``). A person may carry an id for each of them. Without it
    (tests), any key a person carries is taken as a platform id.
    """
    if path is None:
        return TocsinConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file (set TOCSIN_CONFIG or create it)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"^(.*) \(at line (\d+), column (\d+)\)$", str(exc))
        if found:
            what, line, column = found.groups()
            raise ConfigError(f"{path}:{line}: not valid TOML: {what} (column {column})") from exc
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    except RecursionError:  # tomllib recurses into nested arrays and inline tables
        raise ConfigError(f"{path}: arrays or tables nested too deeply to read") from None
    problems: list[str] = []
    tables: dict[str, Any] = {}
    if platforms is not None:
        tables = {name: data.pop(name) for name in platforms if name in data}
        problems += _people_keys(path, text, data.get("people"), set(platforms))
    config = None
    try:
        config = TocsinConfig.model_validate(data)
    except ValidationError as exc:
        problems.append(_explain(path, text, exc, data=data))
    sections: dict[str, Any] = {}
    for name, table in tables.items():
        model = (platforms or {}).get(name)
        if model is None:
            problems.append(f"{path}: [{name}] takes no settings")
            continue
        try:
            sections[name] = model.model_validate(table)
        except ValidationError as exc:
            problems.append(_explain(path, text, exc, prefix=[name], model=model))
    if problems or config is None:
        raise ConfigError("\n".join(problems))
    return config.model_copy(update={"sections": sections})


def _people_keys(path: Path, text: str, people: Any, platforms: set[str]) -> list[str]:
    """A person's keys are ``name`` and the installed platforms: say so of any other."""
    problems = []
    allowed = sorted(platforms)
    for key, person in people.items() if isinstance(people, dict) else ():
        for field in person if isinstance(person, dict) else ():
            if field == "name" or field in platforms:
                continue
            loc = ["people", str(key), str(field)]
            line = locate(text, loc)
            hint = difflib.get_close_matches(field, ["name", *allowed], n=1, cutoff=0.6)
            problems.append(
                f"{path}:{line}: unknown key {'.'.join(loc)!r}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; a person has a name and an id for each platform: {', '.join(allowed)}"
            )
    return problems


def _explain(
    path: Path,
    text: str,
    exc: ValidationError,
    *,
    data: Any = None,
    prefix: list[str] | None = None,
    model: type[BaseModel] | None = None,
) -> str:
    """One line per error: the file and line, the key, and what is wrong in words, with
    the allowed values (from the field's bounds and :class:`Form`), never pydantic's own
    wording."""
    model = model or TocsinConfig
    lines = []
    for err in exc.errors(include_url=False):
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
    got = _toml(err.get("input"))
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


def _toml(value: Any) -> str:
    """A value as it is written in TOML, short: ``"red"``, ``7``, ``true``, a table."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value[:40] + ("…" if len(value) > 40 else ""), ensure_ascii=False)
    if isinstance(value, int | float):
        return str(value)[:40]
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _shown(value: str) -> str:
    return _toml(value)


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


def data_model_keys(parent: list[str], model: type[BaseModel] | None = None) -> list[str]:
    """The keys allowed under a dotted path (for 'did you mean')."""
    model = model or TocsinConfig
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
    in_string: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        if in_string:  # inside a multi-line string: no keys here
            if raw.count(in_string) % 2:
                in_string = None
            continue
        header = _HEADER.match(raw)
        if header:
            path = [_unquote(p) for p in header.group(1).split(".")]
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
