"""Settings from the environment (and a ``.env`` file): secrets and wiring.

Every variable is listed in ``.env.example``. Values never appear in logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from bot.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tocsin.db"
DEFAULT_CONFIG_FILE = Path("tocsin.toml")


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    config_path: Path | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 3000

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
