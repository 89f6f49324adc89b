"""The incident-process config: ``tocsin.toml`` (path in ``TOCSIN_CONFIG``).

Severities, roles, people, services and channels. ``tomllib`` reads it; pydantic validates
it; every error names the file, the line and the key, in words a person can act on.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.errors import ConfigError

_SEV_KEY = re.compile(r"^SEV([1-9])$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Severity(_Strict):
    label: str = Field(min_length=1, max_length=30)
    colour: str = Field(default="#9e9e9e", pattern=r"^#[0-9a-fA-F]{6}$")
    update_every_minutes: int | None = Field(
        default=None, ge=1, le=1440, description="how often a status update is expected"
    )

    @property
    def colour_int(self) -> int:
        return int(self.colour[1:], 16)


class Person(_Strict):
    name: str = Field(min_length=1, max_length=200)
    slack: str | None = None
    discord: str | None = None


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


class DiscordSettings(_Strict):
    category: str = Field(
        default="Incidents",
        max_length=100,
        description="the category incident channels go in (a name or id; made if missing; "
        "empty for none)",
    )


DEFAULT_SEVERITIES: dict[str, Severity] = {
    "SEV1": Severity(label="critical", colour="#d32f2f", update_every_minutes=15),
    "SEV2": Severity(label="major", colour="#f57c00", update_every_minutes=30),
    "SEV3": Severity(label="minor", colour="#fbc02d", update_every_minutes=60),
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
    discord: DiscordSettings = DiscordSettings()

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

    @field_validator("roles", "people", "services")
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


def load_config(path: Path | None) -> TocsinConfig:
    """Read and validate ``path``; ``None`` gives the built-in defaults."""
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
    try:
        return TocsinConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_explain(path, text, exc)) from None


def _explain(path: Path, text: str, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        key = ".".join(loc) or "(top level)"
        line = locate(text, loc)
        where = f"{path}:{line}" if line else str(path)
        if err["type"] == "extra_forbidden":
            message = f"unknown key {key!r}"
            hint = _closest(loc, data_model_keys(loc[:-1]))
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


def data_model_keys(parent: list[str]) -> list[str]:
    """The keys allowed under a dotted path (for 'did you mean')."""
    model: type[BaseModel] = TocsinConfig
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
    return list(model.model_fields)


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
