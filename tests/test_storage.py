"""Storage on SQLite and PostgreSQL: migrations, schema drift, refusals, durable timers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage import jobs
from storage.engine import SessionFactory, create_engine, ping, session_factory
from storage.errors import DatabaseUnreachable, SchemaTooNew, UnsupportedDatabase
from storage.migrate import require_current, schema_state, upgrade
from storage.models import Job

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[SessionFactory]:
    """Sessions on a fresh database at the current schema."""
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def test_fresh_database_migrates_to_head_and_again_is_a_no_op(
    empty_database_url: str,
) -> None:
    engine = create_engine(empty_database_url)
    try:
        before = await schema_state(engine)
        assert before.current == ()
        after = await upgrade(engine)
        assert after.up_to_date
        again = await upgrade(engine)
        assert again == after
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_exactly(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}),
                    SQLModel.metadata,
                )
            )
        assert diff == [], f"models and migrations differ; write a migration: {diff}"
    finally:
        await engine.dispose()


async def test_a_database_from_a_newer_tocsin_is_refused(empty_database_url: str) -> None:
    engine = create_engine(empty_database_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        with pytest.raises(SchemaTooNew, match=r"9999_future.*newer Tocsin"):
            await upgrade(engine)
        with pytest.raises(SchemaTooNew):
            await require_current(engine)
    finally:
        await engine.dispose()


async def test_an_unreachable_database_is_said_plainly() -> None:
    engine = create_engine("postgresql+asyncpg://postgres:secret@127.0.0.1:1/none")
    try:
        with pytest.raises(DatabaseUnreachable) as caught:
            await ping(engine)
    finally:
        await engine.dispose()
    message = str(caught.value)
    assert message.startswith("cannot reach the database at postgresql+asyncpg://postgres:***@")
    assert "secret" not in message


def test_unsupported_urls_are_refused_with_the_supported_ones() -> None:
    with pytest.raises(UnsupportedDatabase, match="supports sqlite\\+aiosqlite"):
        create_engine("mysql://root@localhost/x")
    with pytest.raises(UnsupportedDatabase, match="not a database URL"):
        create_engine("::nonsense::")


def job(kind: str, subject: str, step: int, due: datetime, platform: str | None = None) -> Job:
    return jobs.make(kind, subject, now=NOW, due_at=due, step=step, platform=platform)


async def test_times_come_back_as_utc_on_every_backend(sessions: SessionFactory) -> None:
    assert await jobs.add(sessions, job("remind", "incident:1", 0, NOW))
    (row,) = await jobs.of(sessions, "incident:1")
    assert row.due_at == NOW
    assert row.due_at.tzinfo is not None


async def test_a_job_cannot_be_written_twice(sessions: SessionFactory) -> None:
    assert await jobs.add(sessions, job("escalate", "incident:1", 1, NOW))
    assert not await jobs.add(sessions, job("escalate", "incident:1", 1, NOW))
    assert len(await jobs.of(sessions, "incident:1")) == 1


async def test_due_jobs_are_claimed_exactly_once_by_racing_claimers(
    sessions: SessionFactory,
) -> None:
    """On PostgreSQL this fails without the claim's condition in the UPDATE (racing
    transactions both pick the same candidates). On SQLite it cannot: one writer at a time
    makes each claim see the last one's rows; it shows the SQL works there too."""
    for step in range(30):
        await jobs.add(
            sessions, job("escalate", "incident:9", step, NOW + timedelta(seconds=step % 3))
        )
    await jobs.add(sessions, job("escalate", "incident:9", 99, NOW + timedelta(hours=1)))
    results: list[list[Job]] = []
    while True:  # sweeps, four replicas at a time, until nothing is left to claim
        rounds = await asyncio.gather(
            *[
                jobs.claim_due(
                    sessions,
                    owner=f"replica-{i}",
                    now=NOW + timedelta(seconds=5),
                    lease=timedelta(minutes=1),
                    limit=12,
                )
                for i in range(4)
            ]
        )
        if not any(rounds):
            break
        results += rounds
    claimed = [row.step for batch in results for row in batch]
    assert sorted(claimed) == list(range(30)), "every due job once, the future one never"
    owners = {row.step: row.lease_owner for batch in results for row in batch}
    first = next(r[0] for r in results if r)
    assert await jobs.finish(sessions, first.id or 0, owner=owners[first.step] or "")
    assert not await jobs.finish(sessions, first.id or 0, owner="someone-else")


async def test_a_claim_whose_owner_died_is_taken_over_after_its_lease(
    sessions: SessionFactory,
) -> None:
    await jobs.add(sessions, job("remind", "incident:2", 0, NOW))
    (mine,) = await jobs.claim_due(sessions, owner="a", now=NOW, lease=timedelta(minutes=1))
    later = NOW + timedelta(seconds=30)
    assert await jobs.claim_due(sessions, owner="b", now=later, lease=timedelta(minutes=1)) == []
    (taken,) = await jobs.claim_due(
        sessions, owner="b", now=NOW + timedelta(minutes=2), lease=timedelta(minutes=1)
    )
    assert taken.id == mine.id and taken.attempts == 2 and taken.lease_owner == "b"
    assert not await jobs.finish(sessions, mine.id or 0, owner="a")
    assert await jobs.finish(sessions, mine.id or 0, owner="b")


async def test_a_renewed_lease_is_not_taken_over(sessions: SessionFactory) -> None:
    await jobs.add(sessions, job("remind", "incident:2", 0, NOW))
    await jobs.add(sessions, job("remind", "incident:3", 0, NOW))
    minute = timedelta(minutes=1)
    working, forgotten = await jobs.claim_due(sessions, owner="a", now=NOW, lease=minute)
    assert working.id is not None
    # Only the rows the holder says it works on: one it lost track of is left to expire.
    until = NOW + timedelta(minutes=5)
    assert await jobs.renew(sessions, owner="a", ids=[working.id], until=until) == 1
    assert await jobs.renew(sessions, owner="b", ids=[working.id], until=until) == 0
    soon = NOW + timedelta(minutes=2)
    taken = await jobs.claim_due(sessions, owner="b", now=soon, lease=minute)
    assert [r.id for r in taken] == [forgotten.id]


async def test_cancelled_jobs_are_never_claimed(sessions: SessionFactory) -> None:
    for kind in ("escalate", "remind"):
        await jobs.add(sessions, job(kind, "incident:3", 0, NOW))
    async with sessions() as session, session.begin():
        assert await jobs.cancel(session, subject="incident:3", kinds=["escalate"]) == 1
    claimed = await jobs.claim_due(sessions, owner="a", now=NOW, lease=timedelta(minutes=1))
    assert [row.kind for row in claimed] == ["remind"]


async def test_only_a_process_running_the_platform_claims_its_jobs(
    sessions: SessionFactory,
) -> None:
    await jobs.add(sessions, job("post", "incident:4", 0, NOW, platform="slack"))
    await jobs.add(sessions, job("post", "incident:4", 1, NOW, platform="discord"))
    await jobs.add(sessions, job("post", "incident:4", 2, NOW))
    lease = timedelta(minutes=1)
    slack = await jobs.claim_due(sessions, owner="a", now=NOW, lease=lease, platforms=["slack"])
    assert sorted(r.step for r in slack) == [0, 2]
    rest = await jobs.claim_due(sessions, owner="b", now=NOW, lease=lease, platforms=["discord"])
    assert [r.step for r in rest] == [1]


async def test_handed_back_and_retried_jobs_run_again(sessions: SessionFactory) -> None:
    await jobs.add(sessions, job("post", "incident:5", 0, NOW))
    await jobs.add(sessions, job("post", "incident:5", 1, NOW))
    lease = timedelta(minutes=1)
    first, second = await jobs.claim_due(sessions, owner="a", now=NOW, lease=lease)
    assert await jobs.release(sessions, owner="a", ids=[first.id or 0]) == 1
    assert await jobs.again(
        sessions,
        second.id or 0,
        owner="a",
        due_at=NOW + timedelta(seconds=8),
        error="503",
        state={"done": ["card"]},
    )
    (back,) = await jobs.claim_due(sessions, owner="b", now=NOW, lease=lease)
    assert back.id == first.id and back.attempts == 2
    (retried,) = await jobs.claim_due(
        sessions, owner="b", now=NOW + timedelta(seconds=9), lease=lease
    )
    assert jobs.loads(retried.state) == {"done": ["card"]} and retried.last_error == "503"
    await jobs.finish(sessions, retried.id or 0, owner="b")
    assert await jobs.counts(sessions) == {"running": 1, "done": 1}
    assert await jobs.purge(sessions, before=NOW + timedelta(minutes=1)) == 1


async def test_the_summary_columns_are_filled_in_from_the_timeline(
    empty_database_url: str,
) -> None:
    """Migration 0003 fills what a card shows from each incident's history: its channel's
    platform (else where it was declared), its open tasks, its latest status update."""
    from alembic import command

    from storage.migrate import alembic_config

    incident = (
        "INSERT INTO incidents (id, title, description, severity, status, commander_key, "
        "commander_name, declared_by_key, declared_by_name, declared_on, summary, "
        "cancel_reason, declared_at, updated_at) VALUES ({n}, 'T{n}', '', 2, 'identified', "
        "'a', 'A', 'a', 'A', 'console', '', '', '2026-01-01 00:00:00', '2026-01-01 01:00:00')"
    )
    event = (
        "INSERT INTO timeline_events (incident_id, at, kind, detail, actor_key, actor_name, "
        "text) VALUES (1, '{at}', '{kind}', '{detail}', 'b', '{who}', '{text}')"
    )
    task = (
        "INSERT INTO incident_tasks (incident_id, number, text, created_by_name, created_at, "
        "done_at) VALUES (1, {n}, 'x', 'A', '2026-01-01 00:10:00', {done})"
    )
    statements = [
        incident.format(n=1),
        incident.format(n=2),
        "INSERT INTO channel_bindings (incident_id, platform, channel_id, channel_name, "
        "created_at) VALUES (1, 'slack', 'C1', 'inc-1-t1', '2026-01-01 00:00:01')",
        event.format(
            at="2026-01-01 00:20:00", kind="status", detail="identified", who="Bob", text=""
        ),
        event.format(
            at="2026-01-01 00:30:00",
            kind="update",
            detail="identified",
            who="Carol",
            text="rolled back",
        ),
        event.format(at="2026-01-01 00:40:00", kind="note", detail="", who="Dan", text="later"),
        task.format(n=1, done="NULL"),
        task.format(n=2, done="'2026-01-01 00:15:00'"),
        task.format(n=3, done="NULL"),
    ]
    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0002"))
            for statement in statements:
                await conn.execute(text(statement))
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT id, platform, open_tasks, last_update_by, last_update_text "
                        "FROM incidents ORDER BY id"
                    )
                )
            ).all()
            updated = (
                (await conn.execute(text("SELECT last_update_at FROM incidents ORDER BY id")))
                .scalars()
                .all()
            )
        assert [tuple(r) for r in rows] == [
            (1, "slack", 2, "Carol", "rolled back"),
            (2, "console", 0, None, ""),
        ]
        assert [str(u)[:19] for u in updated] == ["2026-01-01 00:30:00", "2026-01-01 00:00:00"]
    finally:
        await engine.dispose()


async def test_an_older_database_is_upgraded_and_keeps_its_data(empty_database_url: str) -> None:
    from alembic import command

    from storage.migrate import alembic_config

    engine = create_engine(empty_database_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "0001"))
            await conn.execute(
                text(
                    "INSERT INTO incidents (title, description, severity, status, commander_key, "
                    "commander_name, declared_by_key, declared_by_name, declared_on, summary, "
                    "cancel_reason, declared_at, updated_at) VALUES ('Old one', '', 2, 'resolved', "
                    "'a', 'A', 'a', 'A', 'console', '', '', '2026-01-01 00:00:00', "
                    "'2026-01-01 00:00:00')"
                )
            )
        assert (await schema_state(engine)).current == ("0001",)
        state = await upgrade(engine)
        assert state.up_to_date
        async with engine.connect() as conn:
            titles = (await conn.execute(text("SELECT title FROM incidents"))).scalars().all()
        assert titles == ["Old one"]
    finally:
        await engine.dispose()


async def test_write_turns_go_urgent_first_then_requests_then_background() -> None:
    """SQLite's writes queue in a process: the replay check a Slack ack waits on goes first,
    then people's requests, then the worker's background writes, each in arrival order."""
    from storage.turns import WriteTurns, background, urgent

    turns = WriteTurns()
    await turns.acquire()  # someone is writing
    order: list[str] = []

    async def wait(name: str, *, is_urgent: bool = False, is_background: bool = False) -> None:
        urgent.set(is_urgent)
        background.set(is_background)
        await turns.acquire()
        order.append(name)
        turns.release()

    waiting = [
        asyncio.create_task(wait("background", is_background=True)),
        asyncio.create_task(wait("request 1")),
        asyncio.create_task(wait("replay check", is_urgent=True)),
        asyncio.create_task(wait("request 2")),
    ]
    await asyncio.sleep(0)  # every task queued behind the writer
    turns.release()
    await asyncio.gather(*waiting)
    assert order == ["replay check", "request 1", "request 2", "background"]
