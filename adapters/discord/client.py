"""Connecting to Discord: the client with the intents Tocsin needs, where it points (a
proxy or a test's fake), and what a token's application is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.dialect import ALLOWED_MENTIONS
from adapters.discord.settings import DiscordSettings
from bot.errors import ConfigError, PlatformError

DISCORD_API = Route.BASE
DISCORD_GATEWAY = str(DiscordWebSocket.DEFAULT_GATEWAY)
TOKEN_REFUSED = "DISCORD_TOKEN was refused by Discord: check the bot token"
MESSAGE_CONTENT_OFF = (
    "the Message Content intent is off for this bot, so ordinary messages in incident "
    "channels are not captured on the timeline (pins, 📌 reactions and deletions still are). "
    "Turn it on under Bot → Privileged Gateway Intents in the Discord developer portal and "
    "restart Tocsin."
)


@dataclass(frozen=True)
class BotInfo:
    """Who a token belongs to, as Discord says at login."""

    user: str
    application_id: int
    message_content: bool


def point_at(settings: DiscordSettings) -> None:
    """Send discord.py's REST calls and gateway connection where the settings say (a proxy,
    or a test's fake). discord.py reads both from class attributes: one Discord per process."""
    # Tocsin has no voice: discord.py's start-up warnings about voice libraries are noise.
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    Route.BASE = settings.api_url or DISCORD_API
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url or DISCORD_GATEWAY)


def intents(message_content: bool) -> discord.Intents:
    """Only what Tocsin uses: servers and channels, messages and reactions in them, and the
    privileged message content when the application has it."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_messages = True
    wanted.guild_reactions = True
    wanted.message_content = message_content
    return wanted


def make_client(
    settings: DiscordSettings, *, message_content: bool, guild_ready_timeout: float = 2.0
) -> discord.Client:
    """A client with the intents Tocsin needs; sharded when ``DISCORD_SHARD_COUNT`` is set."""
    point_at(settings)
    options: dict[str, Any] = {
        "guild_ready_timeout": guild_ready_timeout,
        "intents": intents(message_content),
        "allowed_mentions": ALLOWED_MENTIONS,
        "chunk_guilds_at_startup": False,
        # No message cache: discord.py would update a cached message in place when its edit
        # arrives, before the message itself was captured. The raw events carry what we need.
        "max_messages": None,
        "member_cache_flags": discord.MemberCacheFlags.none(),
        # A long rate limit is the worker's to wait out, not a call's (nor a shutdown's,
        # which cancels a call waiting). 30 s is the least discord.py takes.
        "max_ratelimit_timeout": 30.0,
        "enable_raw_presences": False,
    }
    if settings.shard_count is None:
        return discord.Client(**options)
    # Several processes split the shards; AutoShardedClient runs this process's share.
    if settings.shard_ids:
        options["shard_ids"] = list(settings.shard_ids)
    return discord.AutoShardedClient(shard_count=settings.shard_count, **options)


async def probe(settings: DiscordSettings) -> BotInfo:
    """Log in once to learn who the token is and whether the application has the Message
    Content intent (the gateway refuses a connection that asks for it without)."""
    point_at(settings)
    client = discord.Client(intents=discord.Intents(guilds=True))
    try:
        await client.login(settings.token or "")
        flags = client.application_flags
        assert client.user is not None and client.application_id is not None
        return BotInfo(
            str(client.user),
            client.application_id,
            flags.gateway_message_content or flags.gateway_message_content_limited,
        )
    except discord.LoginFailure as exc:
        raise ConfigError(TOKEN_REFUSED) from exc
    except (discord.HTTPException, OSError) as exc:
        raise PlatformError(f"cannot reach Discord at {Route.BASE}: {exc}") from exc
    finally:
        await client.close()
