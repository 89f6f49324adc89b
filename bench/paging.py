"""Timed pages: escalation steps pending in the database, falling due over one minute,
fired by real ``tocsin run`` workers through the real effects, on SQLite and PostgreSQL,
with one and with two processes.

    python -m bench.paging [--count 10000] [--spread 60] [--processes 1 2]
                           [--postgres URL] [--no-sqlite]

For each database and number of processes: the worker processes start (each opens the
core and starts its worker, with its APScheduler clock and its sweep every 2 s, as
``tocsin run`` does, on the system clock), and their memory is read. Then ``--count``
incidents paging level 1 of a two-level policy are written straight into the database,
each with its ``incident.page`` row for level 2 pending, due times spread evenly over the
next ``--spread`` seconds; rows written by another process, so the workers learn of them
only by looking in the table, as after a restart or from another replica. Each step
fires through the real effects (``incident.page`` pages Bob, ``page.send`` posts the page
as a card in his direct messages and tells the incident's channel) to a platform that
answers at once and notes when each page's card was posted.

Printed: the lateness of each page (from its row's due time to its card posted: p50, p99,
max); the cost of a sweep (its claim statement over the pending rows, alone, and within
the running workers, where it also waits for a turn to write), with the claim's query plan;
each process's memory growth (RSS from before the rows exist to when all pages are sent,
and its peak); whether every page was sent exactly once across the processes.

Targets (issue 10): p99 lateness under 1 s, a sweep under 50 ms, under 50 MB for the
10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from bench.core_cost import POSTGRES, with_postgres_database
from bot import paging
from bot.app import Core, open_core
from bot.jobs import PAGE, PAGE_SEND, subject
from bot.settings import Settings
from storage import jobs
from storage.models import ChannelBinding, Incident, Job, Page

ROOT = Path(__file__).resolve().parents[1]
LEAD = 3.0
"""Seconds between the rows being written and the first falling due."""
STEP = paging.step_of(1, 1, 2)
"""The step every row fires: level 2 of round 1 of the first cycle."""
TARGETS = {"p99 lateness": 1.0, "sweep": 0.050, "memory": 50.0}

CONFIG = """
[people.alice]
name = "Alice"
fake = "U1ALICE"
[people.bob]
name = "Bob"
fake = "U2BOB"

[severities.SEV1]
label = "critical"

[policies.default]
repeat = 0

[[policies.default.levels]]
targets = ["person:alice"]
escalate_after = "1h"

[[policies.default.levels]]
targets = ["person:bob"]
escalate_after = "1h"
"""


class Worker:
    """A worker process, its standard error read as it comes (so it never blocks)."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, config: Path) -> Worker:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.paging_worker",
            url,
            str(config),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=2**26,
        )
        worker = cls(process)
        await worker._line(60)  # ready
        return worker

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log += line.decode()

    async def _line(self, within: float) -> str:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), within)
        except TimeoutError:
            line = b""
        if not line:
            await asyncio.sleep(0.5)
            raise SystemExit(f"a worker process gave no answer:\n{self.log[-3000:]}")
        return line.decode()

    async def stop(self) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(b"stop\n")
        await self.process.stdin.drain()
        report: dict[str, Any] = json.loads(await self._line(60))
        await self.process.wait()
        await self._reader
        return report


async def write_incidents(core: Core, count: int, now: datetime) -> None:
    """``count`` incidents paging level 1, each with its channel: incidents 1 to count."""
    incidents = [
        Incident(
            title=f"Bench {n}",
            severity=1,
            status="triggered",
            commander_key="alice",
            commander_name="Alice",
            declared_by_key="alice",
            declared_by_name="Alice",
            declared_on="fake",
            platform="fake",
            declared_at=now,
            updated_at=now,
            last_update_at=now,
            version=1,
            paging=paging.ACTIVE,
            page_policy="default",
            page_cycle=1,
            page_round=1,
            page_level=1,
        ).model_dump(exclude={"id"})
        for n in range(1, count + 1)
    ]
    await _bulk(core, Incident, incidents)
    async with core.sessions() as session:
        numbers = (await session.exec(select(func.min(Incident.id), func.max(Incident.id)))).one()
    assert tuple(numbers) == (1, count), numbers
    bindings = [
        ChannelBinding(
            incident_id=n,
            platform="fake",
            channel_id=f"C{n}",
            channel_name=f"inc-{n}-bench",
            created_at=now,
        ).model_dump(exclude={"id"})
        for n in range(1, count + 1)
    ]
    await _bulk(core, ChannelBinding, bindings)


async def write_steps(core: Core, count: int, spread: float, now: datetime) -> list[float]:
    """Each incident's level-2 row, pending, due evenly over ``spread`` seconds from
    ``LEAD`` seconds on; returns each one's due time (epoch seconds), by incident."""
    first = now + timedelta(seconds=LEAD)
    gap = spread / count
    due = [first + timedelta(seconds=gap * i) for i in range(count)]
    rows = [
        jobs.make(
            PAGE, subject(n), now=now, due_at=due[n - 1], step=STEP, platform="fake"
        ).model_dump(exclude={"id"})
        for n in range(1, count + 1)
    ]
    await _bulk(core, Job, rows)
    return [d.timestamp() for d in due]


async def _bulk(core: Core, model: Any, rows: list[dict[str, Any]]) -> None:
    async with core.engine.begin() as conn:
        for start in range(0, len(rows), 1000):
            await conn.execute(insert(model), rows[start : start + 1000])


async def probe_sweeps(core: Core, repeat: int) -> tuple[list[float], list[float], str]:
    """A sweep's two statements run alone, ``repeat`` times, over the pending rows (none due
    yet): its claim (which claims nothing) and its look-ahead (the rows due within two
    intervals: a few hundred); and how the database plans them."""
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if len(seen) < 2 and "FROM jobs" in statement and "count" not in statement:
            seen.append((statement, parameters))

    sync = core.engine.sync_engine
    event.listen(sync, "before_cursor_execute", capture)
    claims, looks = [], []
    now, every = datetime.now(UTC), Settings().sweep_every  # before the first row falls due
    for _ in range(repeat):
        started = time.perf_counter()
        claimed = await jobs.claim_due(
            core.sessions,
            owner="bench-probe",
            now=now,
            lease=timedelta(seconds=30),
            platforms=["fake"],
            limit=32,
        )
        claims.append(time.perf_counter() - started)
        assert not claimed, "the probe claimed rows: it ran after they fell due"
        started = time.perf_counter()
        await jobs.due_soon(core.sessions, after=now, until=now + 2 * every, platforms=["fake"])
        looks.append(time.perf_counter() - started)
    event.remove(sync, "before_cursor_execute", capture)
    explain = "EXPLAIN QUERY PLAN " if core.engine.dialect.name == "sqlite" else "EXPLAIN "
    lines = []
    async with core.engine.connect() as conn:
        for name, (statement, parameters) in zip(("claim", "look-ahead"), seen, strict=True):
            plan = (await conn.exec_driver_sql(explain + statement, parameters)).all()
            lines += [f"    {name}:"] + [f"      {row[-1]}" for row in plan]
    return claims, looks, "\n".join(lines)


async def count(core: Core, query: Any) -> int:
    async with core.sessions() as session:
        return int((await session.exec(query)).one())


def jobs_where(*conditions: Any) -> Any:
    return select(func.count()).select_from(Job).where(*conditions)


SENT = select(func.count()).select_from(Page).where(col(Page.status) == paging.SENT)
SENDING = jobs_where(col(Job.kind) == PAGE_SEND, col(Job.status).in_([jobs.PENDING, jobs.RUNNING]))
CHECKS = {
    "page rows": select(func.count()).select_from(Page),
    "page rows of the same level and person": select(func.count()).select_from(
        select(Page.incident_id)
        .group_by(col(Page.incident_id), col(Page.level), col(Page.person_key))
        .having(func.count() > 1)
        .subquery()
    ),
    "rows tried twice": jobs_where(col(Job.kind).in_([PAGE, PAGE_SEND]), col(Job.attempts) > 1),
    "steps not done": jobs_where(
        col(Job.kind) == PAGE, col(Job.step) == STEP, col(Job.status) != jobs.DONE
    ),
}


async def one_case(
    url: str, processes: int, number: int, spread: float, wait: float, folder: Path
) -> None:
    config = folder / "tocsin.toml"
    config.write_text(CONFIG)
    core = await open_core(Settings(database_url=url, config_path=config), {}, worker=False)
    workers: list[Worker] = []
    try:  # the database is migrated (by open_core); this process takes no jobs
        for _ in range(processes):
            workers.append(await Worker.start(url, config))
        await write_incidents(core, number, datetime.now(UTC))
        due = await write_steps(core, number, spread, datetime.now(UTC))
        if core.engine.dialect.name == "postgresql":  # as autovacuum soon would
            async with core.engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        probe, looks, plan = await probe_sweeps(core, 50)
        while time.time() < due[-1] + wait:
            if await count(core, SENT) >= number and await count(core, SENDING) == 0:
                break
            await asyncio.sleep(0.25)
        reports = [await w.stop() for w in workers]
        checks = {name: await count(core, query) for name, query in CHECKS.items()}
    finally:
        for w in workers:
            if w.process.returncode is None:
                w.process.kill()
                await w.process.wait()
        await core.aclose()
    title = f"{make_url(url).get_backend_name()}, {processes} process(es)"
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"\n{title}: {number} steps due over {spread:g} s (load average now {load})")
    report(due, probe, looks, plan, reports, checks)
    for n, w in enumerate(workers, start=1):
        noted = [line for line in w.log.splitlines() if line.startswith(("WARNING", "ERROR"))]
        if noted:
            print(f"  process {n} logged {len(noted)} warning(s) or error(s), e.g.:")
            print("\n".join(f"    {line[:200]}" for line in noted[:5]))


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[round(q * (len(ordered) - 1))] if ordered else float("nan")


def ms(values: Sequence[float]) -> str:
    return f"p50 {pct(values, 0.5) * 1000:6.1f} ms, p99 {pct(values, 0.99) * 1000:6.1f} ms"


def ratio(value: float, target: float) -> str:
    return f"{value / target:.2f}× target ({'ok' if value < target else 'MISSED'})"


def report(
    due: list[float],
    probe: list[float],
    looks: list[float],
    plan: str,
    reports: list[dict[str, Any]],
    checks: dict[str, int],
) -> None:
    posts: dict[int, list[float]] = {}
    for r in reports:
        for n, times in r["sent"].items():
            posts.setdefault(int(n), []).extend(times)
    late = [min(times) - due[n - 1] for n, times in posts.items()]
    doubled = sum(len(times) > 1 for times in posts.values())
    first = min((min(t) for t in posts.values()), default=0.0)
    last = max((max(t) for t in posts.values()), default=0.0)
    p99 = pct(late, 0.99)
    print(
        f"  lateness, due → card posted: {ms(late)}, max {max(late, default=0) * 1000:.0f} ms;"
        f" p99 {ratio(p99, TARGETS['p99 lateness'])}"
    )
    print(
        f"  pages posted: {len(posts)} of {len(due)}, {doubled} twice, "
        f"{len(due) - len(posts)} never; by process {[len(r['sent']) for r in reports]}; "
        f"{len(posts) / max(last - first, 1e-9):.0f} a second; the last "
        f"{last - due[-1]:+.1f} s after the last fell due"
    )
    print(f"  database: {', '.join(f'{k} {v}' for k, v in checks.items())}")
    claims = [s for r in reports for s in r["statements"]]
    whole = [s for r in reports for s in r["sweeps"]]
    claimed = [c for r in reports for c in r["claimed"]]
    whole_probe = [a + b for a, b in zip(probe, looks, strict=True)]
    print(
        f"  a sweep alone over the pending rows: {ms(whole_probe)} (its claim {ms(probe)}; its "
        f"look-ahead {ms(looks)}); p99 {ratio(pct(whole_probe, 0.99), TARGETS['sweep'])}"
    )
    print(
        f"  {len(whole)} sweeps while firing ({statistics.mean(claimed or [0]):.1f} rows "
        f"claimed each): the claim {ms(claims)}, p99 {ratio(pct(claims, 0.99), TARGETS['sweep'])};"
        f" whole, with its wait for a turn to write: {ms(whole)}"
    )
    print(f"  as the database plans them:\n{plan}")
    for n, r in enumerate(reports, start=1):
        before, after = r["before"]["VmRSS"] / 1024, r["after"]["VmRSS"] / 1024
        peak = r["after"]["VmHWM"] / 1024
        print(
            f"  process {n} RSS: {before:.0f} MB → {after:.0f} MB, +{after - before:.1f} MB "
            f"(peak +{peak - before:.1f} MB, of which the fake platform's records "
            f"{r['fake_bytes'] / 2**20:.1f} MB); {ratio(after - before, TARGETS['memory'])}; "
            f"CPU {r['cpu']:.1f} s, {r['cpu'] * 1000 / max(len(r['sent']), 1):.1f} ms a page"
        )


async def main(args: argparse.Namespace) -> None:
    for processes in args.processes if not args.no_sqlite else []:
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
            await one_case(url, processes, args.count, args.spread, args.wait, Path(folder))
    for processes in args.processes if args.postgres else []:
        with tempfile.TemporaryDirectory() as folder:

            async def case(url: str, p: int = processes, f: str = folder) -> None:
                await one_case(url, p, args.count, args.spread, args.wait, Path(f))

            await with_postgres_database(args.postgres, case)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="steps due (10000)")
    parser.add_argument("--spread", type=float, default=60.0, help="seconds they fall due over")
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait after the last falls due"
    )
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--postgres", default=POSTGRES, help="'' to skip PostgreSQL")
    parser.add_argument("--no-sqlite", action="store_true")
    asyncio.run(main(parser.parse_args()))
