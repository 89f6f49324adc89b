"""The job table (ARCHITECTURE.md, "Facts, then effects"): rows that say what to do and
when, each run exactly once across restarts and replicas.

A row is written in the same transaction as the facts that cause it. Whoever moves it to
``running`` with a conditional ``UPDATE … WHERE status = 'pending' AND due_at <= now`` (or
takes over a ``running`` row whose lease expired, i.e. its claimer died) owns it; the rows
the UPDATE returns say who won, the same on SQLite and PostgreSQL. A process may also
write a row already ``running`` under its own lease, to run it at once without a claim.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.engine import SessionFactory
from storage.models import Incident, Job

PENDING, RUNNING, DONE, FAILED, CANCELLED = "pending", "running", "done", "failed", "cancelled"


def make(
    kind: str,
    subject: str,
    *,
    now: datetime,
    due_at: datetime | None = None,
    step: int = 0,
    payload: dict[str, Any] | None = None,
    platform: str | None = None,
    owner: str | None = None,
    lease: timedelta = timedelta(seconds=30),
) -> Job:
    """A new row; with ``owner`` it is written already running under that owner's lease."""
    row = Job(
        kind=kind,
        subject=subject,
        step=step,
        platform=platform,
        due_at=due_at or now,
        payload=json.dumps(payload or {}, separators=(",", ":")),
        created_at=now,
    )
    if owner is not None:
        row.status, row.lease_owner, row.lease_expires_at = RUNNING, owner, now + lease
        row.attempts = 1
    return row


async def add(sessions: SessionFactory, row: Job) -> bool:
    """Write ``row`` on its own; ``False`` if the same ``(kind, subject, step)`` exists."""
    try:
        async with sessions() as session, session.begin():
            session.add(row)
    except IntegrityError:
        return False
    return True


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(col(Job.status) == PENDING, col(Job.due_at) <= now),
        and_(col(Job.status) == RUNNING, col(Job.lease_expires_at) <= now),
    )


async def _claim(
    sessions: SessionFactory,
    candidates: Any,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> list[Job]:
    # The condition is checked again by the UPDATE itself: when two claimers picked the
    # same rows, the second finds them running already (PostgreSQL re-reads a row another
    # transaction changed; SQLite runs one writer at a time) and gets none of them.
    statement = (
        update(Job)
        .where(col(Job.id).in_(candidates), _claimable(now))
        .values(
            status=RUNNING,
            lease_owner=owner,
            lease_expires_at=now + lease,
            attempts=col(Job.attempts) + 1,
        )
        .returning(Job)
        .execution_options(synchronize_session=False)
    )
    async with sessions() as session, session.begin():
        rows = (await session.exec(statement)).scalars().all()
    return sorted(rows, key=lambda r: (r.due_at, r.id or 0))


async def claim_due(
    sessions: SessionFactory,
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    platforms: Collection[str] | None = None,
    limit: int = 50,
) -> list[Job]:
    """Claim up to ``limit`` due rows for ``owner``: pending ones, and running ones whose
    claimer's lease expired. ``platforms`` limits them to rows this process can run (rows
    that need no platform always qualify)."""
    if limit <= 0:
        return []
    candidates = _of(select(Job.id).where(_claimable(now)), platforms)
    candidates = candidates.order_by(col(Job.due_at), col(Job.id)).limit(limit)
    return await _claim(sessions, candidates.scalar_subquery(), owner=owner, now=now, lease=lease)


def _of(query: Any, platforms: Collection[str] | None) -> Any:
    """``query`` kept to rows of ``platforms`` (and those that need no platform)."""
    if platforms is None:
        return query
    return query.where(or_(col(Job.platform).is_(None), col(Job.platform).in_(list(platforms))))


async def due_soon(
    sessions: SessionFactory,
    *,
    after: datetime,
    until: datetime,
    platforms: Collection[str] | None = None,
    limit: int = 1000,
) -> list[tuple[int, datetime]]:
    """The pending rows (of ``platforms``) falling due after ``after`` and by ``until``,
    soonest first, at most ``limit``: their ids and due times. Nothing is claimed."""
    query = select(Job.id, Job.due_at).where(
        col(Job.status) == PENDING, col(Job.due_at) > after, col(Job.due_at) <= until
    )
    query = _of(query, platforms).order_by(col(Job.due_at), col(Job.id)).limit(limit)
    async with sessions() as session:
        return [(int(i), due) for i, due in (await session.exec(query)).all()]


async def claim(
    sessions: SessionFactory, job_id: int, *, owner: str, now: datetime, lease: timedelta
) -> Job | None:
    """Claim one row, if it is due and nobody holds it."""
    rows = await _claim(sessions, [job_id], owner=owner, now=now, lease=lease)
    return rows[0] if rows else None


async def renew(
    sessions: SessionFactory, *, owner: str, ids: Collection[int], until: datetime
) -> int:
    """Extend the lease of the rows of ``ids`` that ``owner`` still holds (those it is
    working on: a row it holds but lost track of expires, and a sweep takes it over)."""
    if not ids:
        return 0
    async with sessions() as session, session.begin():
        result = await session.exec(
            update(Job)
            .where(
                col(Job.id).in_(list(ids)),
                col(Job.status) == RUNNING,
                col(Job.lease_owner) == owner,
            )
            .values(lease_expires_at=until)
        )
        return int(result.rowcount)


def _held(job_id: int, owner: str) -> ColumnElement[bool]:
    return and_(col(Job.id) == job_id, col(Job.status) == RUNNING, col(Job.lease_owner) == owner)


async def finish(
    sessions: SessionFactory,
    job_id: int,
    *,
    owner: str,
    status: str = DONE,
    error: str = "",
    shows: tuple[int, int] | None = None,
) -> bool:
    """Mark a held row done (or failed); ``False`` if ``owner`` no longer holds it, or, with
    ``shows`` (incident, version), if that incident has changed since (so what the job drew
    is out of date: it must draw again)."""
    conditions = [_held(job_id, owner)]
    if shows is not None:
        number, version = shows
        current = select(Incident.version).where(col(Incident.id) == number).scalar_subquery()
        conditions.append(current == version)
    async with sessions() as session, session.begin():
        result = await session.exec(
            update(Job)
            .where(*conditions)
            .values(status=status, last_error=error[:2000], lease_expires_at=None)
        )
        return bool(result.rowcount == 1)


async def holds(sessions: SessionFactory, job_id: int, *, owner: str) -> bool:
    """Whether ``owner`` still holds the row (its lease was not taken over)."""
    async with sessions() as session:
        found = await session.exec(select(Job.id).where(_held(job_id, owner)))
        return found.first() is not None


async def again(
    sessions: SessionFactory,
    job_id: int,
    *,
    owner: str,
    due_at: datetime,
    error: str = "",
    state: dict[str, Any] | None = None,
    turn_after: datetime | None = None,
) -> bool:
    """Give a held row back to run again at ``due_at``: a retry, keeping what its steps
    recorded in ``state``; or, with ``turn_after`` (when the turn just run was due, as its
    holder took it), a recurring job's next turn, which starts over (no steps, its tries
    counted from none), unless a change moved the row since (:func:`move`): then the moved
    time stands. ``False`` if ``owner`` no longer holds it."""
    values: dict[str, Any] = {
        "status": PENDING,
        "due_at": due_at,
        "last_error": error[:2000],
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if turn_after is not None:
        # Moved means "due at another time than when it was taken": a move to the very
        # microsecond it was due at is no move (and cannot be told from none).
        values["due_at"] = case((col(Job.due_at) == turn_after, due_at), else_=col(Job.due_at))
        values["attempts"], state = 0, {}
    if state is not None:
        values["state"] = json.dumps(state, separators=(",", ":"))
    async with sessions() as session, session.begin():
        result = await session.exec(update(Job).where(_held(job_id, owner)).values(**values))
        return bool(result.rowcount == 1)


async def release(
    sessions: SessionFactory,
    *,
    owner: str,
    ids: Sequence[int] | None = None,
    untried: bool = False,
) -> int:
    """Hand ``owner``'s running rows (or those of ``ids``) back, due at once, for another
    process or the next start to run. ``untried``: they were claimed but not started, so
    the claim does not count as a try."""
    conditions = [col(Job.status) == RUNNING, col(Job.lease_owner) == owner]
    if ids is not None:
        conditions.append(col(Job.id).in_(list(ids)))
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None, "status": PENDING}
    if untried:
        values["attempts"] = col(Job.attempts) - 1
    async with sessions() as session, session.begin():
        result = await session.exec(update(Job).where(*conditions).values(**values))
        return int(result.rowcount)


async def cancel(session: AsyncSession, *, subject: str, kinds: Collection[str]) -> int:
    """In the caller's transaction: cancel the rows of ``subject`` of ``kinds`` that are
    waiting or running. A running one finishes its try, but cannot give itself back for
    another turn or retry (its holder no longer holds it)."""
    result = await session.exec(
        update(Job)
        .where(
            col(Job.subject) == subject,
            col(Job.kind).in_(list(kinds)),
            col(Job.status).in_([PENDING, RUNNING]),
        )
        .values(status=CANCELLED)
    )
    return int(result.rowcount)


async def move(session: AsyncSession, *, subject: str, kind: str, due_at: datetime) -> int:
    """In the caller's transaction: make the ``kind`` row of ``subject`` due at ``due_at``;
    return how many rows there were (0: there is none, the caller may write one). A row
    running just now counts, and keeps the moved time when its turn ends (see
    :func:`again`'s ``turn_after``)."""
    result = await session.exec(
        update(Job)
        .where(
            col(Job.subject) == subject,
            col(Job.kind) == kind,
            col(Job.status).in_([PENDING, RUNNING]),
        )
        .values(due_at=due_at)
    )
    return int(result.rowcount)


async def pending(session: AsyncSession, *, subject: str, kind: str) -> Job | None:
    """In the caller's transaction: the waiting ``kind`` row of ``subject``, if there is one
    (the soonest)."""
    query = (
        select(Job)
        .where(col(Job.subject) == subject, col(Job.kind) == kind, col(Job.status) == PENDING)
        .order_by(col(Job.due_at))
        .limit(1)
    )
    return (await session.exec(query)).first()


async def next_due(
    sessions: SessionFactory, *, platforms: Collection[str] | None = None
) -> datetime | None:
    """When the soonest pending row (of ``platforms``) falls due, if there is one."""
    query = _of(select(func.min(Job.due_at)).where(col(Job.status) == PENDING), platforms)
    async with sessions() as session:
        value: datetime | None = (await session.exec(query)).first()
        return value  # min() keeps the column's type: an aware UTC datetime


async def counts(sessions: SessionFactory) -> dict[str, int]:
    """How many rows there are in each status."""
    async with sessions() as session:
        rows = await session.exec(select(Job.status, func.count()).group_by(col(Job.status)))
        return {status: int(n) for status, n in rows.all()}


async def purge(sessions: SessionFactory, *, before: datetime) -> int:
    """Delete finished rows (done or cancelled) that fell due before ``before``."""
    async with sessions() as session, session.begin():
        result = await session.exec(
            delete(Job).where(col(Job.status).in_([DONE, CANCELLED]), col(Job.due_at) < before)
        )
        return int(result.rowcount)


async def of(sessions: SessionFactory, subject: str, *, status: str | None = PENDING) -> list[Job]:
    """The rows of ``subject`` (of one ``status``, or all), soonest first."""
    async with sessions() as session:
        query = select(Job).where(Job.subject == subject)
        if status is not None:
            query = query.where(Job.status == status)
        query = query.order_by(col(Job.due_at), col(Job.id))
        return list((await session.exec(query)).all())


def loads(text: str) -> dict[str, Any]:
    """A row's payload or state, as written."""
    value = json.loads(text or "{}")
    return value if isinstance(value, dict) else {}
