"""Channel capture: human messages, edits, deletions, pins and arrivals in an incident's
channel go onto its timeline with their original time and author.

Edits are kept (each as its own event, the message marked edited); a deletion marks the
message and blanks its text and its edits' texts, since what people delete is often what
should not have been posted. Capturing is idempotent: a platform that delivers an event
twice records it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from bot.commands.values import clean
from bot.identity import Person
from bot.inbound import ChannelEvent
from bot.timeline import record
from bot.wiring import Wiring
from storage.engine import reason
from storage.errors import refused, unavailable
from storage.models import Incident, TimelineEvent
from storage.repo import Store

log = logging.getLogger(__name__)
TEXT_LIMIT = 4000


class ChannelCapture:
    def __init__(self, wiring: Wiring) -> None:
        self._w = wiring

    async def capture(self, event: ChannelEvent) -> bool:
        """Record ``event``; ``False`` when its channel is not an incident's, or it was
        recorded already."""
        async with self._w.sessions() as session, session.begin():
            store = Store(session)
            binding = await store.binding_for_channel(event.platform, event.channel_id)
            if binding is None:
                return False
            # The incident's row held: two copies of one event (a platform's retry racing
            # the first) see each other, one after the other, on PostgreSQL too.
            incident = await store.incident(binding.incident_id, lock=True)
            assert incident is not None
            who = self._w.directory.person(event.platform, event.actor)
            earlier = await store.message_events(event.platform, event.message_id)
            return await self._apply(store, incident, who, event, earlier)

    async def _apply(
        self,
        store: Store,
        incident: Incident,
        who: Person,
        event: ChannelEvent,
        earlier: list[TimelineEvent],
    ) -> bool:
        original = next((e for e in earlier if e.kind == "message"), None)
        text = clean(event.text)[:TEXT_LIMIT]
        if event.kind in ("message", "joined"):
            if any(e.kind == event.kind for e in earlier):
                return False
            added = record(store, incident, who, event.kind, event.at, "", text)
        elif event.kind == "edit":
            if original is None or original.deleted_at is not None:
                return False
            if any(e.kind == "edit" and e.at == event.at for e in earlier):
                return False
            original.edited_at = event.at
            store.save(original)
            added = record(store, incident, who, "edit", event.at, "", text)
        elif event.kind == "pin":
            if any(e.kind == "pin" for e in earlier):
                return False
            pinned = text or (original.text if original else "")
            added = record(store, incident, who, "pin", event.at, "", pinned)
        else:  # delete
            if original is None or original.deleted_at is not None:
                return False
            original.deleted_at = event.at
            for e in earlier:
                e.text = ""
                store.save(e)
            return True
        added.platform, added.message_id = event.platform, event.message_id
        store.save(added)
        return True


class HeldEvents:
    """Channel events for a platform that never sends one again (Discord's gateway), stored
    in the order they came by one writer, so that whoever hands them in never waits for
    the database: :meth:`put` only queues. While the database does not answer, what is
    queued is held in memory and tried again later, in order, each once (capture is
    idempotent, so an event whose first try committed unseen is not recorded twice). At
    most ``limit`` are held; what comes beyond that is dropped and counted in
    ``dropped``. An event the database refuses is logged and skipped: it would be refused
    again, and hold up every event after it."""

    def __init__(
        self,
        store: Callable[[ChannelEvent], Awaitable[bool]],
        *,
        limit: int = 1000,
        wait: float = 10.0,
        retry_after: float = 1.0,
        retry_most: float = 30.0,
    ) -> None:
        self._store = store
        self.limit, self.wait = limit, wait
        self.retry_after, self.retry_most = retry_after, retry_most
        self.dropped = 0
        self._dropping = False
        self._held: deque[ChannelEvent] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._quiet = asyncio.Event()
        """Set while the writer is not trying an event: nothing queued, or waiting to
        try the held ones again."""
        self._quiet.set()

    @property
    def held(self) -> int:
        """Events handed in and not yet stored (all of them held while the database does
        not answer)."""
        return len(self._held)

    def put(self, event: ChannelEvent) -> None:
        """Queue ``event`` after those before it, for the writer to store; drop it (and
        count it) when ``limit`` are held already. Returns at once, never raises."""
        if len(self._held) >= self.limit:
            if not self._dropping:
                log.warning("%d channel events held already: dropping more", len(self._held))
            self._dropping = True
            self.dropped += 1
            return
        self._held.append(event)
        if self._writer is None or self._writer.done():
            self._quiet.clear()
            self._writer = asyncio.create_task(self._write())

    async def settled(self) -> None:
        """Wait until every event handed in so far is stored, skipped, or held waiting for
        the database (tests; shutdown)."""
        while not self._quiet.is_set():
            await self._quiet.wait()

    async def close(self, grace: float = 5.0) -> None:
        """Stop storing (shutdown), once what was handed in is stored (``grace`` seconds
        at most) or waits for the database; what is still held is lost, and said so."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.settled()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        self._quiet.set()
        if self._held:
            log.warning("stopping with %d channel events not stored", len(self._held))

    async def _write(self) -> None:
        """Store the queued events in order. When the database does not answer, wait and
        try the oldest again, longer each time it still does not (``retry_after`` doubling
        up to ``retry_most``); each try is given up after ``wait`` seconds."""
        delay, failing, stored = self.retry_after, False, 0
        try:
            while self._held:
                event = self._held[0]
                try:
                    async with asyncio.timeout(self.wait):
                        await self._store(event)
                except Exception as exc:
                    if unavailable(exc):
                        if not failing:
                            log.warning(
                                "the database does not answer (%s): holding %s events "
                                "until it does",
                                reason(exc),
                                event.platform,
                            )
                        failing, stored = True, 0
                        self._quiet.set()
                        await asyncio.sleep(delay)
                        self._quiet.clear()
                        delay = min(delay * 2, self.retry_most)
                        continue
                    _not_stored(event, exc)
                self._held.popleft()
                delay = self.retry_after
                stored += 1
                if len(self._held) < self.limit:
                    self._dropping = False
            if failing:
                log.info("the database answers again: %d held channel events done", stored)
        finally:
            self._quiet.set()


def _not_stored(event: ChannelEvent, exc: Exception) -> None:
    """An event that will never be stored: the database refused it, or a bug."""
    if refused(exc):
        log.error(
            "the database refused a %s event from %s, which is not recorded: %s",
            event.kind,
            event.platform,
            reason(exc),
        )
    else:
        log.error("could not capture a %s event from %s", event.kind, event.platform, exc_info=exc)
