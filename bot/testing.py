"""Test helpers shipped with Tocsin, for its own tests and for anyone writing an adapter:
:class:`RecordingPlatform`, a :class:`~bot.platform.ChatPlatform` that keeps what it was
asked to do, enforces channel-name uniqueness, and can be told to fail."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import count

from bot.errors import ChannelNameTaken, PlatformError
from bot.platform import ChannelRef, ChannelRules, MessageRef, UserRef
from bot.render import MarkdownDialect
from bot.ui import Card

_MENTION = re.compile(r"^<@([A-Za-z0-9]+)>$")


@dataclass
class Posted:
    channel_id: str
    message_id: str
    card: Card | None = None
    text: str = ""
    pinned: bool = False
    edits: list[Card] = field(default_factory=list)


class RecordingPlatform:
    """A platform in memory. Mentions are written ``<@id>``; ``fail_on`` names methods
    that raise :class:`PlatformError`; ``taken`` holds channel names that already exist."""

    dialect = MarkdownDialect()

    def __init__(self, name: str = "fake", max_length: int = 80) -> None:
        self.name = name
        self.channel_rules = ChannelRules(max_length=max_length)
        self.channels: dict[str, ChannelRef] = {}
        self.topics: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.messages: list[Posted] = []
        self.dms: list[tuple[str, str]] = []
        self.files: list[tuple[str, str, bytes]] = []
        self.archived: set[str] = set()
        self.taken: set[str] = set()
        self.fail_on: set[str] = set()
        self.users: dict[str, str] = {}
        self._ids = count(1)

    def _check(self, method: str) -> None:
        if method in self.fail_on:
            raise PlatformError(f"{method} failed (as the test asked)")

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        self._check("create_channel")
        if name in self.taken or any(c.name == name for c in self.channels.values()):
            raise ChannelNameTaken(name)
        ref = ChannelRef(f"C{next(self._ids)}", name)
        self.channels[ref.id] = ref
        self.topics[ref.id] = topic
        return ref

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        self._check("find_channel")
        for ref in self.channels.values():
            if name in (ref.name, ref.id):
                return ref
        ref = self.channels[name] = ChannelRef(name, name)
        return ref

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        self._check("invite")
        self.members.setdefault(channel.id, set()).update(user_ids)

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        self._check("set_topic")
        self.topics[channel.id] = topic

    async def post_card(self, channel: ChannelRef, card: Card, *, pin: bool = False) -> MessageRef:
        self._check("post_card")
        posted = Posted(channel.id, str(next(self._ids)), card=card, pinned=pin)
        self.messages.append(posted)
        return MessageRef(channel.id, posted.message_id)

    async def update_card(self, message: MessageRef, card: Card) -> None:
        self._check("update_card")
        posted = self.message(message.id)
        posted.card = card
        posted.edits.append(card)

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        self._check("post_message")
        posted = Posted(channel.id, str(next(self._ids)), text=text)
        self.messages.append(posted)
        return MessageRef(channel.id, posted.message_id)

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        self._check("post_dm")
        self.dms.append((user_id, text))
        return MessageRef(f"D{user_id}", str(next(self._ids)))

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None:
        self._check("upload_file")
        self.files.append((channel.id, filename, content))

    async def archive_channel(self, channel: ChannelRef) -> None:
        self._check("archive_channel")
        self.archived.add(channel.id)

    async def resolve_user(self, user_id: str) -> UserRef:
        return UserRef(user_id, self.users.get(user_id, user_id))

    def parse_mention(self, token: str) -> str | None:
        match = _MENTION.match(token)
        return match.group(1) if match else None

    # for assertions
    def message(self, message_id: str) -> Posted:
        return next(m for m in self.messages if m.message_id == message_id)

    def texts(self, channel_id: str) -> list[str]:
        return [m.text for m in self.messages if m.channel_id == channel_id and m.text]

    def cards(self, channel_id: str) -> list[Posted]:
        return [m for m in self.messages if m.channel_id == channel_id and m.card]

    def channel_named(self, name: str) -> ChannelRef:
        return next(c for c in self.channels.values() if c.name == name)
