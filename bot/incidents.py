"""The incident service: every change to an incident goes through here, as facts.

A change is one transaction: it locks the incident's row (and, within a process, takes an
asyncio lock per incident, since SQLite has no row locks), checks and moves the incident,
appends to the timeline, and writes the effects it causes as job rows (refresh the card,
set the topic, post the update). The worker runs those after the commit; nothing here
calls a chat platform.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.commands.values import shown
from bot.errors import UserError
from bot.identity import Actor, Person
from bot.jobs import EXPORT, OPEN, REMIND, SYNC, subject
from bot.lifecycle import OPEN as OPEN_STATUSES
from bot.lifecycle import Status, check_open, move
from bot.platform import ChannelRef
from bot.timeline import record
from bot.views import IncidentView
from bot.wiring import Wiring
from storage import jobs
from storage.models import Incident, Job, RoleAssignment, Task
from storage.repo import Store


@dataclass
class Effects:
    """What a change makes the worker do: redraw the card, set the topic, post an update
    (its kind and text), and anything else the change wrote (``rows``)."""

    card: bool = True
    post: tuple[str, str] | None = None
    rows: list[Job] = field(default_factory=list)


saved: ContextVar[bool] = ContextVar("saved", default=False)
"""Set once a request's facts are committed: an error after that must not say "try again"."""

Change = Callable[[Store, Incident, datetime, Effects], Awaitable[None]]


class IncidentService:
    def __init__(self, wiring: Wiring) -> None:
        self._w = wiring
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    # reading

    async def incident_in(self, platform: str, channel_id: str) -> int | None:
        return await self._w.views.incident_in(platform, channel_id)

    async def incidents(self, scope: str, limit: int = 25) -> list[Incident]:
        statuses = [s.value for s in OPEN_STATUSES] if scope == "open" else None
        async with self._w.sessions() as session:
            return await Store(session).incidents(statuses=statuses, limit=limit)

    async def counts(self) -> list[tuple[int, str, int]]:
        async with self._w.sessions() as session:
            return await Store(session).count_by()

    # opening

    async def declare(
        self,
        actor: Actor,
        *,
        title: str,
        severity: int | None,
        service: str | None,
        description: str,
        platform: str,
    ) -> IncidentView:
        """Write a new incident and the job that opens its channel on ``platform``: the
        channel, invitations, card, pin and announcement, and the answer to ``actor``."""
        level = severity or self._w.config.default_level
        service = self._check_service(service)
        commander = self._commander(actor.person)
        now = self._w.clock.now()
        async with self._w.sessions() as session, session.begin():
            store = Store(session)
            incident = await store.add_incident(
                Incident(
                    title=title,
                    description=description,
                    severity=level,
                    service=service,
                    status=Status.TRIGGERED.value,
                    commander_key=commander.key,
                    commander_name=commander.name,
                    declared_by_key=actor.person.key,
                    declared_by_name=actor.person.name,
                    declared_on=actor.platform,
                    platform=platform,
                    declared_at=now,
                    updated_at=now,
                    last_update_at=now,
                    version=1,
                )
            )
            assert incident.id is not None
            store.save(
                RoleAssignment(
                    incident_id=incident.id,
                    role="commander",
                    person_key=commander.key,
                    person_name=commander.name,
                    assigned_at=now,
                )
            )
            record(store, incident, actor.person, "declared", now, f"SEV{level}", title)
            near = actor.channel
            rows = [
                self._w.jobs.row(
                    OPEN,
                    subject(incident.id),
                    platform=platform,
                    payload={
                        "actor": actor.payload(),
                        "near": {"id": near.id, "name": near.name} if near else None,
                        "commander": commander.key,
                        "version": incident.version,
                    },
                )
            ]
            rows += self._reminder(incident, now)
            store.save(*rows)
        saved.set(True)
        view = self._w.views.of(incident)
        self._w.jobs.submit(rows, view)
        return view

    def _reminder(self, incident: Incident, now: datetime) -> list[Job]:
        every = self._w.config.severity(incident.severity).update_every
        if every is None or incident.id is None:
            return []
        return [
            self._w.jobs.row(
                REMIND,
                subject(incident.id),
                platform=incident.platform,
                step=incident.version,
                due_at=_next_reminder(incident, every, now),
            )
        ]

    def _check_service(self, service: str | None) -> str | None:
        if service is None or not self._w.config.services:
            return service
        if service not in self._w.config.services:
            known = ", ".join(self._w.config.services)
            raise UserError(f"there is no service '{shown(service)}'; the services are: {known}.")
        return service

    def _commander(self, declarer: Person) -> Person:
        key = self._w.config.incident.commander
        if key == "declarer":
            return declarer
        person = self._w.directory.known(key)
        assert person is not None, "config validation guarantees the commander exists"
        return person

    # changing

    @asynccontextmanager
    async def _locked(self, number: int) -> AsyncIterator[None]:
        lock = self._locks.get(number)
        if lock is None:
            lock = self._locks[number] = asyncio.Lock()
        async with lock:
            yield

    async def change(self, number: int, actor: Actor, change: Change) -> IncidentView:
        """Run ``change`` on INC-``number`` in one transaction, with the effects it asks
        for written as one job; a change that alters nothing shown writes none."""
        async with self._locked(number), self._w.sessions() as session, session.begin():
            store = Store(session)
            incident, bindings = await store.incident_and_bindings(number, lock=True)
            if incident is None:
                raise UserError(f"there is no incident INC-{number}.")
            before = self._w.presenter.topic_text(incident)
            effects = Effects()
            await change(store, incident, self._w.clock.now(), effects)
            rows = list(effects.rows)
            if effects.card or effects.post:
                incident.version += 1
                store.save(incident)
                payload: dict[str, Any] = {"actor": actor.payload(), "version": incident.version}
                if self._w.presenter.topic_text(incident) != before:
                    payload["topic"] = True
                if effects.post is not None:
                    kind, text = effects.post
                    payload["post"] = {
                        "kind": kind,
                        "text": text,
                        "author": {"key": actor.person.key, "name": actor.person.name},
                        "status": incident.status,
                        "severity": incident.severity,
                    }
                rows.append(
                    self._w.jobs.row(
                        SYNC,
                        subject(number),
                        platform=incident.platform,
                        step=incident.version,
                        payload=payload,
                    )
                )
            store.save(*rows)
        saved.set(True)
        view = self._w.views.of(incident, bindings)
        self._w.jobs.submit(rows, view)
        return view

    # the changes themselves: each checks, moves, and writes its timeline event

    async def acknowledge(self, number: int, actor: Actor) -> IncidentView:
        async def ack(store: Store, incident: Incident, now: datetime, _e: Effects) -> None:
            when = move(incident, Status.ACKNOWLEDGED, now)
            incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
            record(store, incident, actor.person, "acknowledged", when)

        return await self.change(number, actor, ack)

    async def set_status(
        self, number: int, actor: Actor, status: Status, text: str
    ) -> IncidentView:
        async def set_it(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            was_unowned = incident.acknowledged_at is None
            when = move(incident, status, now)
            if was_unowned:
                incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
                record(store, incident, actor.person, "acknowledged", when)
            record(store, incident, actor.person, "status", when, status.value, text)
            _updated(incident, actor.person, when, text or status.value)
            e.post = ("status", text)

        return await self.change(number, actor, set_it)

    async def update(self, number: int, actor: Actor, text: str) -> IncidentView:
        async def note_update(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            check_open(incident, "post an update")
            if Status(incident.status) == Status.RESOLVED:
                raise UserError(f"INC-{incident.id} is resolved; add a note instead.")
            when = _at(incident, now)
            record(store, incident, actor.person, "update", when, incident.status, text)
            _updated(incident, actor.person, when, text)
            e.post = ("update", text)

        return await self.change(number, actor, note_update)

    async def set_severity(self, number: int, actor: Actor, level: int) -> IncidentView:
        async def sev(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            check_open(incident, "change the severity")
            if incident.severity == level:
                raise UserError(f"INC-{incident.id} is SEV{level} already.")
            detail = f"SEV{incident.severity} → SEV{level}"
            incident.severity = level
            incident.updated_at = _at(incident, now)
            record(store, incident, actor.person, "severity", incident.updated_at, detail)
            e.rows += await self._reminder_follows(store, incident, now)

        return await self.change(number, actor, sev)

    async def _reminder_follows(self, store: Store, incident: Incident, now: datetime) -> list[Job]:
        """A new severity may expect updates at another pace, or none: the reminder moves."""
        assert incident.id is not None
        every = self._w.config.severity(incident.severity).update_every
        about = subject(incident.id)
        if every is None:
            await jobs.cancel(store.session, subject=about, kinds=[REMIND])
            return []
        due = _next_reminder(incident, every, now)
        if await jobs.move(store.session, subject=about, kind=REMIND, due_at=due):
            return []
        return [
            self._w.jobs.row(
                REMIND, about, platform=incident.platform, step=incident.version + 1, due_at=due
            )
        ]

    async def assign(self, number: int, actor: Actor, role: str, person: Person) -> IncidentView:
        async def give(store: Store, incident: Incident, now: datetime, _e: Effects) -> None:
            check_open(incident, "assign roles")
            assert incident.id is not None
            when = _at(incident, now)
            previous = await store.assign(incident.id, role, person.key, person.name, when)
            if previous is not None and previous.person_key == person.key:
                raise UserError(f"{person.name} is the {role} of INC-{incident.id} already.")
            if role == "commander":
                incident.commander_key, incident.commander_name = person.key, person.name
            incident.updated_at = when
            record(store, incident, actor.person, "role", when, role, person.name)

        return await self.change(number, actor, give)

    async def note(self, number: int, actor: Actor, text: str) -> IncidentView:
        async def add(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            record(store, incident, actor.person, "note", _at(incident, now), "", text)
            e.card = False  # nothing a card or topic shows

        return await self.change(number, actor, add)

    async def add_task(
        self, number: int, actor: Actor, text: str, owner: Person | None
    ) -> tuple[IncidentView, Task]:
        added: list[Task] = []

        async def add(store: Store, incident: Incident, now: datetime, _e: Effects) -> None:
            check_open(incident, "add tasks")
            assert incident.id is not None
            when = _at(incident, now)
            task = await store.add_task(
                Task(
                    incident_id=incident.id,
                    number=0,
                    text=text,
                    owner_key=owner.key if owner else None,
                    owner_name=owner.name if owner else None,
                    created_by_name=actor.person.name,
                    created_at=when,
                )
            )
            incident.open_tasks += 1
            record(store, incident, actor.person, "task_added", when, str(task.number), text)
            added.append(task)

        view = await self.change(number, actor, add)
        return view, added[0]

    async def complete_task(self, number: int, actor: Actor, task_number: int) -> IncidentView:
        async def done(store: Store, incident: Incident, now: datetime, _e: Effects) -> None:
            check_open(incident, "change tasks")
            assert incident.id is not None
            task = await store.task(incident.id, task_number)
            if task is None:
                raise UserError(f"INC-{incident.id} has no task {task_number}.")
            if task.done_at is not None:
                raise UserError(f"task {task_number} is done already.")
            when = _at(incident, now)
            task.done_at, task.done_by_name = when, actor.person.name
            incident.open_tasks = max(0, incident.open_tasks - 1)
            store.save(task)
            record(store, incident, actor.person, "task_done", when, str(task_number), task.text)

        return await self.change(number, actor, done)

    async def end(self, number: int, actor: Actor, status: Status, text: str) -> IncidentView:
        """Resolve, close or cancel; pending reminders of the incident stop."""

        async def finish(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            when = move(incident, status, now)
            if status == Status.RESOLVED:
                incident.summary = text
            elif status == Status.CANCELLED:
                incident.cancel_reason = text
            record(store, incident, actor.person, status.value, when, "", text)
            await jobs.cancel(store.session, subject=subject(number), kinds=[REMIND])
            if status != Status.CLOSED:
                e.post = (status.value, text)

        return await self.change(number, actor, finish)

    async def export(
        self, number: int, actor: Actor, channel: ChannelRef, fmt: str
    ) -> tuple[IncidentView, str]:
        """Write the job that attaches the timeline document to ``channel``."""
        view = await self._w.views.summary(number)
        filename = f"{view.ref.lower()}-timeline.{fmt}"
        row = self._w.jobs.row(
            EXPORT,
            subject(number),
            platform=actor.platform,
            step=uuid.uuid4().int % 2**31,
            payload={
                "actor": actor.payload(),
                "channel": {"id": channel.id, "name": channel.name},
                "format": fmt,
                "filename": filename,
            },
        )
        async with self._w.sessions() as session, session.begin():
            session.add(row)
        saved.set(True)
        self._w.jobs.submit([row], view)
        return view, filename


def _next_reminder(incident: Incident, every: timedelta, now: datetime) -> datetime:
    """When a reminder falls due: ``every`` after the last status update (or the declare),
    and not before now (a severity that starts expecting updates reminds at once, not late)."""
    return max(now, (incident.last_update_at or incident.declared_at) + every)


def _at(incident: Incident, now: datetime) -> datetime:
    """Event time: never before the incident's last change (see lifecycle.move)."""
    return max(now, incident.updated_at)


def _updated(incident: Incident, who: Person, when: datetime, text: str) -> None:
    """Keep the latest status update on the incident: the card shows it, reminders count
    from it."""
    incident.last_update_at, incident.last_update_by = when, who.name
    incident.last_update_text = text
