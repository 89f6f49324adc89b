"""Discord's environment variables and its ``[discord]`` table in ``tocsin.toml``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from bot.errors import SettingsError
from bot.settings import http_url, ids, integer, secret

VARIABLES = {
    "DISCORD_TOKEN": "bot token: turns Discord on",
    "DISCORD_GUILD_IDS": "servers to register the slash commands in at once (comma-separated)",
    "DISCORD_API_URL": "Discord REST base, with the API version, for a proxy",
    "DISCORD_GATEWAY_URL": "Discord gateway URL, for a proxy",
    "DISCORD_SHARD_COUNT": "the total number of shards, when processes split them",
    "DISCORD_SHARD_IDS": "this process's shards (comma-separated; default all)",
}


@dataclass(frozen=True)
class DiscordSettings:
    token: str = field(repr=False)
    api_url: str | None = None
    gateway_url: str | None = None
    guild_ids: tuple[int, ...] = ()
    shard_ids: tuple[int, ...] | None = None
    shard_count: int | None = None

    @classmethod
    def from_env(cls, values: Mapping[str, str]) -> DiscordSettings | None:
        """Discord's settings; None when Discord is off; :class:`SettingsError` when wrong."""
        token = values.get("DISCORD_TOKEN") or None
        api = (values.get("DISCORD_API_URL") or "").rstrip("/") or None
        gateway = values.get("DISCORD_GATEWAY_URL") or None
        if token:
            secret("DISCORD_TOKEN", token)
        if api:
            http_url(
                "DISCORD_API_URL",
                api,
                "an http(s) URL with the API version, like https://discord.com/api/v10",
                schemes=("http", "https"),
            )
        if gateway:
            http_url(
                "DISCORD_GATEWAY_URL",
                gateway,
                "a ws(s):// URL, like wss://gateway.discord.gg/",
                schemes=("ws", "wss"),
            )
        count_text = values.get("DISCORD_SHARD_COUNT") or ""
        count = integer(count_text, digits=6) if count_text.strip() else None
        if count_text.strip() and not (count is not None and count > 0):
            raise SettingsError(
                "DISCORD_SHARD_COUNT must be a positive number (at most 999999), "
                f"not {count_text[:20]!r}"
            )
        shard_ids = ids("DISCORD_SHARD_IDS", values.get("DISCORD_SHARD_IDS")) or None
        if shard_ids is not None:
            if count is None:
                raise SettingsError("DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT (the total)")
            if any(i >= count for i in shard_ids):
                raise SettingsError(
                    f"DISCORD_SHARD_IDS run from 0 to DISCORD_SHARD_COUNT - 1 ({count - 1})"
                )
        guild_ids = ids("DISCORD_GUILD_IDS", values.get("DISCORD_GUILD_IDS"))
        if token is None:
            return None
        return cls(token, api, gateway, guild_ids, shard_ids, count)


class DiscordConfig(BaseModel):
    """``[discord]`` in ``tocsin.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: str = Field(
        default="Incidents",
        max_length=100,
        description="the category incident channels go in (a name or id; made if missing; "
        "empty for none)",
    )
