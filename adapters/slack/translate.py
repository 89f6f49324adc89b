"""Slack payloads → the core's neutral :mod:`bot.inbound` objects. Pure functions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from adapters.slack.blocks import parse_callback, submitted_values
from adapters.slack.dialect import unescape_text
from bot.inbound import Action, ChannelEvent, Command
from bot.platform import ChannelRef, UserRef

PLATFORM = "slack"
EPHEMERAL = "ephemeral:"
_BUTTON = re.compile(r"^tocsin:([a-z_]+):(\d{1,9})$")
_IGNORED_SUBTYPES = {
    "bot_message",
    "channel_join",
    "channel_leave",
    "channel_topic",
    "channel_purpose",
    "channel_name",
    "pinned_item",
    "unpinned_item",
}


def ts_time(ts: str | float | None) -> datetime:
    """A Slack timestamp (``"1712345678.000200"``) as an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts or 0), tz=UTC)


def command(body: dict[str, Any]) -> Command:
    return Command(
        platform=PLATFORM,
        actor=UserRef(body.get("user_id", ""), body.get("user_name") or body.get("user_id", "")),
        channel=ChannelRef(body.get("channel_id", ""), body.get("channel_name", "")),
        text=unescape_text(body.get("text", "")),
        root=str(body.get("command", "/incident")).lstrip("/"),
        reply_to=body.get("response_url") or None,
    )


def _user(body: dict[str, Any]) -> UserRef:
    user = body.get("user", {})
    return UserRef(
        user.get("id", ""), user.get("username") or user.get("name") or user.get("id", "")
    )


def button(body: dict[str, Any]) -> Action | None:
    """A click on one of our buttons, or None for anything else."""
    action = (body.get("actions") or [{}])[0]
    match = _BUTTON.match(str(action.get("action_id", "")))
    if not match:
        return None
    channel = body.get("channel") or {}
    channel_id = channel.get("id") or body.get("container", {}).get("channel_id", "")
    return Action(
        PLATFORM,
        _user(body),
        ChannelRef(channel_id, channel.get("name", channel_id)),
        match.group(1),
        int(match.group(2)),
        reply_to=body.get("response_url") or None,
    )


def submission(body: dict[str, Any]) -> Action:
    view = body.get("view", {})
    name, number = parse_callback(view.get("callback_id", ""))
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    channel_id = metadata.get("channel", "") if isinstance(metadata, dict) else ""
    channel_id = channel_id if isinstance(channel_id, str) else ""
    user = _user(body)
    return Action(
        PLATFORM,
        user,
        ChannelRef(channel_id, channel_id),
        name,
        number,
        submitted_values(view),
        reply_to=encode_ephemeral(channel_id, user.id) if channel_id else None,
        submitted=True,
    )


def channel_event(event: dict[str, Any], bot_user_id: str | None) -> ChannelEvent | None:
    """A message, edit, deletion, 📌 or arrival worth a timeline line; None otherwise (the
    bot's own messages included)."""
    kind = event.get("type")
    channel = event.get("channel") or event.get("item", {}).get("channel", "")
    if isinstance(channel, dict):
        channel = channel.get("id", "")
    if kind == "message":
        return _message(event, channel, bot_user_id)
    user = event.get("user", "")
    if user == bot_user_id:
        return None
    if kind == "pin_added":
        message = event.get("item", {}).get("message", {})
        return ChannelEvent(
            PLATFORM,
            channel,
            "pin",
            message.get("ts", ""),
            UserRef(user, user),
            ts_time(event.get("event_ts")),
            unescape_text(message.get("text", "")),
        )
    if kind == "reaction_added" and event.get("reaction") == "pushpin":
        item = event.get("item", {})
        return ChannelEvent(
            PLATFORM,
            item.get("channel", ""),
            "pin",
            item.get("ts", ""),
            UserRef(user, user),
            ts_time(event.get("event_ts")),
        )
    if kind == "member_joined_channel":
        return ChannelEvent(
            PLATFORM,
            channel,
            "joined",
            f"join:{user}:{event.get('event_ts')}",
            UserRef(user, user),
            ts_time(event.get("event_ts")),
        )
    return None


def _message(event: dict[str, Any], channel: str, bot_user_id: str | None) -> ChannelEvent | None:
    subtype = event.get("subtype")
    if subtype == "message_changed":
        message = event.get("message", {})
        if message.get("bot_id") or message.get("user") == bot_user_id:
            return None
        edited = message.get("edited", {}).get("ts") or event.get("ts")
        return ChannelEvent(
            PLATFORM,
            channel,
            "edit",
            message.get("ts", ""),
            UserRef(message.get("user", ""), message.get("user", "")),
            ts_time(edited),
            unescape_text(message.get("text", "")),
        )
    if subtype == "message_deleted":
        previous = event.get("previous_message", {})
        return ChannelEvent(
            PLATFORM,
            channel,
            "delete",
            event.get("deleted_ts", ""),
            UserRef(previous.get("user", ""), previous.get("user", "")),
            ts_time(event.get("ts")),
        )
    if subtype in _IGNORED_SUBTYPES or event.get("bot_id") or event.get("user") == bot_user_id:
        return None
    if not event.get("user"):
        return None
    return ChannelEvent(
        PLATFORM,
        channel,
        "message",
        event.get("ts", ""),
        UserRef(event["user"], event["user"]),
        ts_time(event.get("ts")),
        unescape_text(event.get("text", "")),
    )


def encode_ephemeral(channel_id: str, user_id: str) -> str:
    """The answer address of a form submission: no response_url, so an ephemeral message
    in the channel the form was opened from."""
    return f"{EPHEMERAL}{channel_id}:{user_id}"
