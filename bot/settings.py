"""Settings from the environment (and a ``.env`` file): secrets and wiring.

Every variable is listed in ``.env.example``. Values never appear in logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_app_token: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    discord_token: str | None = field(default=None, repr=False)
    discord_api_url: str | None = None
    discord_gateway_url: str | None = None
    discord_guild_ids: tuple[int, ...] = ()
    discord_shard_ids: tuple[int, ...] | None = None
    discord_shard_count: int | None = None

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
            **_slack(values),
            **_discord(values),
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


def _slack(values: Mapping[str, str]) -> dict[str, Any]:
    token = values.get("SLACK_BOT_TOKEN") or None
    secret = values.get("SLACK_SIGNING_SECRET") or None
    app_token = values.get("SLACK_APP_TOKEN") or None
    url = values.get("SLACK_API_URL") or None
    if token and not (secret or app_token):
        raise ConfigError(
            "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: HTTP mode needs the "
            "signing secret (Basic Information → App Credentials), or set SLACK_APP_TOKEN "
            "for Socket Mode"
        )
    if (secret or app_token) and not token:
        raise ConfigError("SLACK_SIGNING_SECRET/SLACK_APP_TOKEN need SLACK_BOT_TOKEN (xoxb-…)")
    if token and not token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN should be a bot token, starting with xoxb-")
    if app_token and not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN should be an app-level token, starting with xapp-")
    if url and not url.startswith(("http://", "https://")):
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL, not {url!r}")
    if url and not url.endswith("/"):
        url += "/"
    return {
        "slack_bot_token": token,
        "slack_signing_secret": secret,
        "slack_app_token": app_token,
        "slack_api_url": url,
    }


def _ids(name: str, value: str | None) -> tuple[int, ...]:
    parts = [p.strip() for p in (value or "").split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ConfigError(f"{name} must be a comma-separated list of numbers, not {value!r}")
    return tuple(int(p) for p in parts)


def _discord(values: Mapping[str, str]) -> dict[str, Any]:
    token = values.get("DISCORD_TOKEN") or None
    api = (values.get("DISCORD_API_URL") or "").rstrip("/") or None
    gateway = values.get("DISCORD_GATEWAY_URL") or None
    if api and not api.startswith(("http://", "https://")):
        raise ConfigError(
            f"DISCORD_API_URL must be an http(s) URL with the API version, like "
            f"https://discord.com/api/v10, not {api!r}"
        )
    if gateway and not gateway.startswith(("ws://", "wss://")):
        raise ConfigError(f"DISCORD_GATEWAY_URL must be a ws(s):// URL, not {gateway!r}")
    count_text = (values.get("DISCORD_SHARD_COUNT") or "").strip()
    if count_text and not (count_text.isdigit() and int(count_text) > 0):
        raise ConfigError(f"DISCORD_SHARD_COUNT must be a positive number, not {count_text!r}")
    count = int(count_text) if count_text else None
    shard_ids = _ids("DISCORD_SHARD_IDS", values.get("DISCORD_SHARD_IDS")) or None
    if shard_ids is not None:
        if count is None:
            raise ConfigError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total)")
        if any(i >= count for i in shard_ids):
            raise ConfigError(
                f"DISCORD_SHARD_IDS run from 0 to DISCORD_SHARD_COUNT - 1 ({count - 1})"
            )
    return {
        "discord_token": token,
        "discord_api_url": api,
        "discord_gateway_url": gateway,
        "discord_guild_ids": _ids("DISCORD_GUILD_IDS", values.get("DISCORD_GUILD_IDS")),
        "discord_shard_ids": shard_ids,
        "discord_shard_count": count,
    }
