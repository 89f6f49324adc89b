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
from datetime import datetime
from typing import Any, cast

import aiohttp
import discord

from adapters.discord.dialect import ALLOWED_MENTIONS, DiscordDialect
from adapters.discord.ui import card_embed, card_view, cut, unplain
from bot.cache import Bounded
from bot.errors import ChannelNameTaken, Later, PlatformError
from bot.platform import ChannelRef, ChannelRules, MessageRef, Post, UserRef
from bot.ui import Card

log = logging.getLogger(__name__)
CONTENT_MAX = 2000
ORIGINAL = "@original"
"""The interaction's first answer, as Discord's webhook routes name it."""
_MENTION = re.compile(r"^<@!?([0-9]{15,21})>$")
CANNOT_DM, INVALID_RECIPIENT = 50007, 50033
"""Discord's refusals of a direct message: "Cannot send messages to this user" (on posting,
or opening one with the bot itself), "Invalid Recipient(s)" (no such user)."""
DM_REFUSED = (
    "Discord lets a bot message only people who share a server with it and accept direct "
    "messages from its members; check their discord id in tocsin.toml"
)


@contextmanager
def refused(what: str) -> Iterator[None]:
    """Turn Discord's refusal of ``what`` into a :class:`PlatformError`: retryable for a
    5xx, a rate limit, a lost connection, a timeout or an answer that is not Discord's."""
    try:
        yield
    except discord.RateLimited as exc:
        raise Later(
            f"Discord rate-limited {what} (retry after {exc.retry_after:.0f} s)",
            retry_after=exc.retry_after,
        ) from exc
    except discord.DiscordServerError as exc:
        raise PlatformError(
            f"Discord failed {what}: {exc.status} {exc.text}", retryable=True, code=_code(exc)
        ) from exc
    except discord.HTTPException as exc:
        raise PlatformError(f"Discord refused {what}: {_why(exc)}", code=_code(exc)) from exc
    except (TimeoutError, OSError, aiohttp.ClientError) as exc:
        raise PlatformError(
            f"Discord did not answer {what}: {exc or type(exc).__name__}", retryable=True
        ) from exc
    except (ValueError, TypeError, KeyError) as exc:
        # discord.py hands back a body that is not JSON as text, and fails on it later.
        raise PlatformError(
            f"Discord's answer to {what} was not what it documents: {exc}", retryable=True
        ) from exc


def _code(exc: discord.HTTPException) -> str:
    """Discord's own number for the refusal (``50007``), when it gave one."""
    return str(exc.code) if exc.code else ""


def _why(exc: discord.HTTPException) -> str:
    """Discord's refusal in words, quoting its own."""
    if exc.code in (CANNOT_DM, INVALID_RECIPIENT):
        return f"{exc.text} ({exc.code}: {DM_REFUSED})"
    if isinstance(exc, discord.Forbidden):
        return f"the bot lacks a permission ({exc.text or exc.status})"
    if isinstance(exc, discord.NotFound):
        return f"not found ({exc.text})"
    return f"{exc.status} {exc.text}"


def where(channel: ChannelRef) -> str:
    """A channel as a message names it: ``#incidents``, or a DM's ``@bob``."""
    return channel.name if channel.name.startswith("@") else f"#{channel.name}"


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
        self,
        client: discord.Client,
        *,
        category: str = "Incidents",
        guilds: Sequence[int] = (),
        remember: int = 2000,
    ) -> None:
        self.client = client
        self._category = category
        self._home = tuple(guilds)
        self._lock = asyncio.Lock()
        self._made: Bounded[tuple[int, str], bool] = Bounded(remember)
        self._users: Bounded[str, UserRef] = Bounded(remember)

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
        # Discord allows two channels of one name: Tocsin does not. The name is held while
        # it is created (not the lock: a call that hangs must not hold up other declares).
        if (guild.id, name) in self._made or any(c.name == name for c in guild.channels):
            raise ChannelNameTaken(name)
        self._made.put((guild.id, name), True)
        try:
            async with self._lock:
                category = await self._category_in(guild)
            with refused(f"creating #{name}"):
                channel = await guild.create_text_channel(
                    name, category=category, topic=topic[:1024]
                )
        except BaseException:
            self._made.discard((guild.id, name))  # not made (or not known to be): free again
            raise
        return ChannelRef(str(channel.id), channel.name)

    async def own_channel(
        self, names: Sequence[str], marker: str, near: ChannelRef | None = None
    ) -> ChannelRef | None:
        """Discord does not say who made a channel: one is ours when its topic (set as it
        was created) starts with ``marker``."""
        guild = await self.guild_for(near)
        with refused(f"listing the channels of {guild.name}"):
            channels = await guild.fetch_channels()
        ours = {c.name: c for c in channels if (getattr(c, "topic", None) or "").startswith(marker)}
        found = next((ours[name] for name in names if name in ours), None)
        return ChannelRef(str(found.id), found.name) if found else None

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
                if exc.retryable:
                    raise  # a 5xx or a rate limit: the worker tries the step again
                # Refused for good (no Manage Roles): not worth failing a declare for, the
                # channel link is in the reply anyway.
                log.warning("%s (give the bot Manage Roles to let people in)", exc)

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        target = await self._channel(channel)
        with refused(f"setting the topic of #{channel.name}"):
            await target.edit(topic=topic[:1024])

    async def post_card(self, channel: ChannelRef, card: Card) -> MessageRef:
        target = await self._channel(channel)
        with refused(f"posting the card in {where(channel)}"):
            message = await target.send(
                embed=card_embed(card), view=card_view(card), allowed_mentions=ALLOWED_MENTIONS
            )
        return MessageRef(channel.id, str(message.id))

    async def pin(self, message: MessageRef) -> None:
        target = await self._channel(ChannelRef(message.channel_id, message.channel_id))
        with refused("pinning the card"):
            await target.get_partial_message(int(message.id)).pin()

    async def update_card(self, message: MessageRef, card: Card) -> None:
        target = await self._channel(ChannelRef(message.channel_id, message.channel_id))
        with refused("updating the card"):
            await target.get_partial_message(int(message.id)).edit(
                embed=card_embed(card), view=card_view(card), allowed_mentions=ALLOWED_MENTIONS
            )

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        return await self._send(await self._channel(channel), text, where(channel))

    async def _send(self, target: Any, text: str, where: str) -> MessageRef:
        """``text`` in as many messages as Discord's 2,000 characters need; the first's ref."""
        refs = []
        for piece in chunks(text or "—"):
            with refused(f"posting in {where}"):
                message = await target.send(piece, allowed_mentions=ALLOWED_MENTIONS)
            refs.append(MessageRef(str(message.channel.id), str(message.id)))
        return refs[0]

    async def recent_posts(self, channel: ChannelRef, since: datetime) -> list[Post]:
        """The bot's messages since ``since``; a card by its title, as it was given."""
        target = await self._channel(channel)
        me = self.client.user.id if self.client.user is not None else None
        posts = []
        with refused(f"reading the recent messages of {where(channel)}"):
            async for message in target.history(limit=50, after=since):
                if message.author.id != me:
                    continue
                title = unplain(message.embeds[0].title or "") if message.embeds else ""
                ref = MessageRef(channel.id, str(message.id))
                posts.append(Post(ref, message.content or title))
        return posts

    async def answer(self, reply_to: str, text: str, *, public: bool) -> None:
        """Answer an interaction (``<application id>:<token>``, valid for 15 minutes):
        ``public``, replace its interim answer with ``text``; otherwise add a message only
        the person sees (the interim answer may be public: it stays as it is)."""
        app_id, _, token = reply_to.partition(":")
        if not app_id.isdigit() or not token:
            raise PlatformError(f"not a Discord interaction to answer: {reply_to[:30]!r}")
        webhook = discord.Webhook.partial(int(app_id), token, client=self.client)
        # An interaction's webhook is the application's: that is what may send messages
        # only the person sees, and partial() cannot say so.
        webhook.type = discord.WebhookType.application
        pieces = chunks(text or "—")
        with refused("answering the interaction"):
            if public:
                await webhook.edit_message(
                    cast(int, ORIGINAL), content=pieces[0], allowed_mentions=ALLOWED_MENTIONS
                )
                pieces = pieces[1:]
            for piece in pieces:
                await webhook.send(piece, ephemeral=not public, allowed_mentions=ALLOWED_MENTIONS)

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        return await self._send(await self._dm(user_id), text, f"a DM to {user_id}")

    async def open_dm(self, user_id: str) -> ChannelRef:
        channel = await self._dm(user_id)
        recipient = channel.recipient
        return ChannelRef(str(channel.id), f"@{recipient.name if recipient else user_id}")

    async def _dm(self, user_id: str) -> discord.DMChannel:
        """The DM channel with a person (``POST /users/@me/channels``: Discord keeps one per
        person, and discord.py remembers it). Sending in it needs no intent: only receiving
        messages there would."""
        if not user_id.isdigit():
            raise PlatformError(f"'{user_id}' is not a Discord user id")
        with refused(f"opening a DM with {user_id}"):
            return await self.client.create_dm(discord.Object(id=int(user_id)))

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

    async def _user(self, user_id: str) -> discord.User:
        if not user_id.isdigit():
            raise PlatformError(f"'{user_id}' is not a Discord user id")
        user = self.client.get_user(int(user_id))
        if user is None:
            with refused(f"looking up user {user_id}"):
                user = await self.client.fetch_user(int(user_id))
        return user

    async def resolve_user(self, user_id: str) -> UserRef:
        known = self._users.get(user_id)
        if known is not None:
            return known
        user = await self._user(user_id)
        return self._users.put(user_id, UserRef(user_id, user.display_name))

    def parse_mention(self, token: str) -> str | None:
        match = _MENTION.match(token)
        return match.group(1) if match else None
