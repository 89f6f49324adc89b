"""The incident service: every change to an incident goes through here.

Each change runs in one transaction that locks the incident's row (and, within a process,
an asyncio lock per incident, since SQLite has no row locks), appends to the timeline, then,
after commit, refreshes the incident's card on every platform that shows it.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from bot.channels import IncidentChannels
from bot.errors import UserError
from bot.identity import Actor, Person
from bot.lifecycle import OPEN, Status, check_open, move
from bot.presenter import IncidentView
from bot.timeline import record
from bot.wiring import Wiring
from storage.models import Incident, Task
from storage.repo import Store


@dataclass
class Outcome:
    """What a change did, for the reply: the incident after it, and anything that went wrong
    on a platform after the change was saved."""

    view: IncidentView
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, object] = field(default_factory=dict)


Change = Callable[[Store, Incident, datetime], Awaitable[None]]


class IncidentService:
    def __init__(self, wiring: Wiring) -> None:
        self._w = wiring
        self.channels = IncidentChannels(wiring, self.view)
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    # reading
    async def view(self, number: int) -> IncidentView:
        async with self._w.sessions() as session:
            store = Store(session)
            incident = await store.incident(number)
            if incident is None:
                raise UserError(f"there is no incident INC-{number}.")
            return await self._view(store, incident)

    async def incident_in(self, platform: str, channel_id: str) -> int | None:
        async with self._w.sessions() as session:
            binding = await Store(session).binding_for_channel(platform, channel_id)
            return binding.incident_id if binding else None

    async def incidents(self, scope: str, limit: int = 25) -> list[Incident]:
        statuses = [s.value for s in OPEN] if scope == "open" else None
        async with self._w.sessions() as session:
            return await Store(session).incidents(statuses=statuses, limit=limit)

    async def counts(self) -> list[tuple[int, str, int]]:
        async with self._w.sessions() as session:
            return await Store(session).count_by()

    # declaring
    async def declare(
        self,
        actor: Actor,
        *,
        title: str,
        severity: int | None,
        service: str | None,
        description: str,
    ) -> Outcome:
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
                    declared_at=now,
                    updated_at=now,
                )
            )
            assert incident.id is not None
            await store.assign(incident.id, "commander", commander.key, commander.name, now)
            await record(store, incident, actor.person, "declared", now, f"SEV{level}", title)
        warnings = await self.channels.open(actor, await self.view(incident.id), commander)
        return Outcome(await self.view(incident.id), warnings)

    def _check_service(self, service: str | None) -> str | None:
        if service is None or not self._w.config.services:
            return service
        if service not in self._w.config.services:
            known = ", ".join(self._w.config.services)
            raise UserError(f"there is no service '{service}'; the services are: {known}.")
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

    async def change(
        self, number: int, actor: Actor, change: Change, *, refresh: bool = True
    ) -> Outcome:
        """Run ``change`` on INC-``number`` in one transaction, then refresh its cards
        (unless the change cannot alter them)."""
        async with self._locked(number):
            async with self._w.sessions() as session, session.begin():
                store = Store(session)
                incident = await store.incident(number, lock=True)
                if incident is None:
                    raise UserError(f"there is no incident INC-{number}.")
                await change(store, incident, self._w.clock.now())
                store.save(incident)
            outcome = Outcome(await self.view(number))
        if refresh:
            outcome.warnings.extend(await self.channels.refresh_cards(outcome.view))
        return outcome

    async def _view(self, store: Store, incident: Incident) -> IncidentView:
        assert incident.id is not None
        return IncidentView(
            incident=incident,
            roles=await store.roles(incident.id),
            tasks=await store.tasks(incident.id),
            bindings=await store.bindings(incident.id),
            events=await store.events(incident.id),
            severity=self._w.config.severity(incident.severity),
        )

    # the changes themselves: each checks, moves, and writes its timeline event
    async def acknowledge(self, number: int, actor: Actor) -> Outcome:
        async def ack(store: Store, incident: Incident, now: datetime) -> None:
            when = move(incident, Status.ACKNOWLEDGED, now)
            incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
            await record(store, incident, actor.person, "acknowledged", when)

        return await self.change(number, actor, ack)

    async def set_status(self, number: int, actor: Actor, status: Status, text: str) -> Outcome:
        async def set_it(store: Store, incident: Incident, now: datetime) -> None:
            was_unowned = incident.acknowledged_at is None
            when = move(incident, status, now)
            if was_unowned:
                incident.owner_key, incident.owner_name = actor.person.key, actor.person.name
                await record(store, incident, actor.person, "acknowledged", when)
            await record(store, incident, actor.person, "status", when, status.value, text)

        outcome = await self.change(number, actor, set_it)
        outcome.warnings += await self.channels.post_update(outcome.view, actor, "status", text)
        return outcome

    async def update(self, number: int, actor: Actor, text: str) -> Outcome:
        async def note_update(store: Store, incident: Incident, now: datetime) -> None:
            check_open(incident, "post an update")
            if Status(incident.status) == Status.RESOLVED:
                raise UserError(f"INC-{incident.id} is resolved; add a note instead.")
            await record(
                store,
                incident,
                actor.person,
                "update",
                self._at(incident, now),
                incident.status,
                text,
            )

        outcome = await self.change(number, actor, note_update)
        outcome.warnings += await self.channels.post_update(outcome.view, actor, "update", text)
        return outcome

    async def set_severity(self, number: int, actor: Actor, level: int) -> Outcome:
        async def sev(store: Store, incident: Incident, now: datetime) -> None:
            check_open(incident, "change the severity")
            if incident.severity == level:
                raise UserError(f"INC-{incident.id} is SEV{level} already.")
            detail = f"SEV{incident.severity} → SEV{level}"
            incident.severity = level
            incident.updated_at = self._at(incident, now)
            await record(store, incident, actor.person, "severity", incident.updated_at, detail)

        return await self.change(number, actor, sev)

    async def assign(self, number: int, actor: Actor, role: str, person: Person) -> Outcome:
        async def give(store: Store, incident: Incident, now: datetime) -> None:
            check_open(incident, "assign roles")
            assert incident.id is not None
            when = self._at(incident, now)
            previous = await store.assign(incident.id, role, person.key, person.name, when)
            if previous is not None and previous.person_key == person.key:
                raise UserError(f"{person.name} is the {role} of INC-{incident.id} already.")
            if role == "commander":
                incident.commander_key, incident.commander_name = person.key, person.name
            incident.updated_at = when
            await record(store, incident, actor.person, "role", when, role, person.name)

        return await self.change(number, actor, give)

    async def note(self, number: int, actor: Actor, text: str) -> Outcome:
        async def add(store: Store, incident: Incident, now: datetime) -> None:
            await record(store, incident, actor.person, "note", self._at(incident, now), "", text)

        return await self.change(number, actor, add, refresh=False)

    async def add_task(self, number: int, actor: Actor, text: str, owner: Person | None) -> Outcome:
        async def add(store: Store, incident: Incident, now: datetime) -> None:
            check_open(incident, "add tasks")
            assert incident.id is not None
            when = self._at(incident, now)
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
            await record(store, incident, actor.person, "task_added", when, str(task.number), text)

        return await self.change(number, actor, add)

    async def complete_task(self, number: int, actor: Actor, task_number: int) -> Outcome:
        async def done(store: Store, incident: Incident, now: datetime) -> None:
            check_open(incident, "change tasks")
            assert incident.id is not None
            task = await store.task(incident.id, task_number)
            if task is None:
                raise UserError(f"INC-{incident.id} has no task {task_number}.")
            if task.done_at is not None:
                raise UserError(f"task {task_number} is done already.")
            when = self._at(incident, now)
            task.done_at, task.done_by_name = when, actor.person.name
            store.save(task)
            await record(
                store, incident, actor.person, "task_done", when, str(task_number), task.text
            )

        return await self.change(number, actor, done)

    async def end(self, number: int, actor: Actor, status: Status, text: str) -> Outcome:
        """Resolve, close or cancel."""

        async def finish(store: Store, incident: Incident, now: datetime) -> None:
            when = move(incident, status, now)
            if status == Status.RESOLVED:
                incident.summary = text
            elif status == Status.CANCELLED:
                incident.cancel_reason = text
            await record(store, incident, actor.person, status.value, when, "", text)

        outcome = await self.change(number, actor, finish)
        if status != Status.CLOSED:
            outcome.warnings += await self.channels.post_update(
                outcome.view, actor, status.value, text
            )
        return outcome

    @staticmethod
    def _at(incident: Incident, now: datetime) -> datetime:
        """Event time: never before the incident's last change (see lifecycle.move)."""
        return max(now, incident.updated_at)
