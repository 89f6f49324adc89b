"""Test helpers shipped with Tocsin, for its own tests and for anyone writing an adapter:
:class:`RecordingPlatform`, a :class:`~bot.platform.ChatPlatform` that keeps what it was
asked to do, enforces channel-name uniqueness, and can be told to fail or to hang."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import count

from bot.clock import Clock
from bot.errors import ChannelNameTaken, Later, PlatformError
from bot.platform import ChannelRef, ChannelRules, MessageRef, Post, UserRef
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
    at: datetime | None = None


class RecordingPlatform:
    """A platform in memory. Mentions are written ``<@id>``.

    ``fail_on`` names methods that always raise a :class:`PlatformError` Tocsin cannot
    retry; ``flaky`` maps a method to how many times it fails first with a retryable one
    (a 5xx), and ``hang`` to how many times it never answers (so a timeout must end it);
    ``later`` to how many times it asks to come back in 5 s (a rate limit); ``taken`` holds
    channel names that already exist. Each of those is a call the platform *did not* carry
    out; ``lose_answers`` maps a method to how many times it does the work and then hangs
    (a call whose answer was lost).
    """

    dialect = MarkdownDialect()

    def __init__(
        self, name: str = "fake", max_length: int = 80, clock: Clock | None = None
    ) -> None:
        self.name = name
        self.clock = clock
        """With a clock, posts are stamped and :meth:`recent_posts` keeps to ``since``, as
        a real platform's history does."""
        self.channel_rules = ChannelRules(max_length=max_length)
        self.channels: dict[str, ChannelRef] = {}
        self.made: set[str] = set()
        self.topics: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.messages: list[Posted] = []
        self.dms: list[tuple[str, str]] = []
        self.answers: list[tuple[str, str, bool]] = []
        self.files: list[tuple[str, str, bytes]] = []
        self.taken: set[str] = set()
        self.fail_on: set[str] = set()
        self.flaky: dict[str, int] = {}
        self.hang: dict[str, int] = {}
        self.lose_answers: dict[str, int] = {}
        self.later: dict[str, int] = {}
        self.users: dict[str, str] = {}
        self.calls: list[str] = []
        self._ids = count(1)

    async def _check(self, method: str) -> None:
        self.calls.append(method)
        if method in self.fail_on:
            raise PlatformError(f"{method} failed (as the test asked)")
        if self.flaky.get(method, 0) > 0:
            self.flaky[method] -= 1
            raise PlatformError(f"{method} failed with a 5xx (as the test asked)", retryable=True)
        if self.later.get(method, 0) > 0:
            self.later[method] -= 1
            raise Later(f"{method}: come back in 5 s (as the test asked)", retry_after=5)
        if self.hang.get(method, 0) > 0:
            self.hang[method] -= 1
            await asyncio.Event().wait()

    async def _after(self, method: str) -> None:
        """Done, but the answer is lost: hang after the work, as a platform may."""
        if self.lose_answers.get(method, 0) > 0:
            self.lose_answers[method] -= 1
            await asyncio.Event().wait()

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        await self._check("create_channel")
        if name in self.taken or any(c.name == name for c in self.channels.values()):
            raise ChannelNameTaken(name)
        ref = ChannelRef(f"C{next(self._ids)}", name)
        self.channels[ref.id] = ref
        self.made.add(ref.id)
        self.topics[ref.id] = topic
        await self._after("create_channel")
        return ref

    async def own_channel(
        self, names: Sequence[str], marker: str, near: ChannelRef | None = None
    ) -> ChannelRef | None:
        await self._check("own_channel")
        ours = {c.name: c for c in self.channels.values() if c.id in self.made}
        return next((ours[n] for n in names if n in ours), None)

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        await self._check("find_channel")
        for ref in self.channels.values():
            if name in (ref.name, ref.id):
                return ref
        ref = self.channels[name] = ChannelRef(name, name)
        return ref

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        await self._check("invite")
        self.members.setdefault(channel.id, set()).update(user_ids)

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        await self._check("set_topic")
        self.topics[channel.id] = topic

    async def post_card(self, channel: ChannelRef, card: Card) -> MessageRef:
        await self._check("post_card")
        posted = Posted(channel.id, str(next(self._ids)), card=card, at=self._now())
        self.messages.append(posted)
        await self._after("post_card")
        return MessageRef(channel.id, posted.message_id)

    async def pin(self, message: MessageRef) -> None:
        await self._check("pin")
        self.message(message.id).pinned = True

    async def update_card(self, message: MessageRef, card: Card) -> None:
        await self._check("update_card")
        posted = self.message(message.id)
        posted.card = card
        posted.edits.append(card)

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        await self._check("post_message")
        posted = Posted(channel.id, str(next(self._ids)), text=text, at=self._now())
        self.messages.append(posted)
        await self._after("post_message")
        return MessageRef(channel.id, posted.message_id)

    async def recent_posts(self, channel: ChannelRef, since: datetime) -> list[Post]:
        await self._check("recent_posts")
        return [
            Post(MessageRef(m.channel_id, m.message_id), m.card.title if m.card else m.text)
            for m in self.messages
            if m.channel_id == channel.id and (m.at is None or m.at >= since)
        ]

    def _now(self) -> datetime | None:
        return self.clock.now() if self.clock is not None else None

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        await self._check("post_dm")
        self.dms.append((user_id, text))
        return MessageRef(f"D{user_id}", str(next(self._ids)))

    async def open_dm(self, user_id: str) -> ChannelRef:
        await self._check("open_dm")
        return self.channels.setdefault(f"D{user_id}", ChannelRef(f"D{user_id}", f"@{user_id}"))

    def pages(self, user_id: str) -> list[Posted]:
        """The cards posted in the direct messages with ``user_id``: their pages."""
        return self.cards(f"D{user_id}")

    async def answer(self, reply_to: str, text: str, *, public: bool) -> None:
        await self._check("answer")
        self.answers.append((reply_to, text, public))

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None:
        await self._check("upload_file")
        self.files.append((channel.id, filename, content))
        self.messages.append(Posted(channel.id, str(next(self._ids)), text=comment, at=self._now()))

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
