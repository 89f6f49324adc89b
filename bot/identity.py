"""People: a key in the config (``alice``) mapped to platform ids, so schedules and policies
do not depend on a platform. Someone the config does not know is ``<platform>:<user id>``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.commands.values import clean
from bot.config import TocsinConfig
from bot.platform import ChannelRef, UserRef

LOCAL_PLATFORM = "console"
"""The local shell: its user ids are person keys already."""


@dataclass(frozen=True)
class Person:
    key: str
    name: str


@dataclass(frozen=True)
class Actor:
    """Who is doing something, from where (a platform's name, or ``cli``), and how to
    answer them once effects have run (the request's ``reply_to``)."""

    platform: str
    person: Person
    channel: ChannelRef | None = None
    user_id: str | None = None
    reply_to: str | None = None

    def payload(self) -> dict[str, Any]:
        """How jobs keep it, to tell this person what happened."""
        return {
            "key": self.person.key,
            "name": self.person.name,
            "platform": self.platform,
            "user_id": self.user_id,
            "reply_to": self.reply_to,
        }


class Directory:
    def __init__(self, config: TocsinConfig) -> None:
        self._config = config
        self._by_platform_id: dict[tuple[str, str], str] = {}
        for key, person in config.people.items():
            for platform, user_id in person.ids.items():
                if user_id:
                    self._by_platform_id[(platform, user_id)] = key

    def person(self, platform: str, user: UserRef) -> Person:
        """Who ``user`` of ``platform`` is."""
        if platform == LOCAL_PLATFORM:
            key = user.id
        else:
            key = self._by_platform_id.get((platform, user.id), f"{platform}:{user.id}")
        configured = self._config.people.get(key)
        # A display name is user text like any other: no control characters.
        name = configured.name if configured else clean(user.name, multiline=False)
        return Person(key=key, name=name)

    def known(self, key: str) -> Person | None:
        configured = self._config.people.get(key)
        return Person(key, configured.name) if configured else None

    def platform_id(self, key: str, platform: str) -> str | None:
        """``key``'s user id on ``platform``, if they have one there."""
        configured = self._config.people.get(key)
        if configured is not None:
            return key if platform == LOCAL_PLATFORM else configured.ids.get(platform)
        if platform == LOCAL_PLATFORM:
            return None if ":" in key else key
        prefix = f"{platform}:"
        return key[len(prefix) :] if key.startswith(prefix) else None
