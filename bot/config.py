"""The incident-process config: ``tocsin.toml`` (path in ``TOCSIN_CONFIG``).

Severities, roles, people, services and channels. ``tomllib`` reads it; pydantic validates
it; every error names the file, the line and the key, in words a person can act on.

Platform plugins own their tables (``[discord]``) and the keys a person carries for them
(``slack = "U…"``): :func:`load_config` takes the installed plugins' names and models, so
a new platform needs no change here.
"""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

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
from pydantic_core import PydanticCustomError

from bot import names
from bot.durations import parse_duration
from bot.errors import ConfigError
from bot.explain import Form, explain, locate, toml

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
    page: bool | None = Field(
        default=None, description="whether it pages: by default SEV1 and SEV2 do, the rest not"
    )
    policy: str | None = Field(
        default=None, description='the escalation policy that pages for it (default: "default")'
    )
    ack_timeout: Duration | None = Field(
        default=None,
        description="acknowledged but unresolved this long: paged again from level 1",
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


def _zone(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # pydantic says what it should be
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        hint = difflib.get_close_matches(value, sorted(available_timezones()), n=1)
        raise ValueError(
            f'{toml(value)} is not a time zone: write an IANA name like "Europe/Berlin"'
            + (f" (did you mean {toml(hint[0])}?)" if hint else "")
        ) from None
    return value


def _local_time(value: Any) -> Any:
    """A handoff time on the schedule's own clock: ``"2026-01-05T09:00"`` (or TOML's
    local date-time), without an offset."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f'{toml(value)} is not a date and time: write it like "2026-01-05T09:00"'
            ) from None
    if isinstance(value, datetime) and value.tzinfo is not None:
        raise ValueError("write the time without an offset: it is read in the schedule's time zone")
    return value


class Schedule(_Strict):
    """Who is on call when: one rotation of members, each on call for ``shift`` in turn,
    handing over at ``start``'s time of day in ``timezone`` (across DST changes)."""

    timezone: Annotated[str, BeforeValidator(_zone)] = Field(
        description='an IANA time zone, like "Europe/Berlin"'
    )
    members: list[str] = Field(min_length=1, description="keys of [people], in turn")
    shift: Duration = Field(description='how long each is on call, like "1w" or "12h"')
    start: Annotated[datetime, BeforeValidator(_local_time)] = Field(
        description='a handoff time on the schedule\'s clock, like "2026-01-05T09:00"'
    )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


_TARGET = re.compile(r"^(person|schedule):(.+)$")


class Level(_Strict):
    """One level of an escalation policy: who is paged, and how long they have to
    acknowledge before the next level is."""

    targets: list[str] = Field(
        min_length=1, description='who is paged: "person:<key>" or "schedule:<name>"'
    )
    escalate_after: Duration = Field(description="unacknowledged this long: the next level")

    @field_validator("targets")
    @classmethod
    def _target_form(cls, value: list[str]) -> list[str]:
        for target in value:
            if not _TARGET.match(target):
                raise ValueError(
                    f'{toml(target)} is not a target: write "person:<key>" or "schedule:<name>"'
                )
        return value


MAX_LEVELS = 20
MAX_REPEAT = 9


class Policy(_Strict):
    """An escalation policy: its levels in order, and how many times to start again from
    level 1 after the last before saying that nobody acknowledged."""

    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT, description="rounds after the first")
    levels: list[Level] = Field(min_length=1, max_length=MAX_LEVELS)


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
    schedules: dict[str, Schedule] = Field(default_factory=dict)
    policies: dict[str, Policy] = Field(default_factory=dict)
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
                raise _refuse(f"severity keys are SEV1 … SEV9, not {toml(key)}", "severities", key)
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
                    f"{key} has the same label as {other}: {toml(severity.label)}",
                    "severities",
                    key,
                    "label",
                )
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
                raise _refuse(
                    f"{key}'s label {severity.label!r} would mean SEV{int(digits)} when typed: "
                    "a label cannot be a severity's number or name",
                    "severities",
                    key,
                    "label",
                )
        return value

    @field_validator("people")
    @classmethod
    def _person_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            problem = names.person_problem(key)
            if problem is not None:
                raise _refuse(problem, "people", key)
            if key != key.lower():
                raise _refuse(
                    f"write the person key {key!r} in lowercase: {key.lower()!r} "
                    "(names are matched whatever the case they are typed in)",
                    "people",
                    key,
                )
        return value

    @field_validator("roles", "services", "schedules", "policies")
    @classmethod
    def _names(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        for key in value:
            if not _NAME.match(key):
                raise _refuse(
                    f"{toml(key)} is not a valid name: use lowercase letters, digits, '-' and '_'",
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
                f'{toml(who)} is not under [people]; write "declarer" or the key of a person',
                "incident",
                "commander",
            )
        self._paging_references()
        return self

    def _paging_references(self) -> None:
        """Schedules name people; levels name people and schedules; severities name policies."""
        for name, schedule in self.schedules.items():
            for member in schedule.members:
                if member not in self.people:
                    raise _refuse(
                        f"{toml(member)} is not under [people]{_suggest(member, self.people)}",
                        "schedules",
                        name,
                        "members",
                    )
        for name, policy in self.policies.items():
            for index, level in enumerate(policy.levels):
                for target in level.targets:
                    kind, _, key = target.partition(":")
                    known = self.people if kind == "person" else self.schedules
                    if key not in known:
                        table = "[people]" if kind == "person" else "[schedules]"
                        raise _refuse(
                            f"{toml(target)}: {toml(key)} is not under {table}"
                            + _suggest(key, known),
                            "policies",
                            name,
                            "levels",
                            str(index),
                            "targets",
                        )
        for key, severity in self.severities.items():
            if severity.policy is not None and severity.policy not in self.policies:
                raise _refuse(
                    f"{toml(severity.policy)} is not under [policies]"
                    + _suggest(severity.policy, self.policies),
                    "severities",
                    key,
                    "policy",
                )
            number = int(key[3:])
            if self.policies and self.pages(number) and self.policy_name(number) is None:
                raise _refuse(
                    f"{key} pages but names no policy and there is no [policies.default]: "
                    f'write policy = "{next(iter(self.policies))}", add [policies.default], '
                    "or page = false",
                    "severities",
                    key,
                )

    def pages(self, level: int) -> bool:
        """Whether an incident of this severity pages when declared."""
        page = self.severity(level).page
        return page if page is not None else level <= 2

    def policy_name(self, level: int) -> str | None:
        """The policy that pages for this severity (whether or not it pages by itself:
        ``/incident escalate`` uses it too), if there is one."""
        name = self.severity(level).policy or "default"
        return name if name in self.policies else None

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


def _suggest(word: str, among: Mapping[str, Any]) -> str:
    hint = difflib.get_close_matches(word, list(among), n=1, cutoff=0.6)
    return f" (did you mean {toml(hint[0])}?)" if hint else ""


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
    except UnicodeDecodeError as exc:
        at = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{at}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the file as UTF-8"
        ) from None
    except OSError as exc:
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
    trying = data
    removed: set[tuple[int | str, ...]] = set()
    for _round in range(4):  # a check across keys runs only once every key is valid
        try:
            config = TocsinConfig.model_validate(trying)
            break
        except ValidationError as exc:
            said = explain(path, text, exc, data=data, model=TocsinConfig, removed=removed)
            problems.append(said)
            removed |= {tuple(error["loc"]) for error in exc.errors()}
            without = _without(trying, [error["loc"] for error in exc.errors()])
            if without == trying:
                break
            trying = without
    if problems:
        config = None
    sections: dict[str, Any] = {}
    for name, table in tables.items():
        model = (platforms or {}).get(name)
        if model is None:
            problems.append(f"{path}: [{name}] takes no settings")
            continue
        try:
            sections[name] = model.model_validate(table)
        except ValidationError as exc:
            problems.append(explain(path, text, exc, prefix=[name], model=model))
    if problems or config is None:
        lines = list(dict.fromkeys(line for problem in problems for line in problem.splitlines()))
        raise ConfigError("\n".join(sorted(lines, key=lambda line: _line_of(path, line))))
    return config.model_copy(update={"sections": sections})


def _without(data: Any, places: list[tuple[int | str, ...]]) -> Any:
    """``data`` without the keys at ``places`` (pydantic's error locations): what is left
    is validated again, so that the checks across keys, which run only once every key is
    valid, are reported in the same run as the keys that are not."""
    data = copy.deepcopy(data)
    for place in places:
        where = data
        for step in place[:-1]:
            where = where.get(step) if isinstance(where, dict) else None
        if isinstance(where, dict) and place and place[-1] in where:
            del where[place[-1]]
    return data


def _line_of(path: Path, problem: str) -> int:
    """The line a problem is on (0 for the whole file), to list them in the file's order."""
    found = re.match(r":(\d+):", problem.removeprefix(str(path)))
    return int(found.group(1)) if found else 0


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
