"""Slack ack latency and declare throughput, against a bare bolt app in the same run; and a
burst of commands all at once.

    python -m bench.slack_ack [--requests 100] [--burst 1000] [--database URL]

Signed ``/incident declare`` requests go to Tocsin's /slack/events with the fake Slack Web
API (tests/fakes) at zero latency, at 1, 10 and 50 concurrent requests. Beside it, a bare
bolt app that acks, then makes a channel and posts a card in it through the same fake: the
least a bot that declares incidents does. Prints the ack latency p50/p99 of both and their
ratio, Tocsin's time to its answer (through the response_url, with the channel's link), and
declares per second to "card posted" for both and their ratio. With
``--burst N``, N declares are sent at once and the failures are counted.

Targets (the core v2 issue): acks no slower than before, but for the replay check each
command now makes before its ack (issue 9: one small write of its trigger_id, a few ms on an
idle database); declares to card posted at least half the bare app's rate; no failure in a
burst of 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import logging
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from adapters.slack.platform import SlackPlatform
from adapters.slack.webapi import make_client
from bot.app import open_core
from bot.settings import Settings
from bot.web import make_web_app
from tests.fakes.slack_api import TOKEN, FakeSlack

SECRET = "bench-signing-secret"
LEVELS = (1, 10, 50)
Drain = Callable[[], Awaitable[None]]


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


_TRIGGERS = count(1)


def command(fake: FakeSlack, text: str, key: str = "r1") -> str:
    """A signed-to-be slash command; each its own ``trigger_id``, as Slack gives it (one
    already seen is a replay, answered and not run)."""
    return urlencode(
        {
            "command": "/incident",
            "text": text,
            "user_id": "U1ALICE",
            "user_name": "alice",
            "channel_id": "C0ANNOUNCE",
            "channel_name": "incidents",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "response_url": fake.response_url(key),
            "trigger_id": f"t-{next(_TRIGGERS)}",
        }
    )


async def fire(
    url: str, bodies: list[str], concurrency: int, sent: dict[str, float] | None = None
) -> tuple[list[float], int]:
    """Send every body with at most ``concurrency`` in flight; return the ack latencies
    (s) and how many were not acknowledged with a 200. ``sent``: when each body went, by
    its position."""
    latencies: list[float] = []
    failed = 0
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), timeout=timeout
    ) as http:

        async def one(position: int, body: str) -> None:
            nonlocal failed
            async with gate:
                started = time.perf_counter()
                if sent is not None:
                    sent[str(position)] = time.time()
                try:
                    async with http.post(url, data=body.encode(), headers=signed(body)) as response:
                        await response.read()
                        failed += response.status != 200
                except (aiohttp.ClientError, TimeoutError):
                    failed += 1
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(n, b) for n, b in enumerate(bodies)))
    return latencies, failed


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def bare_app(fake: FakeSlack) -> tuple[TestServer, Drain]:
    """A bolt app that acks, then makes a channel and posts a card in it."""
    bolt = AsyncApp(client=make_client(TOKEN, fake.url), signing_secret=SECRET)
    tasks: set[asyncio.Task[Any]] = set()
    serial = count(1)

    async def declare(client: Any, text: str) -> None:
        made = await client.conversations_create(name=f"bare-{next(serial)}")
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        await client.chat_postMessage(channel=made["channel"]["id"], text=text, blocks=blocks)

    @bolt.command("/incident")
    async def on_command(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        task = asyncio.create_task(declare(client, body["text"]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()

    async def drain() -> None:
        while tasks:
            await asyncio.gather(*list(tasks))

    return server, drain


async def tocsin_app(
    fake: FakeSlack, folder: Path, database: str | None
) -> tuple[TestServer, Drain, Drain]:
    """Tocsin on /slack/events: (server, wait for the work after the acks, close)."""
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url}
    url = database or f"sqlite+aiosqlite:///{folder / 'bench.db'}"
    # No pacing (one post a second per channel): it would measure the announce channel.
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0)
    try:  # the plugin layout (the core v2 issue); the bench also runs on the code before it
        from adapters.slack.plugin import SlackSettings, mount_slack
        from bot.plugins import Host

        settings = Settings(database_url=url, env=env)
        core = await open_core(settings, {platform.name: platform})
        web_app = make_web_app(core)
        slack = SlackSettings.from_env(env)
        assert slack is not None
        adapter = mount_slack(Host(core, web_app, settings), slack, platform).adapter
        if core.worker is not None:
            await core.worker.start()
    except ImportError:
        from bot.app import mount_slack as mount_before  # type: ignore[attr-defined]

        settings = Settings(  # type: ignore[call-arg]
            database_url=url,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=fake.url,
        )
        core = await open_core(settings, {platform.name: platform})
        web_app = make_web_app(core.engine, core.service.counts)  # type: ignore[arg-type,call-arg]
        adapter = mount_before(core, platform, web_app)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()

    async def drain() -> None:
        await adapter.drain()
        settle = getattr(core, "settle", None)
        if settle is not None:
            await settle(within=30)
        await adapter.drain()

    async def close() -> None:
        await server.close()
        await core.aclose()

    return server, drain, close


def cards_since(fake: FakeSlack, seen: int, prefix: str) -> list[float]:
    """When each card (a message with blocks in a channel named ``prefix…``) was posted."""
    names = {c["id"]: c["name"] for c in fake.channels.values()}
    return [
        float(m.ts)
        for m in fake.messages[seen:]
        if m.blocks and names.get(m.channel, "").startswith(prefix)
    ]


async def level_run(
    fake: FakeSlack,
    ours: TestServer,
    drain: Drain,
    bare: TestServer,
    drain_bare: Drain,
    requests: int,
    level: int,
    serial: int,
) -> str:
    keys = [f"b{serial + i}" for i in range(requests)]
    bodies = [command(fake, f"declare Bench {k} --sev 3", k) for k in keys]
    seen, started = len(fake.messages), time.time()
    sent: dict[str, float] = {}
    ours_lat, ours_failed = await fire(str(ours.make_url("/slack/events")), bodies, level, sent)
    await drain()
    cards = cards_since(fake, seen, "inc-")
    assert len(cards) == requests and not ours_failed, "every declare posted its card"
    ours_rate = requests / (max(cards) - started)
    answered = {r["key"]: r["at"] for r in fake.responses if r["key"] in keys}
    assert len(answered) == requests, "every declarer was answered"
    a50, a99 = quantiles([answered[k] - sent[str(n)] for n, k in enumerate(keys)])
    seen, started = len(fake.messages), time.time()
    hello = [command(fake, "hello") for _ in range(requests)]
    bare_lat, _ = await fire(str(bare.make_url("/slack/events")), hello, level)
    await drain_bare()
    bare_rate = requests / (max(cards_since(fake, seen, "bare-")) - started)
    (o50, o99), (b50, b99) = quantiles(ours_lat), quantiles(bare_lat)
    return (
        f"| {level} | {o50:.1f} / {o99:.1f} | {a50:.0f} / {a99:.0f} | {b50:.1f} / {b99:.1f} "
        f"| {o99 / b99:.2f}× | {ours_rate:.1f} | {bare_rate:.1f} | {ours_rate / bare_rate:.2f}× |"
    )


async def main(requests: int, burst: int, database: str | None) -> None:
    logging.basicConfig(level=logging.ERROR)
    fake = FakeSlack()
    await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        ours, drain, close = await tocsin_app(fake, Path(folder), database)
        bare, drain_bare = await bare_app(fake)
        print(f"{requests} signed /incident declares per level; fake Slack at zero latency")
        print(
            "| concurrent | tocsin ack p50 / p99 ms | tocsin answer p50 / p99 ms "
            "| bare ack p50 / p99 ms | ack p99 ratio | tocsin declares/s to card "
            "| bare declares/s to card | rate ratio |"
        )
        print("|---|---|---|---|---|---|---|---|")
        serial = 0
        for level in LEVELS:
            print(await level_run(fake, ours, drain, bare, drain_bare, requests, level, serial))
            serial += requests
        if burst:
            bodies = [command(fake, f"declare Burst {n} --sev 3") for n in range(burst)]
            seen, started = len(fake.messages), time.time()
            _lat, failed = await fire(str(ours.make_url("/slack/events")), bodies, burst)
            await drain()
            cards = cards_since(fake, seen, "inc-")
            took = (max(cards) - started) if cards else float("nan")
            print(
                f"\nburst of {burst} declares at once: {failed} not acknowledged, "
                f"{burst - len(cards)} without a card; all cards posted in {took:.1f} s"
            )
        await bare.close()
        await close()
    await fake.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--burst", type=int, default=0, help="then N declares at once")
    parser.add_argument("--database", help="an empty database's URL (default: a new SQLite file)")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.burst, args.database))
