"""Writing jobs with the facts that cause them (ARCHITECTURE.md, "Facts, then effects").

A change adds its job rows to its own transaction through :class:`JobWriter`, and hands
them over after the commit. When this process's worker can run a row now, the row is
written already running under the worker's lease, so it runs at once with no claim;
otherwise it is written pending, for whichever process runs that platform (a CLI that
declares an incident writes pending rows for a running ``tocsin run``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from storage import jobs
from storage.models import Job

OPEN = "incident.open"
SYNC = "incident.sync"
EXPORT = "incident.export"
REMIND = "incident.remind"
PAGE = "incident.page"
"""One step of an escalation: page a level (or say that nobody acknowledged)."""
PAGE_SEND = "page.send"
"""Send the pages a step made, on one platform."""
PAGE_UPDATE = "page.update"
"""Redraw the pages already sent (acknowledged by…, resolved), on one platform."""
ACK_TIMEOUT = "incident.ack_timeout"
"""Acknowledged but unresolved too long: page again from level 1."""


def subject(number: int) -> str:
    return f"incident:{number}"


class Taker(Protocol):
    """Who runs the rows handed over: the worker."""

    def accept(self, rows: Sequence[Job], hint: object | None) -> None: ...


class JobWriter:
    def __init__(
        self, clock: Clock, owner: str, lease: timedelta, platforms: Mapping[str, object]
    ) -> None:
        self.clock = clock
        self.owner = owner
        self.lease = lease
        self._platforms = platforms
        self.taker: Taker | None = None
        """The worker of this process, while it takes jobs (none: rows are only written)."""

    def row(
        self,
        kind: str,
        about: str,
        *,
        platform: str | None,
        payload: dict[str, Any] | None = None,
        step: int = 0,
        due_at: datetime | None = None,
    ) -> Job:
        """A new row, to add to the caller's transaction."""
        now = self.clock.now()
        here = self.taker is not None and (platform is None or platform in self._platforms)
        owned = here and (due_at is None or due_at <= now)
        return jobs.make(
            kind,
            about,
            now=now,
            due_at=due_at,
            step=step,
            payload=payload,
            platform=platform,
            owner=self.owner if owned else None,
            lease=self.lease,
        )

    def submit(self, rows: Sequence[Job], hint: object | None = None) -> None:
        """After the commit: the worker runs what it owns, and keeps the time of the rest.
        ``hint`` is what the change left in memory (a view), to spare a re-read."""
        if rows and self.taker is not None:
            self.taker.accept(rows, hint)
