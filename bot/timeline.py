"""Writing the timeline: every change adds an event with its author and time."""

from __future__ import annotations

from datetime import datetime

from bot.identity import Person
from storage.models import Incident, TimelineEvent
from storage.repo import Store


def record(
    store: Store,
    incident: Incident,
    who: Person,
    kind: str,
    at: datetime,
    detail: str = "",
    text: str = "",
) -> TimelineEvent:
    """Append an event; ``detail`` is kind-specific (a status, a role…), ``text`` is what
    the person wrote."""
    assert incident.id is not None, "an incident is saved before its timeline"
    return store.add_event(
        TimelineEvent(
            incident_id=incident.id,
            at=at,
            kind=kind,
            detail=detail[:200],
            actor_key=who.key,
            actor_name=who.name,
            text=text,
        )
    )
