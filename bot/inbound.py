"""What adapters hand the core: a typed :class:`Command` or a clicked/submitted :class:`Action`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from bot.platform import ChannelRef, UserRef


@dataclass(frozen=True)
class Command:
    """``/<root> <text>`` typed by ``actor`` in ``channel`` of ``platform``.

    A platform with typed options (Discord's app commands) sends ``options`` instead: then
    ``text`` is only the subcommand's path (``task add``) and ``options`` its values by
    name (a person as the platform's mention token, e.g. ``<@80351110224678912>``).

    ``reply_to`` is how to reach whoever typed it once the answer is ready, in the
    platform's own terms (a Slack ``response_url``, a Discord interaction token):
    effects that finish later answer through it (:meth:`ChatPlatform.answer`).
    """

    platform: str
    actor: UserRef
    channel: ChannelRef
    text: str
    root: str = "incident"
    options: dict[str, str] | None = None
    reply_to: str | None = None


@dataclass(frozen=True)
class Action:
    """A button click (``values`` empty) or a form submission (``values`` by field name;
    ``submitted`` says it is one even when it carries no values)."""

    platform: str
    actor: UserRef
    channel: ChannelRef
    name: str
    incident_id: int | None = None
    values: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None
    submitted: bool = False


ChannelEventKind = Literal["message", "edit", "delete", "pin", "joined"]


@dataclass(frozen=True)
class ChannelEvent:
    """Something that happened in a channel, to capture on an incident's timeline.

    ``message_id`` names the message a ``message``, ``edit``, ``delete`` or ``pin`` is
    about; ``at`` is when it happened on the platform (not when it reached Tocsin).
    Adapters do not send the bot's own messages.
    """

    platform: str
    channel_id: str
    kind: ChannelEventKind
    message_id: str
    actor: UserRef
    at: datetime
    text: str = ""
