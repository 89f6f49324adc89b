"""Channel capture: human messages, edits, deletions, pins and arrivals in an incident's
channel go onto its timeline with their original time and author.

Edits are kept (each as its own event, the message marked edited); a deletion marks the
message and blanks its text and its edits' texts, since what people delete is often what
should not have been posted. Capturing is idempotent: a platform that delivers an event
twice records it once.
"""

from __future__ import annotations

from bot.commands.values import clean
from bot.identity import Person
from bot.inbound import ChannelEvent
from bot.timeline import record
from bot.wiring import Wiring
from storage.models import Incident, TimelineEvent
from storage.repo import Store

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
            incident = await store.incident(binding.incident_id)
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
