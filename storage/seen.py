"""Requests already taken (``seen_requests``): one row per key, so the first insert wins
on SQLite and PostgreSQL alike, in one process or across replicas."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete

from storage.engine import SessionFactory
from storage.models import SeenRequest
from storage.turns import urgent

KEY_LENGTH = 200


async def first_sighting(
    sessions: SessionFactory, key: str, now: datetime, forget_before: datetime
) -> bool:
    """Record ``key``; ``False`` if it was recorded already (since ``forget_before``: older
    keys are forgotten in the same transaction, so the table stays small)."""
    token = urgent.set(True)  # an ack waits on it: before the writes already queued
    try:
        async with sessions() as session, session.begin():
            await session.exec(delete(SeenRequest).where(col(SeenRequest.seen_at) < forget_before))
            session.add(SeenRequest(key=key[:KEY_LENGTH], seen_at=now))
    except IntegrityError:
        return False
    finally:
        urgent.reset(token)
    return True


async def forget(sessions: SessionFactory, key: str) -> None:
    """Forget ``key``: its request failed before it was carried out, so a copy sent again
    must run."""
    token = urgent.set(True)
    try:
        async with sessions() as session, session.begin():
            await session.exec(delete(SeenRequest).where(col(SeenRequest.key) == key[:KEY_LENGTH]))
    finally:
        urgent.reset(token)
