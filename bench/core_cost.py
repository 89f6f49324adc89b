"""What one command costs the core: SQL statements, connections taken from the pool, and
time, through the dispatcher with the recording platform, on SQLite and PostgreSQL.

    python -m bench.core_cost [--repeat 30] [--events 10000] [--postgres URL] [--paging]

Counts everything a command causes, its effects included (the worker is waited for), so
the figures before and after a change of shape compare like with like. The second table
shows whether a change costs more on an incident with a long timeline: a note, an ack and
a status update at 10 and at ``--events`` timeline events (target: within 1.5×).
``--paging`` declares incidents of a severity that pages one person (its first level's
page and the channel's report are in the declare; the ack stops it and redraws the page).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert
from sqlalchemy.engine import make_url

from bot.app import Core, open_core
from bot.clock import ManualClock
from bot.inbound import Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage.models import TimelineEvent

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass
class Counter:
    statements: int = 0
    checkouts: int = 0

    def attach(self, core: Core) -> None:
        sync = core.engine.sync_engine

        def on_statement(*_args: Any) -> None:
            self.statements += 1

        def on_checkout(*_args: Any) -> None:
            self.checkouts += 1

        event.listen(sync, "before_cursor_execute", on_statement)
        event.listen(sync.pool, "checkout", on_checkout)

    def reset(self) -> None:
        self.statements = self.checkouts = 0


class Bench:
    def __init__(self, core: Core, platform: RecordingPlatform, clock: ManualClock) -> None:
        self.core, self.platform, self.clock = core, platform, clock
        self.counter = Counter()
        self.counter.attach(core)
        self.lobby = ChannelRef("incidents", "incidents")

    async def settle(self) -> None:
        """Wait for the effects a command caused (a no-op where the core has no worker)."""
        drain: Callable[[], Awaitable[None]] | None = getattr(self.core, "drain", None)
        if drain is not None:
            await drain()

    async def run(self, text: str, channel: ChannelRef | None = None, who: str = "alice") -> None:
        self.clock.advance(timedelta(seconds=1))
        reply = await self.core.dispatcher.command(
            Command(self.platform.name, UserRef(who, who), channel or self.lobby, text)
        )
        assert reply.ok, reply.text
        await self.settle()

    def room(self, number: int) -> ChannelRef:
        return next(
            c for c in self.platform.channels.values() if c.name.startswith(f"inc-{number}-")
        )

    async def measure(self, make: Callable[[int], Awaitable[None]], repeat: int) -> tuple:
        """(statements, checkouts, median ms) of ``make(i)`` over ``repeat`` runs."""
        times, statements, checkouts = [], [], []
        for i in range(repeat):
            self.counter.reset()
            started = time.perf_counter()
            await make(i)
            times.append((time.perf_counter() - started) * 1000)
            statements.append(self.counter.statements)
            checkouts.append(self.counter.checkouts)
        return statistics.median(statements), statistics.median(checkouts), statistics.median(times)


async def fill_timeline(core: Core, number: int, count: int, at: datetime) -> None:
    rows = [
        {
            "incident_id": number,
            "at": at,
            "kind": "message",
            "detail": "",
            "actor_key": "bob",
            "actor_name": "Bob",
            "text": f"message {n}",
        }
        for n in range(count)
    ]
    async with core.engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(TimelineEvent), rows[start : start + 1000])


PAGING = """
[people.alice]
name = "Alice"
fake = "alice"
[people.bob]
name = "Bob"
fake = "bob"
[policies.default]
[[policies.default.levels]]
targets = ["person:bob"]
escalate_after = "5m"
"""


async def one_backend(url: str, repeat: int, events: int, config: Path | None = None) -> None:
    platform, clock = RecordingPlatform(), ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    settings = Settings(database_url=url, config_path=config)
    core = await open_core(settings, {platform.name: platform}, clock=clock)
    bench = Bench(core, platform, clock)
    try:
        declared = 0

        async def declare(i: int) -> None:
            nonlocal declared
            await bench.run(f"declare Bench incident {i} --sev 2")
            declared += 1

        paging = " (SEV2 pages one person)" if config else ""
        print(f"\n{make_url(url).get_backend_name()}{paging}: per command, effects included")
        print(f"{'command':>10} | {'statements':>10} | {'connections':>11} | {'median ms':>9}")
        figures = {"declare": await bench.measure(declare, repeat)}
        rooms = [bench.room(n) for n in range(1, declared + 1)]
        figures["ack"] = await bench.measure(lambda i: bench.run("ack", rooms[i]), repeat)
        figures["note"] = await bench.measure(lambda i: bench.run("note a note", rooms[i]), repeat)
        figures["status"] = await bench.measure(
            lambda i: bench.run("status identified found it", rooms[i]), repeat
        )
        for name, (statements, checkouts, ms) in figures.items():
            print(f"{name:>10} | {statements:>10.0f} | {checkouts:>11.0f} | {ms:>9.1f}")

        print(f"\ncost at 10 and at {events} timeline events (median ms)")
        print(f"{'command':>10} | {'10':>8} | {events:>8} | {'ratio':>6}")
        small, large = declared + 1, declared + 2
        await bench.run("declare Small timeline --sev 3")
        await bench.run("declare Large timeline --sev 3")
        await fill_timeline(core, small, 10, clock.now())
        await fill_timeline(core, large, events, clock.now())

        def said(text: str, room: Any, i: int) -> Awaitable[Any]:
            # Each status update says something new: the same one again is refused.
            return bench.run(f"{text} {i}" if text.startswith("status") else text, room)

        for name, text in (("ack", "ack"), ("note", "note n"), ("status", "status monitoring m")):
            costs = []
            for number in (small, large):
                room = bench.room(number)
                reps = 1 if name == "ack" else max(3, repeat // 3)
                costs.append((await bench.measure(partial(said, text, room), reps))[2])
            ratio = costs[1] / costs[0]
            print(f"{name:>10} | {costs[0]:>8.1f} | {costs[1]:>8.1f} | {ratio:>5.2f}×")
    finally:
        await core.aclose()


async def main(repeat: int, events: int, postgres: str | None, paging: bool) -> None:
    with tempfile.TemporaryDirectory() as folder:
        config = None
        if paging:
            config = Path(folder) / "tocsin.toml"
            config.write_text(PAGING)
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        await one_backend(url, repeat, events, config)
        if postgres:
            await with_postgres_database(
                postgres, lambda url: one_backend(url, repeat, events, config)
            )


async def with_postgres_database(url: str, work: Callable[[str], Awaitable[None]]) -> None:
    import asyncpg

    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"tocsin_bench_{os.getpid()}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        try:
            await work(make_url(url).set(database=name).render_as_string(hide_password=False))
        finally:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--events", type=int, default=10000)
    parser.add_argument("--postgres", default=POSTGRES, help="'' to skip PostgreSQL")
    parser.add_argument("--paging", action="store_true", help="a severity that pages")
    args = parser.parse_args()
    asyncio.run(main(args.repeat, args.events, args.postgres or None, args.paging))
