"""Paging with real ``tocsin run`` processes against the Slack fake: two replicas on one
PostgreSQL page every level of 200 incidents exactly once (each step one direct message to
the person it pages, one page row, one timeline event, one line in the incident's channel),
also when one of them is SIGKILLed in the middle and the other takes its rows over; and a
step that falls due while no Tocsin runs fires once at the next start, saying how late.

Nothing here is timed: each test waits, generously, for the outcome, then counts."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.cli import Running
from tests.fakes.slack_api import FakeSlack
from tests.paging_rig import (
    LEVELS,
    Database,
    check_every_step_once,
    declare,
    dms,
    eventually,
    keep_for_diagnosis,
    paged_out,
    paging_config,
    paging_fake,
    reports,
)
from tests.test_processes import slack_env

INCIDENTS = 200
PAGING = {
    # A killed replica's rows are taken over soon, yet a busy process on a loaded machine
    # renews its leases in time.
    "TOCSIN_JOB_LEASE": "3s",
    "TOCSIN_SWEEP_EVERY": "1s",
    # A page whose answer is lost is tried again soon (looking for it first).
    "TOCSIN_EFFECT_TIMEOUT": "10s",
}
LOST = 4
"""Pages whose answer the fake loses: posted, never answered, so the try that sent them
times out (or its process is killed) and the next try must find them, not send again."""


def _is_page(fake: FakeSlack, picked: list[str]) -> Any:
    """Picks a page being posted (and notes which, for a diagnosis)."""

    def when(method: str, args: dict[str, Any]) -> bool:
        if method == "chat.postMessage" and args.get("channel") in fake.ims:
            picked.append(f"{time.time():.6f} {args['channel']} {args.get('text')}")
            return True
        return False

    return when


async def _start_both(tmp_path: Path, env: dict[str, str]) -> list[Running]:
    started = await asyncio.gather(
        Running.start(tmp_path, env, "listening on"),
        Running.start(tmp_path, env, "listening on"),
        return_exceptions=True,
    )
    running = [r for r in started if isinstance(r, Running)]
    for failed in started:
        if isinstance(failed, BaseException):
            for process in running:
                await process.kill()
            raise failed
    return running


@pytest.mark.timeout(900)
@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("kill", [False, True], ids=["both-run", "one-killed"])
async def test_two_replicas_page_every_level_of_200_incidents_exactly_once(
    database_url: str, tmp_path: Path, kill: bool
) -> None:
    """200 incidents paging at once, a level a second, on two processes sharing one
    PostgreSQL, a few pages' answers lost; with ``kill``, one process is SIGKILLed while
    pages flow, and the other takes over the rows it held: none lost, none doubled."""
    config = tmp_path / "tocsin.toml"
    config.write_text(paging_config(["1s"] * LEVELS))
    await declare(database_url, config, INCIDENTS)  # pending, for both to claim at once
    fake = paging_fake()
    await fake.start()
    env = slack_env(database_url, fake, **PAGING)
    processes: list[Running] = []
    picked: list[str] = []
    async with Database(database_url) as db:
        try:
            processes += await _start_both(tmp_path, env)

            async def flowing() -> None:
                assert len(dms(fake)) >= INCIDENTS

            await eventually(flowing, within=300)
            lost = fake.fault(_is_page(fake, picked), "lost", times=LOST)

            async def answers_lost() -> None:
                assert lost.hits == LOST

            await eventually(answers_lost, within=120)
            if kill:
                held = dict(
                    await db.rows("SELECT id, lease_owner FROM jobs WHERE status = 'running'")
                )
                await processes[0].kill()
            await eventually(lambda: paged_out(db, fake, INCIDENTS), within=450)
            for running in processes:
                if running.process.returncode is None:
                    assert await running.stop() == 0
            await check_every_step_once(db, fake, INCIDENTS)
            if kill:  # who finished the rows running as it was killed (done keeps the owner)
                done = "SELECT id, lease_owner FROM jobs WHERE status = 'done'"
                ended = dict(await db.rows(done))
                taken_over = [job for job, owner in held.items() if ended.get(job, owner) != owner]
                assert taken_over, "the killed process held no row: nothing was taken over"
                assert len({held[job] for job in taken_over}) == 1, "only its rows changed hands"
        except AssertionError:
            await keep_for_diagnosis(db, fake, [r.log for r in processes], tmp_path)
            print("answers lost:", *picked, sep="\n")
            raise
        finally:
            for running in processes:
                if running.process.returncode is None:
                    await running.kill()
            await fake.close()
    for running in processes:
        assert "Traceback" not in running.log, _around(running.log, "Traceback")


async def test_a_step_due_while_tocsin_was_down_fires_once_at_the_next_start_said_late(
    database_url: str, tmp_path: Path
) -> None:
    """Level 1 is paged; the process is SIGKILLed with level 2 waiting; level 2 falls due,
    and more than 5 s pass, while nothing runs. The next start pages level 2 once and says
    how late, on the timeline and in the channel."""
    config = tmp_path / "tocsin.toml"
    config.write_text(paging_config(["6s", "1h"], policies=1))
    await declare(database_url, config, 1, policies=1)
    fake = paging_fake(policies=1)
    await fake.start()
    env = slack_env(database_url, fake)
    first = await Running.start(tmp_path, env, "listening on")
    second: Running | None = None
    level_2 = "SELECT due_at, status FROM jobs WHERE kind = 'incident.page' AND step = 10102"
    async with Database(database_url) as db:
        try:

            async def level_2_waits() -> None:
                assert await db.rows(level_2)

            await eventually(level_2_waits, within=60, every=0.2)
            await first.kill()
            ((due, status),) = await db.rows(level_2)
            assert status == "pending", "level 2 fired before the process was killed"
            # Past due, and later than a step is said to be late (bot.paging.LATE, 5 s).
            wait = _aware(due) + timedelta(seconds=7) - datetime.now(UTC)
            await asyncio.sleep(max(0.0, wait.total_seconds()))
            second = await Running.start(tmp_path, env, "listening on")

            async def level_2_paged() -> None:
                pages = await db.rows("SELECT round, level, status FROM pages ORDER BY level")
                assert pages == [(1, 1, "sent"), (1, 2, "sent")]
                assert [m for m in reports(fake) if "Paged level 2" in m.text]

            await eventually(level_2_paged, within=60)
            assert second is not None
            assert await second.stop() == 0
            assert sorted((d.round, d.level, d.person) for d in dms(fake)) == [
                (1, 1, "p1l1"),
                (1, 2, "p1l2"),
            ], "each level paged once"
            events = await db.rows(
                "SELECT kind, detail, text FROM timeline_events"
                " WHERE kind IN ('paged', 'late') ORDER BY id"
            )
            assert [e[:2] for e in events if e[0] == "paged"] == [
                ("paged", "level 1"),
                ("paged", "level 2"),
            ]
            (late,) = [e for e in events if e[0] == "late"]
            assert late[1].startswith("late by ") and late[2] == "level 2", late
            (said_2,) = [m.text for m in reports(fake) if "Paged level 2" in m.text]
            assert f"(This page comes {late[1]}: Tocsin was not running" in said_2
            (said_1,) = [m.text for m in reports(fake) if "Paged level 1" in m.text]
            assert "late" not in said_1
        finally:
            for running in (first, second):
                if running is not None and running.process.returncode is None:
                    await running.kill()
            await fake.close()
    assert second is not None and "Traceback" not in second.log


def _aware(value: object) -> datetime:
    """A time as the database gives it back (SQLite's has no zone: it is UTC)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _around(log: str, word: str) -> str:
    at = log.index(word)
    return log[max(0, at - 500) : at + 2500]
