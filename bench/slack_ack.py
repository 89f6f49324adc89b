"""Slack ack latency and declare throughput, against a bare bolt app in the same run.

    python -m bench.slack_ack [--requests 100]

Signed ``/incident declare`` requests go to Tocsin's /slack/events with the fake Slack Web
API (tests/fakes) at zero latency, at 1, 10 and 50 concurrent requests. Beside it, a bare
bolt app that acks and posts one message through the same fake. Prints ack latency
p50/p99 for both and their ratio, and Tocsin's declares per second to "card posted".
Targets (the Slack issue): ack p99 under 100 ms at 50 concurrent; ours within 1.5× of bare.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from adapters.slack.platform import SlackPlatform, make_client
from bot.app import mount_slack, open_core
from bot.settings import Settings
from bot.web import make_web_app
from tests.fakes.slack_api import TOKEN, FakeSlack

SECRET = "bench-signing-secret"
LEVELS = (1, 10, 50)


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def command(fake: FakeSlack, text: str) -> str:
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
            "response_url": fake.response_url(),
            "trigger_id": "t",
        }
    )


async def fire(url: str, bodies: list[str], concurrency: int) -> list[float]:
    """Send every body with at most ``concurrency`` in flight; return ack latencies (s)."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:

        async def one(body: str) -> None:
            async with gate:
                started = time.perf_counter()
                async with http.post(url, data=body.encode(), headers=signed(body)) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(one(b) for b in bodies))
    return latencies


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


async def bare_app(fake: FakeSlack) -> tuple[TestServer, Callable[[], Awaitable[None]]]:
    """A bolt app that acks and posts one message, the least any Slack app does."""
    bolt = AsyncApp(client=make_client(TOKEN, fake.url), signing_secret=SECRET)
    tasks: set[asyncio.Task[Any]] = set()

    @bolt.command("/incident")
    async def on_command(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        task = asyncio.create_task(
            client.chat_postMessage(channel=body["channel_id"], text=body["text"])
        )
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


async def main(requests: int) -> None:
    fake = FakeSlack()
    await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}",
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=fake.url,
        )
        platform = SlackPlatform(make_client(TOKEN, fake.url))
        core = await open_core(settings, {platform.name: platform})
        web_app = make_web_app(core.engine, core.service.counts)
        adapter = mount_slack(core, platform, web_app)
        ours = TestServer(web_app, host="127.0.0.1", port=0)
        await ours.start_server()
        bare, drain_bare = await bare_app(fake)
        print(f"{requests} signed /incident requests per level; fake Slack at zero latency")
        print(
            f"{'concurrent':>10} | {'tocsin p50':>10} {'p99 ms':>7} | {'bare p50':>9} "
            f"{'p99 ms':>7} | {'p99 ratio':>9} | {'declares/s':>10}"
        )
        serial = 0
        for level in LEVELS:
            bodies = [command(fake, f"declare Bench {serial + i} --sev 3") for i in range(requests)]
            serial += requests
            seen = len(fake.messages)
            started = time.time()
            ours_lat = await fire(str(ours.make_url("/slack/events")), bodies, level)
            await adapter.drain()
            cards = [float(m.ts) for m in fake.messages[seen:] if m.blocks]
            assert len(cards) == requests, "every declare posted its card"
            declares = requests / (max(cards) - started)
            bare_lat = await fire(
                str(bare.make_url("/slack/events")),
                [command(fake, "hello") for _ in range(requests)],
                level,
            )
            await drain_bare()
            (o50, o99), (b50, b99) = quantiles(ours_lat), quantiles(bare_lat)
            print(
                f"{level:>10} | {o50:>10.1f} {o99:>7.1f} | {b50:>9.1f} {b99:>7.1f} | "
                f"{o99 / b99:>8.2f}× | {declares:>10.1f}"
            )
        await ours.close()
        await bare.close()
        await core.aclose()
    await fake.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    asyncio.run(main(parser.parse_args().requests))
