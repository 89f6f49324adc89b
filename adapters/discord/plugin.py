"""Discord as a platform plugin: its variables and ``[discord]`` table, its
``check-config`` step, ``tocsin discord-invite``, and its mount into ``tocsin run``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.discord.settings import VARIABLES, DiscordConfig, DiscordSettings
from bot.errors import ConfigError, TocsinError
from bot.plugins import Check, CliCommand, Host

if TYPE_CHECKING:
    from adapters.discord.app import DiscordAdapter
    from adapters.discord.platform import DiscordPlatform
    from bot.app import Core
    from bot.config import TocsinConfig
    from bot.settings import Settings


@dataclass
class DiscordMount:
    """Discord in ``tocsin run``."""

    platform: DiscordPlatform
    bot: DiscordAdapter
    token: str

    async def start(self) -> None:
        await self.bot.start(self.token)

    async def stop(self) -> None:
        await self.bot.close()

    def ended(self) -> Awaitable[Any] | None:
        return self.bot.stopped


async def discord_platform(
    settings: DiscordSettings, config: TocsinConfig, *, guild_ready_timeout: float = 2.0
) -> DiscordPlatform:
    """The Discord platform for the token, with the intents its application has."""
    from adapters.discord.client import make_client, probe
    from adapters.discord.platform import DiscordPlatform

    info = await probe(settings)
    client = make_client(
        settings, message_content=info.message_content, guild_ready_timeout=guild_ready_timeout
    )
    category = config.section("discord", DiscordConfig).category
    return DiscordPlatform(client, category=category, guilds=settings.guild_ids)


def mount_discord(
    core: Core,
    platform: DiscordPlatform,
    settings: DiscordSettings,
    *,
    answer_within: float = 2.0,
) -> DiscordAdapter:
    """The Discord bot on ``core``; :meth:`DiscordAdapter.start` connects it."""
    from adapters.discord.app import DiscordAdapter

    return DiscordAdapter(
        core.dispatcher,
        platform,
        core.config,
        core.registry,
        guild_ids=settings.guild_ids,
        answer_within=answer_within,
    )


class DiscordPlugin:
    name = "discord"
    variables = VARIABLES
    config_model = DiscordConfig

    def configured(self, settings: Settings) -> bool:
        return DiscordSettings.from_env(settings.env) is not None

    async def mount(self, host: Host) -> DiscordMount:
        discord_settings = DiscordSettings.from_env(host.settings.env)
        assert discord_settings is not None, "mounted only when configured"
        platform = await discord_platform(discord_settings, host.core.config)
        bot = mount_discord(host.core, platform, discord_settings)
        return DiscordMount(platform, bot, discord_settings.token)

    async def check(self, settings: Settings, config: TocsinConfig) -> list[Check]:
        discord_settings = DiscordSettings.from_env(settings.env)
        if discord_settings is None:
            return [
                Check(
                    None,
                    "Discord: not configured (DISCORD_TOKEN; `tocsin discord-invite` prints the "
                    "link that adds the bot to a server)",
                )
            ]
        from adapters.discord.client import MESSAGE_CONTENT_OFF, probe

        try:
            info = await probe(discord_settings)
        except TocsinError as exc:
            return [Check(False, f"Discord: {exc}")]
        guilds = discord_settings.guild_ids
        where = (
            f"commands synced to server(s) {', '.join(map(str, guilds))}"
            if guilds
            else "commands synced globally"
        )
        checks = [
            Check(True, f"Discord: bot {info.user} (application {info.application_id}), {where}")
        ]
        if not info.message_content:
            checks.append(Check(None, f"Discord: {MESSAGE_CONTENT_OFF}"))
        return checks

    def add_commands(self, commands: Any) -> dict[str, CliCommand]:
        invite = commands.add_parser(
            "discord-invite", help="print the link that adds the Discord bot to a server"
        )
        invite.add_argument(
            "--client-id",
            type=int,
            help="the Application ID (default: asked of Discord with DISCORD_TOKEN)",
        )
        return {"discord-invite": print_invite}


async def print_invite(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.discord.client import probe
    from adapters.discord.invite import SCOPES, invite_url, permission_names

    client_id = args.client_id
    if client_id is None:
        discord_settings = DiscordSettings.from_env(settings.env)
        if discord_settings is None:
            raise ConfigError(
                "give --client-id (the Application ID, on the General Information page of the "
                "Discord developer portal), or set DISCORD_TOKEN to ask Discord for it"
            )
        client_id = (await probe(discord_settings)).application_id
    print(invite_url(client_id))
    print(
        f"\nScopes: {', '.join(SCOPES)}. Permissions: {', '.join(permission_names())}.",
        file=sys.stderr,
    )
    await asyncio.sleep(0)
    return 0
