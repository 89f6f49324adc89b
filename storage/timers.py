"""Durable timers (ARCHITECTURE.md): rows that say what to do when, claimed exactly once.

Claiming is a conditional ``UPDATE … WHERE status = 'pending' AND due_at <= now`` (or a
``running`` row whose lease expired, i.e. its claimer died), and the row count says who
won: it works the same on SQLite and PostgreSQL, across restarts and replicas.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.engine import SessionFactory
from storage.models import ScheduledAction

PENDING, RUNNING, DONE, CANCELLED, FAILED = "pending", "running", "done", "cancelled", "failed"


async def schedule(
    sessions: SessionFactory,
    *,
    kind: str,
    subject: str,
    step: int,
    due_at: datetime,
    now: datetime,
    payload: str = "{}",
) -> bool:
    """Add a timer; ``False`` if the same ``(kind, subject, step)`` exists already."""
    row = ScheduledAction(
        kind=kind, subject=subject, step=step, due_at=due_at, payload=payload, created_at=now
    )
    try:
        async with sessions() as session, session.begin():
            session.add(row)
    except IntegrityError:
        return False
    return True


async def claim_due(
    sessions: SessionFactory, *, owner: str, now: datetime, lease: timedelta, limit: int = 50
) -> list[ScheduledAction]:
    """Claim up to ``limit`` due timers for ``owner``; each is claimed by one owner only."""
    due = or_(
        and_(col(ScheduledAction.status) == PENDING, col(ScheduledAction.due_at) <= now),
        and_(
            col(ScheduledAction.status) == RUNNING,
            col(ScheduledAction.lease_expires_at) <= now,
        ),
    )
    async with sessions() as session:
        candidates = (
            await session.exec(
                select(ScheduledAction.id)
                .where(due)
                .order_by(col(ScheduledAction.due_at))
                .limit(limit)
            )
        ).all()
    claimed: list[ScheduledAction] = []
    for action_id in candidates:
        async with sessions() as session, session.begin():
            result = await session.exec(
                update(ScheduledAction)
                .where(col(ScheduledAction.id) == action_id, due)
                .values(
                    status=RUNNING,
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                    attempts=col(ScheduledAction.attempts) + 1,
                )
            )
            if result.rowcount == 1:
                row = await session.get(ScheduledAction, action_id)
                assert row is not None
                claimed.append(row)
    return claimed


async def finish(
    sessions: SessionFactory, action_id: int, *, owner: str, status: str = DONE, error: str = ""
) -> bool:
    """Mark a claimed timer done (or failed); ``False`` if ``owner`` no longer holds it."""
    async with sessions() as session, session.begin():
        result = await session.exec(
            update(ScheduledAction)
            .where(
                col(ScheduledAction.id) == action_id,
                col(ScheduledAction.status) == RUNNING,
                col(ScheduledAction.lease_owner) == owner,
            )
            .values(status=status, last_error=error, lease_expires_at=None)
        )
        return bool(result.rowcount == 1)


async def cancel(sessions: SessionFactory, *, subject: str, kind: str | None = None) -> int:
    """Cancel the pending timers of ``subject`` (of one ``kind``, or all); return how many."""
    conditions = [col(ScheduledAction.subject) == subject, col(ScheduledAction.status) == PENDING]
    if kind is not None:
        conditions.append(col(ScheduledAction.kind) == kind)
    async with sessions() as session, session.begin():
        result = await session.exec(
            update(ScheduledAction).where(*conditions).values(status=CANCELLED)
        )
        return int(result.rowcount)


async def pending(sessions: SessionFactory, subject: str) -> list[ScheduledAction]:
    async with sessions() as session:
        query = (
            select(ScheduledAction)
            .where(ScheduledAction.subject == subject, ScheduledAction.status == PENDING)
            .order_by(col(ScheduledAction.due_at))
        )
        return list((await session.exec(query)).all())
