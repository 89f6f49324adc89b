"""Discord events → the core's :class:`~bot.inbound.ChannelEvent`. Pure functions.

Other bots' messages (and Tocsin's own) are never captured. Without the Message Content
intent, Discord sends other people's messages and edits without their text: those are left
out, since there is nothing to record.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import discord

from bot.inbound import ChannelEvent
from bot.platform import UserRef

PLATFORM = "discord"
PIN = "📌"


def who(user: discord.abc.User | None, user_id: int | str | None = None) -> UserRef:
    if user is None:
        return UserRef(str(user_id or ""), str(user_id or "someone"))
    return UserRef(str(user.id), user.display_name)


def message(message: discord.Message) -> ChannelEvent | None:
    """A person's message, or the notice Discord posts when someone pins one."""
    if message.author.bot or message.guild is None:
        return None
    channel = str(message.channel.id)
    if message.type == discord.MessageType.pins_add and message.reference is not None:
        pinned = str(message.reference.message_id)
        return ChannelEvent(
            PLATFORM, channel, "pin", pinned, who(message.author), message.created_at
        )
    if message.type not in (discord.MessageType.default, discord.MessageType.reply):
        return None
    text = "\n".join([message.content, *(a.url for a in message.attachments)]).strip()
    if not text:
        return None
    return ChannelEvent(
        PLATFORM, channel, "message", str(message.id), who(message.author), message.created_at, text
    )


def edit(payload: discord.RawMessageUpdateEvent) -> ChannelEvent | None:
    """An edit, from the raw event (so it never depends on the message cache)."""
    data: dict[str, Any] = dict(payload.data)
    author = data.get("author") or {}
    if author.get("bot") or not data.get("edited_timestamp") or not data.get("content"):
        return None  # an embed unfurling, a bot, or no Message Content intent
    member = data.get("member") or {}
    name = member.get("nick") or author.get("global_name") or author.get("username")
    author_id = str(author.get("id", ""))
    return ChannelEvent(
        PLATFORM,
        str(payload.channel_id),
        "edit",
        str(payload.message_id),
        UserRef(author_id, name or author_id),
        datetime.fromisoformat(data["edited_timestamp"]),
        str(data["content"]),
    )


def deletion(channel_id: int, message_id: int) -> ChannelEvent:
    # Discord does not say who deleted a message, nor exactly when.
    nobody = UserRef("", "someone")
    return ChannelEvent(
        PLATFORM, str(channel_id), "delete", str(message_id), nobody, discord.utils.utcnow()
    )


def pin_reaction(
    payload: discord.RawReactionActionEvent, bot_id: int | None
) -> ChannelEvent | None:
    """A 📌 reaction by a person, in a server. Discord's event carries no time: now it is."""
    if str(payload.emoji) != PIN or payload.guild_id is None or payload.user_id == bot_id:
        return None
    if payload.member is not None and payload.member.bot:
        return None
    return ChannelEvent(
        PLATFORM,
        str(payload.channel_id),
        "pin",
        str(payload.message_id),
        who(payload.member, payload.user_id),
        discord.utils.utcnow(),
    )
