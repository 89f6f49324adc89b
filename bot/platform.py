"""What the core asks of a chat platform (:class:`ChatPlatform`), and the references it gets.

Every adapter implements this protocol; the core never imports an adapter or an SDK. An
adapter that cannot do something raises :class:`bot.errors.Unsupported`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.ui import Card


@dataclass(frozen=True)
class ChannelRef:
    id: str
    name: str


@dataclass(frozen=True)
class MessageRef:
    channel_id: str
    id: str


@dataclass(frozen=True)
class UserRef:
    """A person as a platform knows them."""

    id: str
    name: str


class Dialect(Protocol):
    """How one platform writes rich text. Templates use these as Jinja2 filters, so one
    template serves Slack mrkdwn, Discord Markdown and plain text."""

    @property
    def name(self) -> str: ...

    def escape(self, text: str) -> str:
        """Make user text inert: no markup, no mass mentions."""
        ...

    def bold(self, text: str) -> str: ...

    def italic(self, text: str) -> str: ...

    def code(self, text: str) -> str: ...

    def link(self, url: str, label: str) -> str: ...

    def mention(self, user_id: str | None, name: str) -> str:
        """Mention a person by platform id, or name them when they have none here."""
        ...

    def channel(self, channel_id: str, name: str) -> str: ...


@dataclass(frozen=True)
class ChannelRules:
    """A platform's rules for channel names."""

    max_length: int
    allowed: str = "abcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass(frozen=True)
class Post:
    """A message the bot posted, as :meth:`ChatPlatform.recent_posts` finds it: its text, or
    for a card its title."""

    ref: MessageRef
    text: str


class ChatPlatform(Protocol):
    """One chat platform, as the core uses it: only what the core calls.

    Every method may raise :class:`bot.errors.PlatformError`: ``retryable`` when the same
    call may work later (a 5xx, a timeout, a lost connection, a rate limit), so the worker
    tries again; otherwise the platform refused for good. A platform that cannot do
    something at all raises :class:`bot.errors.Unsupported`. Effects may be tried twice,
    so the ``own_channel`` and ``recent_posts`` look-ups let a retry find what an earlier
    try made before it makes it again.
    """

    @property
    def name(self) -> str:
        """A short lowercase id: ``slack``, ``discord``, ``console``."""
        ...

    @property
    def dialect(self) -> Dialect: ...

    @property
    def channel_rules(self) -> ChannelRules: ...

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        """Create a channel with this topic; raise :class:`bot.errors.ChannelNameTaken` if
        the name is used.

        ``near`` is the channel the request came from: a platform hosting several spaces
        (Discord's servers) creates the channel in that one."""
        ...

    async def own_channel(
        self, names: Sequence[str], marker: str, near: ChannelRef | None = None
    ) -> ChannelRef | None:
        """The first of ``names`` that is a channel this bot created (its topic starting
        with ``marker`` where the platform cannot say who created a channel), else None."""
        ...

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        """The channel configured by name or id (e.g. the announce channel), in the same
        space as ``near`` when the platform has several."""
        ...

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        """Let these people into the channel; people already in are no error."""
        ...

    async def set_topic(self, channel: ChannelRef, topic: str) -> None: ...

    async def post_card(self, channel: ChannelRef, card: Card) -> MessageRef: ...

    async def pin(self, message: MessageRef) -> None:
        """Pin a message; pinning it again is no error."""
        ...

    async def update_card(self, message: MessageRef, card: Card) -> None: ...

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef: ...

    async def recent_posts(self, channel: ChannelRef, since: datetime) -> list[Post]:
        """What this bot posted in ``channel`` since ``since`` (the latest few dozen)."""
        ...

    async def post_dm(self, user_id: str, text: str) -> MessageRef: ...

    async def open_dm(self, user_id: str) -> ChannelRef:
        """The direct-message channel with this person (opened if need be; opening it
        again is no error): pages are cards posted there (:meth:`post_card`), updated
        (:meth:`update_card`) and looked for by a retry (:meth:`recent_posts`) like any
        channel's. Their buttons must work after a restart, as a card's do."""
        ...

    async def answer(self, reply_to: str, text: str, *, public: bool) -> None:
        """Answer whoever asked, through the address their request came with
        (:attr:`bot.inbound.Command.reply_to`); where the platform can, this replaces the
        interim answer they were shown. Raise :class:`PlatformError` when the address has
        expired, so that the caller can tell them another way."""
        ...

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None: ...

    async def resolve_user(self, user_id: str) -> UserRef: ...

    def parse_mention(self, token: str) -> str | None:
        """The user id a mention token names on this platform (``@bob``, ``<@U1>``), or None."""
        ...
