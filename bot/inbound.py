"""What adapters hand the core: a typed :class:`Command` or a clicked/submitted :class:`Action`."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.platform import ChannelRef, UserRef


@dataclass(frozen=True)
class Command:
    """``/<root> <text>`` typed by ``actor`` in ``channel`` of ``platform``."""

    platform: str
    actor: UserRef
    channel: ChannelRef
    text: str
    root: str = "incident"


@dataclass(frozen=True)
class Action:
    """A button click (``values`` empty) or a form submission (``values`` by field name)."""

    platform: str
    actor: UserRef
    channel: ChannelRef
    name: str
    incident_id: int | None = None
    values: dict[str, str] = field(default_factory=dict)
