"""What the core asks of a chat platform (:class:`ChatPlatform`), and the references it gets.

Every adapter implements this protocol; the core never imports an adapter or an SDK. An
adapter that cannot do something raises :class:`bot.errors.Unsupported`.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class ChatPlatform(Protocol):
    """One chat platform, as the core uses it."""

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
        """Create a channel; raise :class:`bot.errors.ChannelNameTaken` if the name is used.

        ``near`` is the channel the request came from: a platform hosting several spaces
        (Discord's servers) creates the channel in that one."""
        ...

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        """The channel configured by name or id (e.g. the announce channel), in the same
        space as ``near`` when the platform has several."""
        ...

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None: ...

    async def set_topic(self, channel: ChannelRef, topic: str) -> None: ...

    async def post_card(
        self, channel: ChannelRef, card: Card, *, pin: bool = False
    ) -> MessageRef: ...

    async def update_card(self, message: MessageRef, card: Card) -> None: ...

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef: ...

    async def post_dm(self, user_id: str, text: str) -> MessageRef: ...

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None: ...

    async def archive_channel(self, channel: ChannelRef) -> None: ...

    async def resolve_user(self, user_id: str) -> UserRef: ...

    def parse_mention(self, token: str) -> str | None:
        """The user id a mention token names on this platform (``@bob``, ``<@U1>``), or None."""
        ...
