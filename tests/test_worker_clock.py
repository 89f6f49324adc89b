"""The worker's clock on real time (APScheduler started, as in ``tocsin run``): a row
another process wrote gets its date job from a sweep's look-ahead and fires when it falls
due, not at the next sweep; a row due much later holds nothing in memory; a row whose date
job fired is not timed again; a date job finding no room leaves its row in the table; a
backlog larger than a sweep's room drains at once, not one sweep's worth per interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Core, open_core
from bot.clock import SystemClock
from bot.identity import Actor, Person
from bot.inbound import Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage import jobs
from storage.models import Job

CONFIG = """
[people.bob]
name = "Bob"
fake = "bob"
[people.carol]
name = "Carol"
fake = "carol"

[policies.default]
[[policies.default.levels]]
targets = ["person:bob"]
escalate_after = "3h"
[[policies.default.levels]]
targets = ["person:carol"]
escalate_after = "3h"
"""
HOURLY = timedelta(hours=1)
"""The sweep's interval in these tests: it never comes round by itself while they run."""


@dataclass
class Two:
    """A process with its worker's clock started (``a``, on ``platform``) and another
    that only writes (``b``: a replica, the CLI)."""

    a: Core
    b: Core
    platform: RecordingPlatform


@asynccontextmanager
async def started(database_url: str, folder: Path, **options: Any) -> AsyncIterator[Two]:
    (folder / "tocsin.toml").write_text(CONFIG)
    settings = Settings(
        database_url=database_url, config_path=folder / "tocsin.toml", sweep_every=HOURLY
    )
    platform = RecordingPlatform(clock=SystemClock())
    a = await open_core(settings, {platform.name: platform}, **options)
    b = await open_core(settings, {}, worker=False)
    try:
        assert a.worker is not None
        await a.worker.start()
        yield Two(a, b, platform)
    finally:
        await a.aclose(grace=0)
        await b.aclose()


@pytest.fixture
async def two(database_url: str, tmp_path: Path) -> AsyncIterator[Two]:
    async with started(database_url, tmp_path, capacity=2) as both:
        yield both


async def until(check: Callable[[], bool], within: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "it never happened"
        await asyncio.sleep(0.05)


async def paging(two: Two) -> Job:
    """INC-1 declared on ``a``: Bob paged; returns the row of level 2, due in three hours."""
    lobby = ChannelRef("incidents", "incidents")
    reply = await two.a.dispatcher.command(
        Command("fake", UserRef("alice", "Alice"), lobby, "declare Checkout down --sev 1")
    )
    assert reply.ok, reply.text
    await two.a.settle(within=3)  # the page waits for the channel, set up meanwhile
    assert len(two.platform.pages("bob")) == 1
    waiting = await jobs.of(two.a.sessions, "incident:1")
    (step,) = [row for row in waiting if row.kind == "incident.page"]
    assert step.id is not None
    return step


async def moved(two: Two, seconds: float) -> datetime:
    """Process ``b`` makes the pending step due in ``seconds``: ``a`` is not told."""
    due = datetime.now(UTC) + timedelta(seconds=seconds)
    async with two.b.sessions() as session, session.begin():
        assert await jobs.move(session, subject="incident:1", kind="incident.page", due_at=due)
    return due


async def test_a_row_another_process_wrote_fires_when_due_not_at_the_next_sweep(
    two: Two,
) -> None:
    assert two.a.worker is not None
    step = await paging(two)
    assert step.id not in two.a.worker.timers(), "due past the look-ahead: no date job yet"
    due = await moved(two, 1.0)
    await two.a.worker.sweep()  # the hourly sweep, as it comes round before the row is due
    assert step.id in two.a.worker.timers()
    await until(lambda: len(two.platform.pages("carol")) == 1)
    (page,) = two.platform.pages("carol")
    assert page.at is not None
    assert page.at - due < timedelta(seconds=5), "fired by its date job, not by a sweep"


async def test_a_row_being_claimed_is_not_timed_again(
    two: Two, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep whose look-ahead read the table before the row's date job claimed it (and
    so saw it pending) leaves it alone: APScheduler would skip a second date job of the
    same row while the first runs, and say so in the log, or claim it for nothing."""
    worker = two.a.worker
    assert worker is not None
    step = await paging(two)
    claiming, release = asyncio.Event(), asyncio.Event()
    claims: list[int] = []
    claim, due_soon = jobs.claim, jobs.due_soon

    async def held_claim(*args: Any, **kwargs: Any) -> Any:
        claims.append(args[1])
        claiming.set()
        await release.wait()
        return await claim(*args, **kwargs)

    async def slow_look(*args: Any, **kwargs: Any) -> Any:
        await claiming.wait()
        return await due_soon(*args, **kwargs)

    monkeypatch.setattr(jobs, "claim", held_claim)
    await moved(two, 0.5)
    await worker.sweep()
    monkeypatch.setattr(jobs, "due_soon", slow_look)
    await worker.sweep()  # began before the row fell due; looked ahead while it was claimed
    assert step.id not in worker.timers()
    release.set()
    await until(lambda: len(two.platform.pages("carol")) == 1)
    assert claims == [step.id]


async def test_a_backlog_larger_than_a_sweep_takes_is_run_without_waiting_for_the_next(
    two: Two,
) -> None:
    """Room for 4 (two runners, two waiting), 20 incidents declared elsewhere: all open,
    though the next sweep is an hour away."""
    cli = Actor("cli", Person("alice", "Alice"))
    for n in range(20):
        await two.b.service.declare(
            cli, title=f"Outage {n}", severity=3, service=None, description="", platform="fake"
        )
    assert two.a.worker is not None
    two.a.worker.kick()
    opened = lambda: sum(c.name.startswith("inc-") for c in two.platform.channels.values())  # noqa: E731
    await until(lambda: opened() == 20, within=30)


async def test_a_date_job_finding_no_room_leaves_its_row_for_later_or_another_process(
    database_url: str, tmp_path: Path
) -> None:
    """One runner, stuck on a call that hangs (3 s, then timed out), and one row waiting:
    no room. A row falling due meanwhile stays pending in the table (a replica with room
    may take it) until room frees here."""
    async with started(database_url, tmp_path, capacity=1, timeout=timedelta(seconds=3)) as two:
        two.platform.hang["post_card"] = 2
        lobby = ChannelRef("incidents", "incidents")
        for title in ("One", "Two"):
            command = Command("fake", UserRef("alice", "Alice"), lobby, f"declare {title}")
            assert (await two.a.dispatcher.command(command)).ok
        cli = Actor("cli", Person("alice", "Alice"))
        await two.b.service.declare(
            cli, title="Three", severity=3, service=None, description="", platform="fake"
        )
        async with two.b.sessions() as session, session.begin():
            soon = datetime.now(UTC) + timedelta(seconds=0.3)
            assert await jobs.move(session, subject="incident:3", kind="incident.open", due_at=soon)
        assert two.a.worker is not None
        await two.a.worker.sweep()  # no room to claim; gives the row its date job
        await asyncio.sleep(1.0)
        (row,) = [
            r
            for r in await jobs.of(two.a.sessions, "incident:3", status=None)
            if r.kind == "incident.open"
        ]
        assert (row.status, row.attempts) == ("pending", 0)
        opened = lambda: sum(c.name.startswith("inc-") for c in two.platform.channels.values())  # noqa: E731
        await until(lambda: opened() == 3, within=30)
