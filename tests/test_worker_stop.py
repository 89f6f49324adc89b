"""Stopping while a timed row is being claimed: the claim is waited for (and its row handed
back untried), not cut half-way by APScheduler's shutdown, which logs that as an error with
a traceback on every such stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import open_core
from bot.clock import ManualClock
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage import jobs
from storage.engine import create_engine
from tests.paging_rig import eventually

HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_stopping_waits_for_a_timed_claim_and_hands_its_row_back(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    platform = RecordingPlatform()
    core = await open_core(
        Settings(database_url=database_url),
        {platform.name: platform},
        sweep_every=timedelta(hours=1),
    )
    worker = core.worker
    assert worker is not None
    await worker.start()
    other = create_engine(database_url)
    try:
        writer = core.wiring.jobs
        row = writer.row(
            "incident.remind",
            "incident:1",
            platform=platform.name,
            due_at=writer.clock.now() + timedelta(milliseconds=200),
        )
        async with core.sessions() as session, session.begin():
            session.add(row)
        async with other.connect() as holder:
            # Another transaction holds the row: the timed claim waits for it.
            await holder.execute(
                text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": row.id}
            )
            writer.submit([row])
            await eventually(lambda: _claim_waits(other), within=30, every=0.05)
            stopping = asyncio.create_task(worker.stop(grace=1))
            await asyncio.sleep(0)  # stop begins: no more jobs taken, APScheduler shut down
            assert writer.taker is None
            await holder.commit()
        await asyncio.wait_for(stopping, timeout=30)
        (after,) = await jobs.of(core.sessions, "incident:1", status=None)
        assert (after.status, after.attempts, after.lease_owner) == ("pending", 0, None)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, errors[0].getMessage()
    finally:
        await other.dispose()
        core.worker = None
        await core.aclose()


async def _claim_waits(engine: AsyncEngine) -> None:
    """The timed claim is waiting for the row lock."""
    async with engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND query LIKE 'UPDATE jobs%'"
            )
        )
        assert waiting.scalar_one() == 1


async def test_stopping_as_a_timed_row_falls_due_cuts_nothing_short(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """APScheduler hands over a date job in the very turn of the event loop that stopping
    begins: it is not cancelled before it starts (logged as an error with a traceback)."""
    platform, clock = RecordingPlatform(), ManualClock()
    core = await open_core(
        Settings(database_url=database_url),
        {platform.name: platform},
        clock=clock,
        sweep_every=timedelta(hours=1),
    )
    worker = core.worker
    assert worker is not None
    await worker.start()
    try:
        writer = core.wiring.jobs
        # Due later by Tocsin's clock (so it gets a date job), long past by APScheduler's.
        row = writer.row(
            "incident.remind", "incident:1", platform=platform.name, due_at=clock.now() + HOUR
        )
        async with core.sessions() as session, session.begin():
            session.add(row)
        stopping = asyncio.create_task(worker.stop(grace=1))
        writer.submit([row])  # APScheduler takes it up just after stop has begun
        await asyncio.wait_for(stopping, timeout=30)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert not errors, errors[0].getMessage()
        (after,) = await jobs.of(core.sessions, "incident:1", status=None)
        assert (after.status, after.attempts) == ("pending", 0), "left for the next start"
    finally:
        core.worker = None
        await core.aclose()
