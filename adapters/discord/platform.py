"""Discord as a :class:`~bot.platform.ChatPlatform`, over a discord.py client.

discord.py waits out rate limits itself. Every send sets ``allowed_mentions``; a refusal
from Discord becomes a :class:`PlatformError` that says what was refused and why.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import discord

from adapters.discord.dialect import ALLOWED_MENTIONS, DiscordDialect
from adapters.discord.ui import card_embed, card_view, cut
from bot.errors import ChannelNameTaken, PlatformError
from bot.platform import ChannelRef, ChannelRules, MessageRef, UserRef
from bot.ui import Card

log = logging.getLogger(__name__)
CONTENT_MAX = 2000
_MENTION = re.compile(r"^<@!?([0-9]{15,21})>$")


@contextmanager
def refused(what: str) -> Iterator[None]:
    """Turn Discord's refusal of ``what`` into a :class:`PlatformError`."""
    try:
        yield
    except discord.Forbidden as exc:
        raise PlatformError(
            f"Discord refused {what}: the bot lacks a permission ({exc.text or exc.status})"
        ) from exc
    except discord.NotFound as exc:
        raise PlatformError(f"Discord refused {what}: not found ({exc.text})") from exc
    except discord.HTTPException as exc:
        raise PlatformError(f"Discord refused {what}: {exc.status} {exc.text}") from exc


def chunks(text: str, limit: int = CONTENT_MAX) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, split at line ends when possible."""
    pieces: list[str] = []
    while len(text) > limit:
        cut_at = text.rfind("\n", 0, limit)
        cut_at = cut_at if cut_at > limit // 2 else limit
        pieces.append(text[:cut_at])
        text = text[cut_at:].lstrip("\n")
    return [*pieces, text] if text or not pieces else pieces


class DiscordPlatform:
    name = "discord"
    dialect = DiscordDialect()
    channel_rules = ChannelRules(max_length=100)

    def __init__(
        self, client: discord.Client, *, category: str = "Incidents", guilds: Sequence[int] = ()
    ) -> None:
        self.client = client
        self._category = category
        self._home = tuple(guilds)
        self._lock = asyncio.Lock()
        self._made: set[tuple[int, str]] = set()
        self._users: dict[str, UserRef] = {}

    async def guild_for(self, near: ChannelRef | None) -> discord.Guild:
        """The server a request came from; else the first of ``DISCORD_GUILD_IDS``; else
        the bot's only server."""
        if near is not None and near.id.isdigit():
            guild = getattr(await self._channel(near), "guild", None)
            if isinstance(guild, discord.Guild):
                return guild
        for guild_id in self._home:
            found = self.client.get_guild(guild_id)
            if found is not None:
                return found
        if len(self.client.guilds) == 1:
            return self.client.guilds[0]
        raise PlatformError(
            "which Discord server? The bot is in "
            f"{len(self.client.guilds)}; list the one to use first in DISCORD_GUILD_IDS"
        )

    async def _channel(self, ref: ChannelRef) -> Any:
        if not ref.id.isdigit():
            raise PlatformError(f"'{ref.id}' is not a Discord channel id")
        channel = self.client.get_channel(int(ref.id))
        if channel is None:
            with refused(f"looking up channel {ref.id}"):
                channel = await self.client.fetch_channel(int(ref.id))
        return channel

    async def _category_in(self, guild: discord.Guild) -> discord.CategoryChannel | None:
        wanted = self._category.strip()
        if not wanted:
            return None
        for category in guild.categories:
            if str(category.id) == wanted or category.name.lower() == wanted.lower():
                return category
        if wanted.isdigit():
            raise PlatformError(f"there is no category {wanted} in {guild.name}")
        with refused(f"creating the category {wanted}"):
            category = await guild.create_category(wanted)
        log.info("created the category %s in %s", wanted, guild.name)
        return category

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        guild = await self.guild_for(near)
        async with self._lock:
            # Discord allows two channels of one name: Tocsin does not.
            if (guild.id, name) in self._made or any(c.name == name for c in guild.channels):
                raise ChannelNameTaken(name)
            category = await self._category_in(guild)
            with refused(f"creating #{name}"):
                channel = await guild.create_text_channel(
                    name, category=category, topic=topic[:1024]
                )
            self._made.add((guild.id, channel.name))
        return ChannelRef(str(channel.id), channel.name)

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        """By id (``123…``, ``<#123…>``) or by name (``#incidents``) in the request's server."""
        key = name.strip().removeprefix("<#").removesuffix(">").removeprefix("#")
        if key.isdigit():
            channel = await self._channel(ChannelRef(key, key))
            return ChannelRef(key, getattr(channel, "name", key))
        guild = await self.guild_for(near)
        for channel in guild.text_channels:
            if channel.name == key:
                return ChannelRef(str(channel.id), channel.name)
        raise PlatformError(
            f"there is no channel #{key} in {guild.name} (or the bot cannot see it)"
        )

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        """Discord has no channel membership: whoever may see the category sees the channel.
        Someone who may not (a private category) is let in by a permission overwrite."""
        target = await self._channel(channel)
        for user_id in user_ids:
            try:
                with refused(f"letting {user_id} into #{channel.name}"):
                    member = await target.guild.fetch_member(int(user_id))
                    if target.permissions_for(member).view_channel:
                        continue
                    await target.set_permissions(
                        member, view_channel=True, send_messages=True, read_message_history=True
                    )
            except PlatformError as exc:
                # Not worth failing a declare for: the channel link is in the reply anyway.
                log.warning("%s (give the bot Manage Roles to let people in)", exc)

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        target = await self._channel(channel)
        with refused(f"setting the topic of #{channel.name}"):
            await target.edit(topic=topic[:1024])

    async def post_card(self, channel: ChannelRef, card: Card, *, pin: bool = False) -> MessageRef:
        target = await self._channel(channel)
        with refused(f"posting the card in #{channel.name}"):
            message = await target.send(
                embed=card_embed(card), view=card_view(card), allowed_mentions=ALLOWED_MENTIONS
            )
        if pin:
            with refused(f"pinning the card in #{channel.name}"):
                await message.pin()
        return MessageRef(channel.id, str(message.id))

    async def update_card(self, message: MessageRef, card: Card) -> None:
        target = await self._channel(ChannelRef(message.channel_id, message.channel_id))
        with refused("updating the card"):
            await target.get_partial_message(int(message.id)).edit(
                embed=card_embed(card), view=card_view(card), allowed_mentions=ALLOWED_MENTIONS
            )

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        return await self._send(await self._channel(channel), text, f"#{channel.name}")

    async def _send(self, target: Any, text: str, where: str) -> MessageRef:
        """``text`` in as many messages as Discord's 2,000 characters need; the first's ref."""
        refs = []
        for piece in chunks(text or "—"):
            with refused(f"posting in {where}"):
                message = await target.send(piece, allowed_mentions=ALLOWED_MENTIONS)
            refs.append(MessageRef(str(message.channel.id), str(message.id)))
        return refs[0]

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        user = await self._user(user_id)
        with refused(f"opening a DM with {user_id}"):
            channel = await user.create_dm()
        return await self._send(channel, text, "a DM")

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None:
        target = await self._channel(channel)
        with refused(f"uploading {filename}"):
            await target.send(
                cut(comment, CONTENT_MAX),
                file=discord.File(io.BytesIO(content), filename=filename),
                allowed_mentions=ALLOWED_MENTIONS,
            )

    async def archive_channel(self, channel: ChannelRef) -> None:
        """Discord has no archive: the channel becomes read-only for everyone."""
        target = await self._channel(channel)
        with refused(f"archiving #{channel.name}"):
            await target.set_permissions(target.guild.default_role, send_messages=False)

    async def _user(self, user_id: str) -> discord.User:
        if not user_id.isdigit():
            raise PlatformError(f"'{user_id}' is not a Discord user id")
        user = self.client.get_user(int(user_id))
        if user is None:
            with refused(f"looking up user {user_id}"):
                user = await self.client.fetch_user(int(user_id))
        return user

    async def resolve_user(self, user_id: str) -> UserRef:
        if user_id not in self._users:
            user = await self._user(user_id)
            self._users[user_id] = UserRef(user_id, user.display_name)
        return self._users[user_id]

    def parse_mention(self, token: str) -> str | None:
        match = _MENTION.match(token)
        return match.group(1) if match else None
