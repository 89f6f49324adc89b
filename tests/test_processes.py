"""Real ``tocsin run`` processes killed, stopped and run side by side: an acknowledged
declare is never lost (a process SIGKILLed at any step of it is completed by the next to
run), SIGTERM exits within 10 seconds even while a platform call hangs, and two replicas
on one PostgreSQL finish every declare either acknowledged, when one of them is killed in
the middle of a burst."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import text

from storage.engine import create_engine
from tests.cli import Running, tocsin_env
from tests.fakes.discord_api import ALICE, ANNOUNCE_ID, FakeDiscord, Interaction
from tests.fakes.slack_api import TOKEN as SLACK_TOKEN
from tests.fakes.slack_api import FakeSlack
from tests.test_crash_safety import (
    check_discord_incident,
    check_slack_incident,
    discord_steps,
    slack_steps,
)

SECRET = "process-signing-secret"
QUICK = {"TOCSIN_JOB_LEASE": "1s", "TOCSIN_SWEEP_EVERY": "1s", "TOCSIN_HTTP_PORT": "0"}


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def slack_env(database_url: str, fake: FakeSlack, **extra: str) -> dict[str, str]:
    return tocsin_env(
        database_url,
        SLACK_BOT_TOKEN=SLACK_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
        **{**QUICK, **extra},
    )


async def declare(
    http: aiohttp.ClientSession, port: int, fake: FakeSlack, title: str, key: str
) -> int:
    """``/incident declare <title>`` signed as Slack signs it; the HTTP status of the ack."""
    body = urlencode(
        {
            "command": "/incident",
            "text": f"declare {title}",
            "user_id": "U1ALICE",
            "user_name": "alice",
            "channel_id": "C0ANNOUNCE",
            "channel_name": "incidents",
            "team_id": "T0001",
            "response_url": fake.response_url(key),
            "trigger_id": f"t-{key}",  # each command its own, as Slack gives it
        }
    )
    url = f"http://127.0.0.1:{port}/slack/events"
    async with http.post(url, data=body.encode(), headers=signed(body)) as response:
        return response.status


async def until(check: object, within: float = 60) -> None:
    """Wait until ``check()`` stops raising AssertionError; raise its last one if never."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            check()  # type: ignore[operator]
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(0.2)


async def test_a_slack_declare_killed_at_any_step_completes_after_a_restart(
    sqlite_url: str, tmp_path: Path
) -> None:
    fake = FakeSlack()
    await fake.start()
    env = slack_env(sqlite_url, fake)
    first = await Running.start(tmp_path, env, "listening on")
    steps = slack_steps(fake)
    try:
        async with aiohttp.ClientSession() as http:
            for step, when in steps.items():
                # Each declare is stuck at its step (done but unanswered, where a retry can
                # look) when the process is killed.
                fault = fake.fault(when, "stall" if step == "answer" else "lost")
                assert await declare(http, first.port, fake, f"Step {step}", f"step-{step}") == 200
                await until(lambda f=fault: _hit(f), within=30)
        await first.kill()
        second = await Running.start(tmp_path, env, "listening on")
        try:
            for number, step in enumerate(steps, start=1):
                await until(lambda n=number, s=step: check_slack_incident(fake, n, s))
        finally:
            assert await second.stop() == 0
    finally:
        if first.process.returncode is None:
            await first.kill()
        await fake.close()
    assert "Traceback" not in second.log


def _hit(fault: object) -> None:
    assert getattr(fault, "hits", 0) == 1


async def test_a_discord_declare_killed_at_any_step_completes_after_a_restart(
    sqlite_url: str, tmp_path: Path
) -> None:
    fake = FakeDiscord()
    await fake.start()
    env = tocsin_env(sqlite_url, **fake.env(), **QUICK)
    first = await Running.start(tmp_path, env, "Discord: connected as")
    steps = discord_steps(fake)
    asked: list[Interaction] = []
    try:
        # discord.py sends one call of a route at a time until Discord's answers say how many
        # may be under way: one incident first, so a call stuck later holds up no other.
        warm = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Step warm-up")
        await asyncio.wait_for(warm.edited.wait(), 30)
        for step, when in steps.items():
            fault = fake.fault(when, "lost")
            record = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title=f"Step {step}")
            await asyncio.wait_for(record.answered.wait(), 30)
            asked.append(record)
            await until(lambda f=fault: _hit(f), within=30)
        await first.kill()
        second = await Running.start(tmp_path, env, "Discord: connected as")
        try:
            for number, (step, record) in enumerate(zip(steps, asked, strict=True), start=2):
                await until(
                    lambda n=number, s=step, r=record: check_discord_incident(fake, n, s, r)
                )
        finally:
            assert await second.stop() == 0
    finally:
        if first.process.returncode is None:
            await first.kill()
        await fake.close()
    assert "Traceback" not in second.log


async def job_rows(url: str) -> list[tuple[str, str, str]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT kind, status, last_error FROM jobs ORDER BY id"))
            return [(r[0], r[1], r[2]) for r in rows]
    finally:
        await engine.dispose()


@pytest.mark.parametrize("trouble", ["hang", "retry-after"])
async def test_sigterm_exits_within_ten_seconds_while_a_platform_call_hangs(
    sqlite_url: str, tmp_path: Path, trouble: str
) -> None:
    fake = FakeSlack()
    await fake.start()
    env = slack_env(sqlite_url, fake, TOCSIN_EFFECT_TIMEOUT="5m")
    running = await Running.start(tmp_path, env, "listening on")
    try:
        if trouble == "hang":
            stuck = fake.fault(
                lambda m, a: m == "chat.postMessage" and bool(a.get("blocks")), "stall"
            )
        else:
            fake.limit_next("chat.postMessage", retry_after=3600)
        async with aiohttp.ClientSession() as http:
            assert await declare(http, running.port, fake, "Stuck", "stuck") == 200
        if trouble == "hang":
            await until(lambda: _hit(stuck), within=30)
        else:
            await running.wait_for("comes back in 3600 s")
        started = time.monotonic()
        code = await running.stop(within=15)
        took = time.monotonic() - started
    finally:
        if running.process.returncode is None:
            await running.kill()
    try:
        assert code == 0 and took < 10, f"exit {code} after {took:.1f} s"
        (open_job, *_rest) = await job_rows(sqlite_url)
        assert open_job[:2] == ("incident.open", "pending"), "handed back, not lost"
        if trouble == "retry-after":
            assert "rate-limited" in open_job[2]
        else:
            # The next start finishes it (the hang is over).
            again = await Running.start(tmp_path, env, "listening on")
            try:
                await until(lambda: check_slack_incident_titled(fake, 1, "stuck"))
            finally:
                assert await again.stop() == 0
    finally:
        await fake.close()
    assert "Traceback" not in running.log


def check_slack_incident_titled(fake: FakeSlack, number: int, slug: str) -> None:
    (room,) = [c for c in fake.channels.values() if c["name"] == f"inc-{number}-{slug}"]
    cards = [m for m in fake.in_channel(room["id"]) if m.blocks]
    assert len(cards) == 1 and fake.pins[room["id"]] == {cards[0].ts}
    assert [r for r in fake.responses if f"<#{room['id']}>" in r["text"]]


@pytest.mark.postgres
async def test_two_replicas_finish_every_acknowledged_declare_when_one_is_killed(
    empty_database_url: str, tmp_path: Path
) -> None:
    """40 declares spread over two replicas on one PostgreSQL; one is SIGKILLed mid-burst.
    Every declare that was acknowledged (HTTP 200) ends complete."""
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database")
    fake = FakeSlack()
    await fake.start()
    env = slack_env(empty_database_url, fake)
    one = await Running.start(tmp_path, env, "listening on")
    two = await Running.start(tmp_path, env, "listening on")
    acked: list[str] = []
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:

            async def send(n: int) -> None:
                target = one if n % 2 else two
                try:
                    if await declare(http, target.port, fake, f"Burst {n}", f"burst-{n}") == 200:
                        acked.append(f"burst-{n}")
                except (aiohttp.ClientError, TimeoutError):
                    pass  # refused by the killed replica: not acknowledged

            gate = asyncio.Semaphore(8)

            async def paced(n: int) -> None:
                async with gate:
                    await send(n)

            burst = [asyncio.create_task(paced(n)) for n in range(40)]
            await until(lambda: _at_least(len(acked), 12), within=60)
            await one.kill()
            await asyncio.gather(*burst)

        def complete() -> None:
            for key in acked:
                number = int(key.split("-")[1])
                rooms = [
                    c for c in fake.channels.values() if c["name"].endswith(f"-burst-{number}")
                ]
                assert len(rooms) == 1, key
                room = rooms[0]["id"]
                cards = [m for m in fake.in_channel(room) if m.blocks]
                assert len(cards) == 1 and fake.pins[room] == {cards[0].ts}, key
                incident = rooms[0]["name"].split("-")[1]
                announced = [
                    m
                    for m in fake.in_channel("C0ANNOUNCE")
                    if f"New incident INC-{incident}*" in m.text
                ]
                assert len(announced) == 1, key
                told = [r for r in fake.responses if r["key"] == key]
                # A response_url keeps nothing to look up: an answer sent just before the
                # kill may be sent again by the replica that takes over.
                assert 1 <= len(told) <= 2, key

        try:
            await until(complete, within=90)
        except AssertionError:
            print("JOBS", await job_rows(empty_database_url), "\nLOG", two.log[-3000:])
            raise
        assert len(acked) >= 20, f"only {len(acked)} of 40 were acknowledged"
    finally:
        for running in (one, two):
            if running.process.returncode is None:
                await running.kill()
        await fake.close()
    assert "Traceback" not in two.log


def _at_least(value: int, minimum: int) -> None:
    assert value >= minimum
