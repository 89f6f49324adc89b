"""Has this request been taken already? For platform requests that must run once however
often they arrive: a Slack command replayed by whoever captured it, or resent by a proxy
to another replica. The keys live in the database (``seen_requests``), so every replica
sees them; they are kept :data:`KEEP`, longer than a signed request stays valid."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.clock import Clock
from storage import seen
from storage.engine import SessionFactory, reason
from storage.errors import UNAVAILABLE

log = logging.getLogger(__name__)

KEEP = timedelta(minutes=15)
"""Slack refuses a request whose timestamp is more than 5 minutes off, either way: a key
kept 15 minutes outlives every copy of its request that could still be accepted."""


class Seen:
    def __init__(self, sessions: SessionFactory, clock: Clock, keep: timedelta = KEEP) -> None:
        self._sessions = sessions
        self._clock = clock
        self._keep = keep

    async def first(self, key: str) -> bool:
        """Whether ``key`` is new (and now recorded). When the database cannot say, the
        request is taken as new: what it asks will meet the same database and say so."""
        now = self._clock.now()
        try:
            return await seen.first_sighting(self._sessions, key, now, now - self._keep)
        except UNAVAILABLE as exc:
            log.warning("could not check whether a request was seen before: %s", reason(exc))
            return True

    async def forget(self, key: str) -> None:
        """Take ``key`` back: its request failed (the platform was unreachable, a bug) and was
        not carried out, so the copy its sender sends again is run, not refused as a replay."""
        try:
            await seen.forget(self._sessions, key)
        except UNAVAILABLE as exc:
            log.warning("could not take back a failed request's key: %s", reason(exc))
