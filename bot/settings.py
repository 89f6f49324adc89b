"""Settings from the environment (and a ``.env`` file): secrets and wiring.

The core reads only its own ``TOCSIN_*`` variables; each platform plugin reads its own
from :attr:`Settings.env` (see :mod:`bot.plugins`). Every variable is listed in
``.env.example``. Values never appear in logs or in ``repr``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from dotenv import dotenv_values

from bot import logs
from bot.durations import parse_duration
from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tocsin.db"
DEFAULT_CONFIG_FILE = Path("tocsin.toml")

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
        """Read the environment; a ``.env`` in the working directory fills in what is unset."""
        values: dict[str, str] = {}
        if dotenv and Path(".env").is_file():
            values.update({k: v for k, v in dotenv_values(".env").items() if v is not None})
        values.update(os.environ if env is None else env)
        return cls(
            database_url=values.get("TOCSIN_DATABASE_URL") or DEFAULT_DATABASE_URL,
            config_path=_config_path(values.get("TOCSIN_CONFIG")),
            http_host=values.get("TOCSIN_HTTP_HOST") or "127.0.0.1",
            http_port=_port(values.get("TOCSIN_HTTP_PORT")),
            job_lease=_duration(values, "TOCSIN_JOB_LEASE", "30s"),
            sweep_every=_duration(values, "TOCSIN_SWEEP_EVERY", "2s"),
            effect_timeout=_duration(values, "TOCSIN_EFFECT_TIMEOUT", "30s"),
            log_format=_log_format(values.get("TOCSIN_LOG_FORMAT")),
            env=values,
        )


def _config_path(value: str | None) -> Path | None:
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise ConfigError(f"TOCSIN_CONFIG points to {value!r}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def _port(value: str | None) -> int:
    if not value:
        return 3000
    port = int(value) if value.strip().isdigit() else -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"TOCSIN_HTTP_PORT must be a number from 0 to 65535, not {value!r}")
    return port


def _log_format(value: str | None) -> str:
    name = (value or "text").strip().lower()
    if name not in logs.FORMATS:
        raise ConfigError(f"TOCSIN_LOG_FORMAT must be {' or '.join(logs.FORMATS)}, not {value!r}")
    return name


def _duration(values: Mapping[str, str], name: str, default: str) -> timedelta:
    text = values.get(name) or default
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def ids(name: str, value: str | None) -> tuple[int, ...]:
    """A comma-separated list of numbers (Discord guild ids, shard ids), checked."""
    parts = [p.strip() for p in (value or "").split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ConfigError(f"{name} must be a comma-separated list of numbers, not {value!r}")
    return tuple(int(p) for p in parts)
