"""The incident-process config: ``tocsin.toml`` (path in ``TOCSIN_CONFIG``).

Severities, roles, people, services and channels. ``tomllib`` reads it; pydantic validates
it; every error names the file, the line and the key, in words a person can act on.

Platform plugins own their tables (``[discord]``) and the keys a person carries for them
(``slack = "U…"``): :func:`load_config` takes the installed plugins' names and models, so
a new platform needs no change here.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot import names
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


class Severity(_Strict):
    label: str = Field(min_length=1, max_length=30)
    colour: str = Field(default="#9e9e9e", pattern=r"^#[0-9a-fA-F]{6}$")
    update_every: Duration | None = Field(
        default=None, description="how long an incident may go without a status update"
    )

    @property
    def colour_int(self) -> int:
        return int(self.colour[1:], 16)


class Person(_Strict):
    """Someone, with their user id on each platform (keys: the installed plugins' names)."""

    name: str = Field(min_length=1, max_length=200)
    ids: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _platform_ids(cls, data: Any) -> Any:
        """``slack = "U…"`` in the file is ``ids["slack"]`` here."""
        if not isinstance(data, dict):
            return data
        ids = {k: v for k, v in data.items() if k not in ("name", "ids")}
        return {k: v for k, v in data.items() if k in ("name", "ids")} | {
            "ids": {**data.get("ids", {}), **ids}
        }


class Service(_Strict):
    description: str = ""
    runbook: str = ""


class IncidentSettings(_Strict):
    channel_prefix: str = Field(default="inc", pattern=r"^[a-z0-9][a-z0-9-]{0,19}$")
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
            raise ValueError("at least one severity is needed (SEV1 …)")
        levels = []
        for key in value:
            match = _SEV_KEY.match(key)
            if not match:
                raise ValueError(f"severity keys are SEV1 … SEV9, not {key!r}")
            levels.append(int(match.group(1)))
        if sorted(levels) != list(range(1, len(levels) + 1)):
            raise ValueError("severities must be SEV1, SEV2, … with no gaps")
        labels = [s.label.lower() for s in value.values()]
        if len(set(labels)) != len(labels):
            raise ValueError("two severities have the same label")
        return dict(sorted(value.items(), key=lambda kv: int(kv[0][3:])))

    @field_validator("severities")
    @classmethod
    def _labels_name_one_severity(cls, value: dict[str, Severity]) -> dict[str, Severity]:
        """A label that reads as another severity's number (``sev1``, ``1``, ``SEV01`` on
        SEV2) would make what people type ambiguous."""
        for key, severity in value.items():
            label = severity.label.strip().lower()
            digits = label[3:] if label.startswith("sev") else label
            if digits.isascii() and digits.isdigit() and int(digits) != int(key[3:]):
                raise ValueError(
                    f"{key}'s label {severity.label!r} would mean SEV{int(digits)} when typed: "
                    "a label cannot be a severity's number or name"
                )
        return value

    @field_validator("people")
    @classmethod
    def _person_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            problem = names.person_problem(key)
            if problem is not None:
                raise ValueError(problem)
            if key != key.lower():
                raise ValueError(
                    f"write the person key {key!r} in lowercase: {key.lower()!r} "
                    "(names are matched whatever the case they are typed in)"
                )
        return value

    @field_validator("roles", "services")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not _NAME.match(key):
                raise ValueError(
                    f"{key!r} is not a valid name: use lowercase letters, digits, '-' and '_'"
                )
        return value

    @field_validator("roles")
    @classmethod
    def _commander_role(cls, value: dict[str, str]) -> dict[str, str]:
        if "commander" not in value:
            raise ValueError("the 'commander' role cannot be removed")
        return value

    @model_validator(mode="after")
    def _references(self) -> TocsinConfig:
        chosen = self.incident.default_severity
        if chosen is not None and chosen > len(self.severities):
            raise ValueError(
                f"incident.default_severity is {self.incident.default_severity} but only "
                f"SEV1 … SEV{len(self.severities)} are defined"
            )
        who = self.incident.commander
        if who != "declarer" and who not in self.people:
            raise ValueError(f"incident.commander names {who!r}, who is not under [people]")
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
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    problems: list[str] = []
    tables: dict[str, Any] = {}
    if platforms is not None:
        tables = {name: data.pop(name) for name in platforms if name in data}
        problems += _people_keys(path, text, data.get("people"), set(platforms))
    config = None
    try:
        config = TocsinConfig.model_validate(data)
    except ValidationError as exc:
        problems.append(_explain(path, text, exc))
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
    prefix: list[str] | None = None,
    model: type[BaseModel] | None = None,
) -> str:
    lines = []
    for err in exc.errors():
        inner = [str(p) for p in err["loc"]]
        loc = [*(prefix or []), *inner]
        key = ".".join(loc) or "(top level)"
        line = locate(text, loc)
        where = f"{path}:{line}" if line else str(path)
        if err["type"] == "extra_forbidden":
            message = f"unknown key {key!r}"
            hint = _closest(loc, data_model_keys(inner[:-1], model or TocsinConfig))
            if hint:
                message += f" (did you mean {hint!r}?)"
        else:
            message = f"{key}: {err['msg']}"
            if "input" in err and err["type"] not in ("missing", "value_error"):
                message += f" (got {err['input']!r})"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


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
    """The 1-based line of the key at ``loc`` in TOML ``text`` (best effort), else of the
    nearest enclosing table that is written in the file."""
    best: int | None = None
    table: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            table = [_unquote(p) for p in header.group(1).split(".")]
            if table == loc[: len(table)] and best is None:
                best = number
            if table == loc:
                return number
            continue
        key = _KEY.match(raw)
        if key:
            path = table + [_unquote(p) for p in key.group(1).split(".")]
            if path == loc[: len(path)]:
                return number
    return best


def _unquote(part: str) -> str:
    return part.strip().strip("\"'")
