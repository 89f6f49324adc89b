"""Crash-safe declare (the core v2 issue): a platform that fails at any step of a declare,
with a 5xx, by never answering, or by doing the work and losing the answer, and the
incident still ends with its channel, one card, one pin, one announcement, and the
declarer told once; never "please try again" for an incident that was saved."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from storage import jobs
from tests.fakes.discord_api import ALICE, ANNOUNCE_ID, FakeDiscord, Interaction
from tests.fakes.slack_api import FakeSlack
from tests.test_discord import Rig as DiscordRig
from tests.test_discord import start as start_discord
from tests.test_slack import Rig as SlackRig
from tests.test_slack import slack_settings, start_tocsin

FAST = {
    "timeout": timedelta(seconds=0.3),
    "backoff": timedelta(milliseconds=50),
    "max_attempts": 20,
}
MODES = ["5xx", "stall", "lost"]

SlackWhen = Callable[[str, dict[str, Any]], bool]


def slack_steps(fake: FakeSlack) -> dict[str, SlackWhen]:
    """Each step of a declare on Slack, as the call that makes it."""

    def named(suffix: str) -> Callable[[dict[str, Any]], bool]:
        return lambda args: fake.named(suffix)(str(args.get("channel", "")))

    return {
        "channel": lambda m, a: m == "conversations.create" and "step-channel" in a["name"],
        "topic": lambda m, a: m == "conversations.setTopic" and named("step-topic")(a),
        "invite": lambda m, a: m == "conversations.invite" and named("step-invite")(a),
        "card": lambda m, a: (
            m == "chat.postMessage" and bool(a.get("blocks")) and named("step-card")(a)
        ),
        "pin": lambda m, a: m == "pins.add" and named("step-pin")(a),
        "answer": lambda m, a: m == "response_url" and a.get("key") == "step-answer",
        # Last: a post to the announce channel that hangs holds that channel's pacing.
        "announcement": lambda m, a: (
            m == "chat.postMessage"
            and a["channel"] == "C0ANNOUNCE"
            and "Step announcement" in a.get("text", "")
        ),
    }


@pytest.fixture
async def slack(sqlite_url: str) -> AsyncIterator[SlackRig]:
    fake = FakeSlack()
    await fake.start()
    core, adapter, web_app = await start_tocsin(slack_settings(sqlite_url, fake), fake, **FAST)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        yield SlackRig(fake, core, adapter, server, http)
    finally:
        await http.close()
        await server.close()
        await core.aclose(grace=0.1)
        await fake.close()


def check_slack_incident(fake: FakeSlack, number: int, step: str) -> None:
    rooms = [c for c in fake.channels.values() if c["name"].startswith(f"inc-{number}-")]
    assert [r["name"] for r in rooms] == [f"inc-{number}-step-{step}"], "one channel, no -2"
    room = rooms[0]["id"]
    cards = [m for m in fake.in_channel(room) if m.blocks]
    assert len(cards) == 1, f"{step}: one card"
    assert fake.pins.get(room) == {cards[0].ts}, f"{step}: the card is pinned"
    announced = [m for m in fake.in_channel("C0ANNOUNCE") if f"New incident INC-{number}" in m.text]
    assert len(announced) == 1, f"{step}: one announcement"
    told = [r["text"] for r in fake.responses if r["key"] == f"step-{step}"]
    assert len(told) == 1 and f"<#{room}>" in told[0], f"{step}: the declarer is told once"
    assert rooms[0]["topic"].startswith(f"INC-{number} · SEV3")


@pytest.mark.parametrize("mode", MODES)
async def test_a_slack_declare_completes_whatever_step_fails(slack: SlackRig, mode: str) -> None:
    steps = slack_steps(slack.fake)
    for number, (step, when) in enumerate(steps.items(), start=1):
        # A lost answer cannot be looked up on Slack (a response_url keeps nothing): there
        # the platform failing is one that does not answer.
        fault = slack.fake.fault(when, "stall" if step == "answer" and mode == "lost" else mode)
        status = await slack.command(
            f"declare Step {step}", response_url=slack.fake.response_url(f"step-{step}")
        )
        assert status == 200
        await slack.core.settle(within=5)
        assert fault.hits == 1, f"{step}: the fault was reached"
        check_slack_incident(slack.fake, number, step)
    assert not any("try again" in text for text in slack.responses())
    assert set(await jobs.counts(slack.core.sessions)) <= {"done", "pending"}


DiscordWhen = Callable[[str, str, dict[str, Any] | None], bool]


def discord_steps(fake: FakeDiscord) -> dict[str, DiscordWhen]:
    """Each step of a declare on Discord, as the REST call that makes it."""

    def room(path: str, suffix: str) -> bool:
        parts = path.split("/")
        if len(parts) < 3 or not parts[2].isdigit():
            return False
        return str(fake.channels.get(int(parts[2]), {}).get("name", "")).endswith(suffix)

    return {
        "channel": lambda m, p, b: (
            m == "POST" and p.endswith("/channels") and "step-channel" in str((b or {}).get("name"))
        ),
        "invite": lambda m, p, b: m == "GET" and "/members/" in p,
        "card": lambda m, p, b: (
            m == "POST"
            and p.endswith("/messages")
            and bool((b or {}).get("embeds"))
            and room(p, "step-card")
        ),
        "pin": lambda m, p, b: m == "PUT" and "/pins/" in p and room(p, "step-pin"),
        "announcement": lambda m, p, b: (
            m == "POST"
            and p == f"/channels/{ANNOUNCE_ID}/messages"
            and "Step announcement" in str((b or {}).get("content"))
        ),
        "answer": lambda m, p, b: (
            m == "PATCH"
            and p.endswith("/messages/@original")
            and "Step answer" in str((b or {}).get("content"))
        ),
    }


@pytest.fixture
async def discord_rig(sqlite_url: str) -> AsyncIterator[DiscordRig]:
    fake = FakeDiscord()
    await fake.start()
    core, bot = await start_discord(fake.settings(sqlite_url), **FAST)
    try:
        yield DiscordRig(fake, core, bot)
    finally:
        await bot.close()
        await core.aclose(grace=0.1)
        await fake.close()


def check_discord_incident(fake: FakeDiscord, number: int, step: str, asked: Interaction) -> None:
    rooms = fake.channels_named(f"inc-{number}-step-{step}")
    assert len(rooms) == 1 and not fake.channels_named(f"inc-{number}-step-{step}-2")
    room = int(rooms[0]["id"])
    cards = [m for m in fake.in_channel(room) if m["embeds"]]
    assert len(cards) == 1, f"{step}: one card"
    assert fake.pins.get(room) == [int(cards[0]["id"])], f"{step}: the card is pinned"
    announced = [
        m for m in fake.in_channel(ANNOUNCE_ID) if f"New incident INC-{number}" in m["content"]
    ]
    assert len(announced) == 1, f"{step}: one announcement"
    assert asked.kind == 4 and len(asked.responses) == 1 and not asked.followups
    assert f"<#{room}>" in asked.texts()[-1], f"{step}: the answer names the channel"


@pytest.mark.parametrize("mode", MODES)
async def test_a_discord_declare_completes_whatever_step_fails(
    discord_rig: DiscordRig, mode: str
) -> None:
    fake = discord_rig.fake
    for number, (step, when) in enumerate(discord_steps(fake).items(), start=1):
        fault = fake.fault(when, mode)
        asked = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title=f"Step {step}")
        await asyncio.wait_for(asked.answered.wait(), 15)
        assert "try again" not in asked.texts()[0]
        await discord_rig.bot.drain()
        await discord_rig.core.settle(within=8)
        assert fault.hits == 1, f"{step}: the fault was reached"
        check_discord_incident(fake, number, step, asked)
    assert set(await jobs.counts(discord_rig.core.sessions)) <= {"done", "pending"}


# An announce channel that cannot be used: the declarer still gets their link, and the
# failure reaches only them.

BROKEN_ANNOUNCE = '[incident]\nannounce_channel = "no-such-channel"\n'


async def test_a_slack_announce_channel_refused_for_good_still_answers_with_the_link(
    sqlite_url: str, tmp_path: Any
) -> None:
    (tmp_path / "tocsin.toml").write_text(BROKEN_ANNOUNCE)
    fake = FakeSlack()
    await fake.start()
    settings = slack_settings(sqlite_url, fake)
    settings = type(settings)(
        database_url=sqlite_url, config_path=tmp_path / "tocsin.toml", env=settings.env
    )
    core, adapter, web_app = await start_tocsin(settings, fake, **FAST)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    http = aiohttp.ClientSession()
    rig = SlackRig(fake, core, adapter, server, http)
    try:
        assert await rig.command("declare Disk full") == 200
        await core.settle(within=5)
        room = fake.channel_named("inc-1-disk-full")["id"]
        public = [r for r in fake.responses if r.get("response_type") == "in_channel"]
        private = [r for r in fake.responses if r.get("response_type") == "ephemeral"]
        assert len(public) == 1 and f"<#{room}>" in public[0]["text"]
        assert len(private) == 1
        assert (
            "announcing it in the announce channel (no-such-channel) failed" in (private[0]["text"])
        )
        view = await core.wiring.views.full(1)
        (failed,) = [e for e in view.events if e.kind == "failed"]
        assert "no-such-channel" in failed.detail
    finally:
        await http.close()
        await server.close()
        await core.aclose(grace=0.1)
        await fake.close()


async def test_a_discord_announce_channel_refused_for_good_still_answers_with_the_link(
    sqlite_url: str, tmp_path: Any
) -> None:
    (tmp_path / "tocsin.toml").write_text(BROKEN_ANNOUNCE)
    fake = FakeDiscord()
    await fake.start()
    core, bot = await start_discord(
        fake.settings(sqlite_url, config_path=tmp_path / "tocsin.toml"), **FAST
    )
    try:
        asked = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Disk full")
        await asyncio.wait_for(asked.answered.wait(), 15)
        await bot.drain()
        await core.settle(within=5)
        room = int(fake.named("inc-1-disk-full")["id"])
        assert asked.original is not None and f"<#{room}>" in asked.original["content"]
        assert not asked.ephemeral, "the answer stays public, with its link"
        (notice,) = asked.followups
        assert (notice.get("flags") or 0) & 64, "the failure only the declarer sees"
        assert (
            "announcing it in the announce channel (no-such-channel) failed" in (notice["content"])
        )
    finally:
        await bot.close()
        await core.aclose(grace=0.1)
        await fake.close()


async def test_a_slack_retry_that_cannot_read_the_announce_channel_posts_again(
    slack: SlackRig,
) -> None:
    """The bot may not join the announce channel (here: private) to look for what an
    earlier try posted: it posts, rather than leave the incident unannounced."""
    fake = slack.fake
    fake.channels["C0ANNOUNCE"]["is_private"] = True
    steps = slack_steps(fake)
    fault = fake.fault(lambda m, a: steps["announcement"](m, a), "lost")
    assert await slack.command("declare Step announcement") == 200
    await slack.core.settle(within=5)
    assert fault.hits == 1
    announced = [m for m in fake.in_channel("C0ANNOUNCE") if "New incident INC-1" in m.text]
    assert len(announced) == 2
    assert "failed" not in await jobs.counts(slack.core.sessions)
