"""Channel capture: human messages, edits, deletions, pins and arrivals in an incident's
channel go onto its timeline with their original time and author.

Edits are kept (each as its own event, the message marked edited); a deletion marks the
message and blanks its text and its edits' texts, since what people delete is often what
should not have been posted. Capturing is idempotent: a platform that delivers an event
twice records it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import DBAPIError

from bot.commands.values import clean
from bot.identity import Person
from bot.inbound import ChannelEvent
from bot.timeline import record
from bot.wiring import Wiring
from storage.errors import UNAVAILABLE
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
    """Channel events for a platform that never sends one again (Discord's gateway): one
    that arrives while the database does not answer is held in memory, and stored when it
    answers again, in the order they came, each once (capture is idempotent, so an event
    whose first try committed unseen is not recorded twice). At most ``limit`` are held;
    what comes beyond that is dropped and counted in ``dropped``."""

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
        self._lock = asyncio.Lock()
        self._retrier: asyncio.Task[None] | None = None

    @property
    def held(self) -> int:
        return len(self._held)

    async def put(self, event: ChannelEvent) -> None:
        """Store ``event`` now, after any held before it (it never overtakes them), or
        hold it if the database does not answer. Never raises."""
        async with self._lock:
            if self._held:
                await self._drain()
            if not self._held:
                try:
                    await self._try(event)
                    return
                except Exception as exc:
                    if not _unavailable(exc):
                        log.exception(
                            "could not capture a %s event from %s", event.kind, event.platform
                        )
                        return
                    log.warning(
                        "the database does not answer (%s): holding %s events until it does",
                        type(exc).__name__,
                        event.platform,
                    )
            self._hold(event)

    async def close(self) -> None:
        """Stop retrying (shutdown); what is still held is lost, and said so."""
        if self._retrier is not None:
            self._retrier.cancel()
            await asyncio.gather(self._retrier, return_exceptions=True)
        if self._held:
            log.warning("stopping with %d channel events not stored", len(self._held))

    async def _try(self, event: ChannelEvent) -> None:
        async with asyncio.timeout(self.wait):
            await self._store(event)

    def _hold(self, event: ChannelEvent) -> None:
        if len(self._held) >= self.limit:
            if not self._dropping:
                log.warning("%d channel events held already: dropping more", len(self._held))
            self._dropping = True
            self.dropped += 1
            return
        self._held.append(event)
        if self._retrier is None or self._retrier.done():
            self._retrier = asyncio.create_task(self._retry())

    async def _drain(self) -> bool:
        """Store the held events in order until the database fails again (the lock held);
        whether any was stored."""
        stored = 0
        while self._held:
            event = self._held[0]
            try:
                await self._try(event)
            except Exception as exc:
                if _unavailable(exc):
                    break
                log.exception(
                    "could not capture a held %s event from %s", event.kind, event.platform
                )
            self._held.popleft()
            stored += 1
        if stored:
            log.info("the database answers again: %d held channel events done", stored)
        if not self._held:
            self._dropping = False
            retrier, self._retrier = self._retrier, None
            if retrier is not None and retrier is not asyncio.current_task():
                retrier.cancel()  # it waits for its next try: nothing left for it
        return bool(stored)

    async def _retry(self) -> None:
        """Try the held events again, waiting longer each time the database still does
        not answer, while nothing new comes to try them sooner."""
        delay = self.retry_after
        while self._held:
            await asyncio.sleep(delay)
            async with self._lock:
                stored = await self._drain()
            delay = self.retry_after if stored else min(delay * 2, self.retry_most)


def _unavailable(exc: Exception) -> bool:
    """Whether ``exc`` says the database did not answer (hold the event for later: no
    connection, a timeout, a server shutting down or starting up), not that it refused
    this event: a value it cannot store, a constraint, a missing table (SQLSTATE classes
    22, 23, 42), which would be refused again and hold up every event after it."""
    if not isinstance(exc, UNAVAILABLE):
        return False
    state = getattr(exc.orig, "sqlstate", None) if isinstance(exc, DBAPIError) else None
    return str(state or "")[:2] not in ("22", "23", "42")
