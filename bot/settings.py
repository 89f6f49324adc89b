"""Settings from the environment (and a ``.env`` file): secrets and wiring.

The core reads only its own ``TOCSIN_*`` variables; each platform plugin reads its own
from :attr:`Settings.env` (see :mod:`bot.plugins`). Every variable is listed in
``.env.example``. Values never appear in logs or in ``repr``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from bot import logs
from bot.durations import EXAMPLES, parse_duration
from bot.errors import SettingsError
from bot.text import SHOWN_MAX, has_control, shown
from storage.drivers import SUPPORTED_DRIVERS, unsupported

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tocsin.db"
DEFAULT_CONFIG_FILE = Path("tocsin.toml")
_T = TypeVar("_T")

VARIABLES: dict[str, str] = {
    "TOCSIN_DATABASE_URL": "SQLAlchemy async URL of the database",
    "TOCSIN_CONFIG": "path of the incident-process config (tocsin.toml)",
    "TOCSIN_HTTP_HOST": "where `tocsin run` serves HTTP",
    "TOCSIN_HTTP_PORT": "the port it serves on (0: any free port)",
    "TOCSIN_JOB_LEASE": "how long a process holds a job before another may take it over",
    "TOCSIN_SWEEP_EVERY": "how often each process looks for jobs that fell due",
    "TOCSIN_EFFECT_TIMEOUT": "how long one try of a job may take before it is tried again",
    "TOCSIN_LOG_FORMAT": "text (the default) or json: one JSON object per log line",
}
"""The core's variables; each platform plugin lists its own."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 3000
    job_lease: timedelta = timedelta(seconds=30)
    sweep_every: timedelta = timedelta(seconds=2)
    effect_timeout: timedelta = timedelta(seconds=30)
    log_format: str = "text"
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The whole environment (with ``.env``), for the platform plugins to read theirs."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True) -> Settings:
        """Read the environment; a ``.env`` in the working directory fills in what is unset.
        A wrong value raises :class:`SettingsError` (the first one found)."""
        settings, problems = cls.read(env, dotenv=dotenv)
        if problems:
            raise problems[0]
        return settings

    @classmethod
    def read(
        cls, env: Mapping[str, str] | None = None, *, dotenv: bool = True
    ) -> tuple[Settings, list[SettingsError]]:
        """The settings, with the default in place of each wrong value, and what was wrong
        (``check-config`` reports them all and goes on)."""
        values: dict[str, str] = {}
        if dotenv and Path(".env").is_file():
            values.update({k: v for k, v in dotenv_values(".env").items() if v is not None})
        values.update(os.environ if env is None else env)
        problems: list[SettingsError] = []

        def checked(parse: Callable[[], _T], default: _T) -> _T:
            try:
                return parse()
            except SettingsError as exc:
                problems.append(exc)
                return default

        settings = cls(
            database_url=checked(
                lambda: _database_url(values.get("TOCSIN_DATABASE_URL")), DEFAULT_DATABASE_URL
            ),
            config_path=checked(lambda: _config_path(values.get("TOCSIN_CONFIG")), None),
            http_host=checked(lambda: _host(values.get("TOCSIN_HTTP_HOST")), "127.0.0.1"),
            http_port=checked(lambda: _port(values.get("TOCSIN_HTTP_PORT")), 3000),
            job_lease=checked(
                lambda: _duration(values, "TOCSIN_JOB_LEASE", "30s"), timedelta(seconds=30)
            ),
            sweep_every=checked(
                lambda: _duration(values, "TOCSIN_SWEEP_EVERY", "2s"), timedelta(seconds=2)
            ),
            effect_timeout=checked(
                lambda: _duration(values, "TOCSIN_EFFECT_TIMEOUT", "30s"), timedelta(seconds=30)
            ),
            log_format=checked(lambda: _log_format(values.get("TOCSIN_LOG_FORMAT")), "text"),
            env=values,
        )
        return settings, problems


def _database_url(value: str | None) -> str:
    """A URL SQLAlchemy can parse, for a driver Tocsin supports. Never echoed: it may carry
    a password."""
    if not value:
        return DEFAULT_DATABASE_URL
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise SettingsError(f"TOCSIN_DATABASE_URL is not a database URL; {_URL_FORM}") from None
    except ValueError:  # int() of the port
        raise SettingsError(
            f"TOCSIN_DATABASE_URL: the port must be a number from 1 to 65535; {_URL_FORM}"
        ) from None
    if url.drivername not in SUPPORTED_DRIVERS:
        raise SettingsError(unsupported(_shown(url.drivername)))
    if url.port is not None and (f":{url.port}" not in value or not 1 <= url.port <= 65535):
        raise SettingsError(
            f"TOCSIN_DATABASE_URL: the port must be a number from 1 to 65535; {_URL_FORM}"
        )
    if has_control(value):
        raise SettingsError("TOCSIN_DATABASE_URL has a control character in it (a line break?)")
    return value


def _config_path(value: str | None) -> Path | None:
    if value:
        try:
            path = Path(value).expanduser()
            is_file = path.is_file()
        except (OSError, RuntimeError, ValueError):
            is_file = False
        if not is_file:
            raise SettingsError(f"TOCSIN_CONFIG points to {_shown(value)}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _host(value: str | None) -> str:
    if not value:
        return "127.0.0.1"
    if not _HOST.match(value):
        raise SettingsError(
            "TOCSIN_HTTP_HOST must be a host name or an IP address, like 127.0.0.1 or 0.0.0.0, "
            f"not {_shown(value)}"
        )
    return value


def _port(value: str | None) -> int:
    if not value:
        return 3000
    port = integer(value)
    if port is None or not 0 <= port <= 65535:
        raise SettingsError(
            f"TOCSIN_HTTP_PORT must be a number from 0 to 65535, not {_shown(value)}"
        )
    return port


def _log_format(value: str | None) -> str:
    name = (value or "text").strip().lower()
    if name not in logs.FORMATS:
        raise SettingsError(
            f"TOCSIN_LOG_FORMAT must be {' or '.join(logs.FORMATS)}, not {_shown(value or '')}"
        )
    return name


def _duration(values: Mapping[str, str], name: str, default: str) -> timedelta:
    text = values.get(name) or default
    try:
        if len(text) > SHOWN_MAX:
            raise ValueError(f"{_shown(text)} is not a duration: write it like {EXAMPLES}")
        return parse_duration(text)
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def integer(text: str, *, digits: int = 20) -> int | None:
    """``text`` as a whole number written in ASCII digits (at most ``digits`` of them, spaces
    around allowed), else None: ``int()`` would also take ``"٣"`` or ``"1_000"``."""
    text = text.strip()
    if not _DIGITS.fullmatch(text) or len(text) > digits:
        return None
    return int(text)


def ids(name: str, value: str | None) -> tuple[int, ...]:
    """A comma-separated list of numbers (Discord guild ids, shard ids), checked."""
    parts = [p.strip() for p in (value or "").split(",") if p.strip()]
    numbers = [integer(p) for p in parts]
    if not all(n is not None and n < 2**64 for n in numbers):
        raise SettingsError(
            f"{name} must be a comma-separated list of numbers, not {_shown(value or '')}"
        )
    return tuple(n for n in numbers if n is not None)


def http_url(name: str, value: str, wanted: str, *, schemes: tuple[str, ...]) -> str:
    """A URL with a host (a proxy's, say) in one of ``schemes`` (``("http", "https")``,
    ``("ws", "wss")``), checked so that the HTTP client will take it; ``wanted`` says what it
    should be ("an http(s) URL, like https://…"). Never echoed: it may carry a password."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise SettingsError(
            f"{name} must be {wanted}; its port must be a number from 1 to 65535"
        ) from None
    host = parts.hostname or ""
    if (
        parts.scheme not in schemes
        or not (_HOST.match(host) or host.startswith("["))
        or port == 0
        or has_control(value)
        or " " in value
    ):
        raise SettingsError(f"{name} must be {wanted}")
    return value


def secret(name: str, value: str) -> str:
    """A token or secret: it goes into HTTP headers as it is, so no spaces or line breaks
    (a paste that took the line end with it). Never echoed."""
    if has_control(value) or any(c.isspace() for c in value):
        raise SettingsError(
            f"{name} has a space or a line break in it (copied with the line end?); "
            "paste the token alone"
        )
    return value


_DIGITS = re.compile(r"[0-9]+")
_HOST = re.compile(
    r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_.])?|[0-9A-Fa-f:.%]{2,64})$"
)
_URL_FORM = (
    "write it like sqlite+aiosqlite:///./tocsin.db or "
    "postgresql+asyncpg://user:password@host:5432/database"
)


def _shown(value: str) -> str:
    """A value as a message shows it: quoted, on one line, and cut short."""
    return repr(shown(value))
