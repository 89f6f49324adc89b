"""Queries, one place for each: the core reads and writes incidents only through these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChannelBinding, Incident, Page, RoleAssignment, Task, TimelineEvent


class Store:
    """The queries of one unit of work (one session, one transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # incidents
    async def add_incident(self, incident: Incident) -> Incident:
        self.session.add(incident)
        await self.session.flush()
        return incident

    async def incident(self, number: int, *, lock: bool = False) -> Incident | None:
        """``INC-<number>``; ``lock`` holds its row until commit (PostgreSQL)."""
        query = select(Incident).where(Incident.id == number)
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query)).first()

    async def incident_and_bindings(
        self, number: int, *, lock: bool = False
    ) -> tuple[Incident | None, list[ChannelBinding]]:
        """``INC-<number>`` and its channels, in one query; ``lock`` holds the incident's
        row until commit (PostgreSQL), so that changes to one incident take turns."""
        query = (
            select(Incident, ChannelBinding)
            .outerjoin(ChannelBinding, col(ChannelBinding.incident_id) == col(Incident.id))
            .where(Incident.id == number)
            .order_by(col(ChannelBinding.id))
        )
        if lock:
            query = query.with_for_update(of=Incident)
        rows = (await self.session.exec(query)).all()
        if not rows:
            return None, []
        return rows[0][0], [binding for _incident, binding in rows if binding is not None]

    async def incidents(self, *, statuses: Sequence[str] | None, limit: int) -> list[Incident]:
        query = select(Incident).order_by(col(Incident.id).desc()).limit(limit)
        if statuses is not None:
            query = query.where(col(Incident.status).in_(statuses))
        return list((await self.session.exec(query)).all())

    async def count_incidents(self, *, statuses: Sequence[str] | None) -> int:
        query = select(func.count()).select_from(Incident)
        if statuses is not None:
            query = query.where(col(Incident.status).in_(statuses))
        return int((await self.session.exec(query)).one())

    async def count_by(self) -> list[tuple[int, str, int]]:
        """(severity, status, count) for every pair that has incidents."""
        query = select(Incident.severity, Incident.status, func.count()).group_by(
            col(Incident.severity), col(Incident.status)
        )
        return [(s, st, int(n)) for s, st, n in (await self.session.exec(query)).all()]

    # channels
    async def binding_for_channel(self, platform: str, channel_id: str) -> ChannelBinding | None:
        query = select(ChannelBinding).where(
            ChannelBinding.platform == platform, ChannelBinding.channel_id == channel_id
        )
        return (await self.session.exec(query)).first()

    async def bindings(self, incident_id: int) -> list[ChannelBinding]:
        query = (
            select(ChannelBinding)
            .where(ChannelBinding.incident_id == incident_id)
            .order_by(col(ChannelBinding.id))
        )
        return list((await self.session.exec(query)).all())

    # timeline
    def add_event(self, event: TimelineEvent) -> TimelineEvent:
        """Add an event, written at commit with whatever else the transaction adds."""
        self.session.add(event)
        return event

    async def events(self, incident_id: int) -> list[TimelineEvent]:
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
        )
        return list((await self.session.exec(query)).all())

    async def last_event_at(self, incident_id: int, kind: str) -> datetime | None:
        """When the incident's latest ``kind`` event happened, if it has one."""
        query = select(func.max(TimelineEvent.at)).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.kind == kind
        )
        value: datetime | None = (await self.session.exec(query)).first()
        return value

    async def message_events(self, platform: str, message_id: str) -> list[TimelineEvent]:
        """The timeline events about one chat message (the message, its edits, its pins)."""
        query = (
            select(TimelineEvent)
            .where(TimelineEvent.platform == platform, TimelineEvent.message_id == message_id)
            .order_by(col(TimelineEvent.id))
        )
        return list((await self.session.exec(query)).all())

    # roles
    async def pages(self, incident_id: int) -> list[Page]:
        """Every page of an incident (its delivery records), oldest first."""
        query = select(Page).where(Page.incident_id == incident_id).order_by(col(Page.id))
        return list((await self.session.exec(query)).all())

    async def roles(self, incident_id: int) -> list[RoleAssignment]:
        query = (
            select(RoleAssignment)
            .where(RoleAssignment.incident_id == incident_id)
            .order_by(col(RoleAssignment.id))
        )
        return list((await self.session.exec(query)).all())

    async def assign(
        self, incident_id: int, role: str, key: str, name: str, at: datetime
    ) -> RoleAssignment | None:
        """Give ``role`` to ``key``; return the previous holder's assignment, if any."""
        query = select(RoleAssignment).where(
            RoleAssignment.incident_id == incident_id, RoleAssignment.role == role
        )
        current = (await self.session.exec(query)).first()
        previous = None
        if current is None:
            current = RoleAssignment(
                incident_id=incident_id, role=role, person_key=key, person_name=name
            )
        else:
            previous = RoleAssignment.model_validate(current.model_dump())
        current.person_key, current.person_name, current.assigned_at = key, name, at
        self.session.add(current)
        await self.session.flush()
        return previous

    # tasks
    async def tasks(self, incident_id: int) -> list[Task]:
        query = select(Task).where(Task.incident_id == incident_id).order_by(col(Task.number))
        return list((await self.session.exec(query)).all())

    async def task(self, incident_id: int, number: int) -> Task | None:
        query = select(Task).where(Task.incident_id == incident_id, Task.number == number)
        return (await self.session.exec(query)).first()

    async def add_task(self, task: Task) -> Task:
        """Number the task after the incident's last one and store it."""
        query = select(func.max(Task.number)).where(Task.incident_id == task.incident_id)
        last = (await self.session.exec(query)).first()
        task.number = (last or 0) + 1
        self.session.add(task)
        await self.session.flush()
        return task

    def save(self, *rows: object) -> None:
        self.session.add_all(rows)
