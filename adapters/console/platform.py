"""The terminal as a chat platform: every channel prints to one stream, with its name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import count
from typing import TextIO

from bot import names
from bot.commands.values import shown
from bot.errors import ChannelNameTaken, UserError
from bot.platform import ChannelRef, ChannelRules, MessageRef, Post, UserRef
from bot.render import PlainDialect, strip_control
from bot.ui import Button, Card


def valid_channel(name: str) -> str | None:
    """``#name`` or ``name`` → the channel, by the core's rule for names; None if not one."""
    try:
        return names.channel(name)
    except UserError:
        return None


FALLBACK_CHANNEL = "incidents"
"""The shell's channel for a name its rule does not take (``ops.alerts``, a Discord name)."""


def shell_channel(name: str) -> str:
    """The shell's channel for ``name``: itself, by the core's rule, else #incidents."""
    return valid_channel(name) or FALLBACK_CHANNEL


def announce_note(announce: str, *, starts_there: bool) -> str | None:
    """Why the shell announces in #incidents rather than in the configured announce
    channel, or None if it announces there. The config keeps that name as it is: it is
    Slack's or Discord's (a Slack id like C0123ABCD, a Discord name), not only the shell's."""
    if valid_channel(announce) is not None:
        return None
    name = announce.strip().removeprefix("#")
    rule = (
        f"at most {names.CHANNEL_MAX} characters"
        if len(name) > names.CHANNEL_MAX
        else names.CHANNEL_RULE
    )
    where = ", where the shell starts" if starts_there else ""
    return (
        f"(announcements go to #{FALLBACK_CHANNEL}{where}: the announce channel "
        f"'{shown(strip_control(announce))}' cannot be a shell channel, whose name is {rule})"
    )


def valid_person(token: str) -> str | None:
    """``@name`` → the person key, by the core's rule for names; None if not one."""
    token = token.strip()
    if not token.startswith("@"):
        return None
    try:
        return names.person(token)
    except UserError:
        return None


class ConsolePlatform:
    """Prints what Slack or Discord would show. Channels live for the process; incident
    channels are remembered by the core's database, so names never collide after a restart."""

    name = "console"
    dialect = PlainDialect()
    channel_rules = ChannelRules(max_length=80)

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._channels: dict[str, ChannelRef] = {}
        self._made: set[str] = set()
        self._ids = count(1)
        self.buttons: dict[int, Button] = {}
        """The buttons of the card printed last, by the number typed to click them."""

    def say(self, text: str) -> None:
        self.write(text.rstrip("\n") + "\n")

    def write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        if name in self._channels:
            raise ChannelNameTaken(f"#{name} exists already")
        ref = self._channels[name] = ChannelRef(name, name)
        self._made.add(name)
        self.say(f"[#{name}] channel created · topic: {topic}")
        return ref

    async def own_channel(
        self, names: Sequence[str], marker: str, near: ChannelRef | None = None
    ) -> ChannelRef | None:
        return next((self._channels[n] for n in names if n in self._made), None)

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        clean = shell_channel(name)
        return self._channels.setdefault(clean, ChannelRef(clean, clean))

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        if user_ids:
            self.say(f"[#{channel.name}] invited " + ", ".join(f"@{u}" for u in user_ids))

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        self.say(f"[#{channel.name}] topic: {topic}")

    async def post_card(self, channel: ChannelRef, card: Card) -> MessageRef:
        ref = MessageRef(channel.id, str(next(self._ids)))
        self.show_card(channel.id, card, "card")
        return ref

    async def pin(self, message: MessageRef) -> None:
        self.say(f"[#{message.channel_id}] 📌 pinned the card")

    async def update_card(self, message: MessageRef, card: Card) -> None:
        self.show_card(message.channel_id, card, "card updated")

    def show_card(self, channel_id: str, card: Card, what: str) -> None:
        self.buttons = {n: b for n, b in enumerate(card.buttons, start=1)}
        # A direct message's channel is "@name": its card is a page, shown [DM @name].
        where = f"[DM {channel_id}]" if channel_id.startswith("@") else f"[#{channel_id}]"
        lines = [f"{where} {what}", f"┌ {strip_control(card.title)}"]
        lines.append("│ " + " · ".join(f"{f.name}: {f.value}" for f in card.fields))
        lines += [f"│ {line}" for line in card.body.splitlines() if line.strip()]
        footer = strip_control(card.footer)
        buttons = "  ".join(f"[{n}] {b.label}" for n, b in self.buttons.items())
        if buttons:
            lines += [f"│ {footer}"] if footer else []
            lines.append(f"└ {buttons}")
        else:  # no buttons (closed, cancelled): the footer closes the card, not a bare corner
            lines.append(f"└ {footer or 'no actions left'}")
        self.say("\n".join(lines))

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        self.say(f"[#{channel.name}] {text}")
        return MessageRef(channel.id, str(next(self._ids)))

    async def recent_posts(self, channel: ChannelRef, since: datetime) -> list[Post]:
        return []  # a terminal keeps nothing: a retry here posts again

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        self.say(f"[DM @{user_id}] {text}")
        return MessageRef(f"@{user_id}", str(next(self._ids)))

    async def open_dm(self, user_id: str) -> ChannelRef:
        return ChannelRef(f"@{user_id}", f"@{user_id}")

    async def answer(self, reply_to: str, text: str, *, public: bool) -> None:
        self.say(f"→ {'' if public else '(only you) '}{text}")

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None:
        body = strip_control(content.decode("utf-8", "replace")).rstrip("\n")
        self.say(f"[#{channel.name}] 📎 {filename} ({len(content)} bytes) · {comment}")
        self.say(f"----- {filename} -----\n{body}\n----- end of {filename} -----")

    async def resolve_user(self, user_id: str) -> UserRef:
        return UserRef(user_id, user_id)

    def parse_mention(self, token: str) -> str | None:
        return valid_person(token)
