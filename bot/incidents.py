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
from datetime import datetime
from typing import Any

from bot import names, paging, reminders
from bot.errors import UserError
from bot.identity import Actor, Person
from bot.jobs import EXPORT, OPEN, REMIND, SYNC, subject
from bot.lifecycle import OPEN as OPEN_STATUSES
from bot.lifecycle import Status, check_move, check_open, move, reopen
from bot.platform import ChannelRef
from bot.timeline import record
from bot.views import IncidentView
from bot.wiring import Wiring
from bot.wording import open_tasks, role_title
from storage import jobs
from storage.models import Incident, Job, RoleAssignment, Task
from storage.repo import Store


@dataclass
class Effects:
    """What a change makes the worker do: redraw the card, set the topic, post an update
    (its kind and text), invite people to the incident's channel (``invite``),
    announce a raised severity (``raised``: the severity before, and why), and anything
    else the change wrote (``rows``)."""

    card: bool = True
    post: tuple[str, str] | None = None
    invite: list[Person] = field(default_factory=list)
    raised: tuple[int, str] | None = None
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

    async def listing(self, scope: str, limit: int) -> tuple[list[Incident], int]:
        """The newest ``limit`` incidents of ``scope`` (``open`` or ``all``), and how many
        there are in all, read together."""
        statuses = [s.value for s in OPEN_STATUSES] if scope == "open" else None
        async with self._w.sessions() as session:
            store = Store(session)
            rows = await store.incidents(statuses=statuses, limit=limit)
            return rows, await store.count_incidents(statuses=statuses)

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
            rows += reminders.first(self._w, incident, now)
            rows += paging.on_declare(self._w, incident, now)
            store.save(incident, *rows)
        saved.set(True)
        view = self._w.views.of(incident)
        self._w.jobs.submit(rows, view)
        return view

    def _check_service(self, service: str | None) -> str | None:
        if service is None or not self._w.config.services:
            return service
        return names.configured(service, self._w.config.services, "service")

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
                author = {"key": actor.person.key, "name": actor.person.name}
                if effects.invite:
                    payload["invite"] = [{"key": p.key, "name": p.name} for p in effects.invite]
                if effects.raised is not None:
                    was, reason = effects.raised
                    payload["raised"] = {
                        "was": was,
                        "severity": incident.severity,
                        "reason": reason,
                        "author": author,
                    }
                if effects.post is not None:
                    kind, text = effects.post
                    payload["post"] = {
                        "kind": kind,
                        "text": text,
                        "author": author,
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
        async def ack(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            if incident.paging == paging.ACTIVE and incident.status != Status.TRIGGERED.value:
                check_open(incident, "acknowledge")  # paged again while being worked on
                when = _at(incident, now)
                incident.updated_at = when
            else:
                when = move(incident, Status.ACKNOWLEDGED, now)
            incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
            record(store, incident, actor.person, "acknowledged", when)
            e.rows += await paging.acknowledged(self._w, store, incident, actor.person, when)

        return await self.change(number, actor, ack)

    async def set_status(
        self, number: int, actor: Actor, status: Status, text: str
    ) -> tuple[IncidentView, bool]:
        """Move the status and post the update. The status it has already: with a message,
        that message is posted as an update (``True`` is returned: say so); without one, or
        the same message as the latest update again (a double submit), it is refused."""
        as_update: list[bool] = []

        async def set_it(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            if incident.status == status.value:
                ref = f"INC-{incident.id}"
                if not text:
                    raise UserError(
                        f"{ref} is already {status}. To post an update: "
                        "/incident update <what changed>."
                    )
                if text == incident.last_update_text:
                    raise UserError(f"{ref} is already {status}, and that update is posted.")
                when = _at(incident, now)
                record(store, incident, actor.person, "update", when, incident.status, text)
                _updated(incident, actor.person, when, text)
                e.post = ("update", text)
                as_update.append(True)
                return
            was_unowned = incident.acknowledged_at is None or incident.paging == paging.ACTIVE
            when = move(incident, status, now)
            if was_unowned:  # moving it on acknowledges it: escalation stops
                incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
                record(store, incident, actor.person, "acknowledged", when)
                e.rows += await paging.acknowledged(self._w, store, incident, actor.person, when)
            record(store, incident, actor.person, "status", when, status.value, text)
            _updated(incident, actor.person, when, text or status.value)
            e.post = ("status", text)

        view = await self.change(number, actor, set_it)
        return view, bool(as_update)

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

    async def set_severity(
        self, number: int, actor: Actor, level: int, reason: str = ""
    ) -> IncidentView:
        """A new severity, and why (on the timeline). A raised one (more severe: a lower
        number) is announced in the announce channel too."""

        async def sev(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            check_open(incident, "change the severity")
            if incident.severity == level:
                raise UserError(f"INC-{incident.id} is SEV{level} already.")
            was = incident.severity
            incident.severity = level
            incident.updated_at = _at(incident, now)
            detail = f"SEV{was} → SEV{level}"
            record(store, incident, actor.person, "severity", incident.updated_at, detail, reason)
            if level < was:
                e.raised = (was, reason)
            e.rows += await reminders.follow(self._w, store, incident, now)
            e.rows += paging.on_severity(self._w, incident, now)

        return await self.change(number, actor, sev)

    async def assign(self, number: int, actor: Actor, role: str, person: Person) -> IncidentView:
        """Give ``person`` the role, and invite them to the incident's channel."""

        async def give(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            check_open(incident, "assign roles")
            assert incident.id is not None
            when = _at(incident, now)
            previous = await store.assign(incident.id, role, person.key, person.name, when)
            if previous is not None and previous.person_key == person.key:
                title = role_title(role)
                raise UserError(f"{person.name} is the {title} of INC-{incident.id} already.")
            if role == "commander":
                incident.commander_key, incident.commander_name = person.key, person.name
            incident.updated_at = when
            record(store, incident, actor.person, "role", when, role, person.name)
            e.invite = [person]

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

    async def end(
        self, number: int, actor: Actor, status: Status, text: str, *, force: bool = False
    ) -> IncidentView:
        """Resolve, close or cancel; pending reminders of the incident stop. Closing with
        tasks still open is refused, listing them, unless ``force``: then they stay on the
        record as left open (the timeline names them, the card counts them)."""

        async def finish(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            assert incident.id is not None
            detail = ""
            if status == Status.CLOSED and incident.open_tasks:
                check_move(incident, status)  # "resolve it first" comes before the tasks
                left = [t for t in await store.tasks(incident.id) if t.done_at is None]
                if left and not force:
                    raise UserError(open_tasks(incident.id, left))
                detail = ", ".join(str(t.number) for t in left)
            when = move(incident, status, now)
            if status == Status.RESOLVED:
                incident.summary = text
            elif status == Status.CANCELLED:
                incident.cancel_reason = text
            record(store, incident, actor.person, status.value, when, detail, text)
            await jobs.cancel(store.session, subject=subject(number), kinds=[REMIND])
            e.rows += await paging.ended(self._w, store, incident)
            if status != Status.CLOSED:
                e.post = (status.value, text)

        return await self.change(number, actor, finish)

    async def reopen(self, number: int, actor: Actor, reason: str) -> IncidentView:
        """A resolved incident is not over after all: back to investigating, with the
        reason on the timeline and posted like a status update; its reminders start again."""

        async def back(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            was_unowned = incident.acknowledged_at is None
            when = reopen(incident, now)
            if was_unowned:  # resolved straight from triggered: whoever reopens owns it
                incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
                record(store, incident, actor.person, "acknowledged", when)
            status = Status.INVESTIGATING.value
            record(store, incident, actor.person, "reopened", when, status, reason)
            _updated(incident, actor.person, when, reason or "reopened")
            e.post = ("reopened", reason)
            e.rows += await reminders.follow(self._w, store, incident, when)

        return await self.change(number, actor, back)

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


def _at(incident: Incident, now: datetime) -> datetime:
    """Event time: never before the incident's last change (see lifecycle.move)."""
    return max(now, incident.updated_at)


def _updated(incident: Incident, who: Person, when: datetime, text: str) -> None:
    """Keep the latest status update on the incident: the card shows it, reminders count
    from it."""
    incident.last_update_at, incident.last_update_by = when, who.name
    incident.last_update_text = text
