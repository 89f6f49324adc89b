"""When an incident's status-update reminder falls due, as job rows written with the change
that sets or moves it (the declare, a severity change, a reopen). The worker's ``Remind``
effect (:mod:`bot.effects`) posts it and sets the next one."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.jobs import REMIND, subject
from bot.wiring import Wiring
from storage import jobs
from storage.models import Incident, Job
from storage.repo import Store


def first(w: Wiring, incident: Incident, now: datetime) -> list[Job]:
    """The reminder of a new incident: none when its severity expects no updates."""
    every = w.config.severity(incident.severity).update_every
    if every is None or incident.id is None:
        return []
    return [_row(w, incident, incident.version, next_due(incident, every, now))]


async def follow(w: Wiring, store: Store, incident: Incident, now: datetime) -> list[Job]:
    """A new severity (or a reopen) may expect updates at another pace, or none: the
    reminder moves, is cancelled, or is written (``[]`` when an existing row moved)."""
    assert incident.id is not None
    every = w.config.severity(incident.severity).update_every
    about = subject(incident.id)
    if every is None:
        await jobs.cancel(store.session, subject=about, kinds=[REMIND])
        return []
    due = next_due(incident, every, now)
    if await jobs.move(store.session, subject=about, kind=REMIND, due_at=due):
        return []
    return [_row(w, incident, incident.version + 1, due)]


def next_due(incident: Incident, every: timedelta, now: datetime) -> datetime:
    """``every`` after the last status update (or the declare), and not before now (a
    severity that starts expecting updates reminds at once, not late)."""
    return max(now, (incident.last_update_at or incident.declared_at) + every)


def _row(w: Wiring, incident: Incident, step: int, due: datetime) -> Job:
    assert incident.id is not None
    return w.jobs.row(
        REMIND, subject(incident.id), platform=incident.platform, step=step, due_at=due
    )
