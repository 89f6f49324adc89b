"""Paging end to end on Discord: the paging engine behind real discord.py, against the fake
Discord's REST API and gateway, time moved by a manual clock. A SEV1 declared by an
application command pages the on-call in their DM with a persistent button; nobody
answers, the next level is paged; a click in the DM acknowledges, stops the escalation
and edits every page sent. Then the same page clicked after a restart: a fresh client,
the same database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.discord.app import DiscordAdapter
from bot.app import Core
from bot.clock import ManualClock
from bot.settings import Settings
from storage import jobs
from tests.fakes.discord_api import ALICE, ANNOUNCE_ID, BOB, FakeDiscord, Interaction
from tests.test_discord import Rig, start
from tests.timed import later

CONFIG = f"""
[people.alice]
name = "Alice"
discord = "{ALICE}"
[people.bob]
name = "Bob"
discord = "{BOB}"
[people.dave]
name = "Dave"

[severities.SEV1]
label = "critical"
ack_timeout = "30m"

[schedules.primary]
timezone = "Europe/Berlin"
members = ["bob"]
shift = "1w"
start = "2025-12-01T09:00"

[policies.default]
repeat = 1

[[policies.default.levels]]
targets = ["schedule:primary"]
escalate_after = "5m"

[[policies.default.levels]]
targets = ["person:alice", "person:dave"]
escalate_after = "5m"
"""


def dm(fake: FakeDiscord, who: int) -> list[dict[str, Any]]:
    """What the bot posted in its DM with ``who`` (none if it never opened one)."""
    channel = fake.dm_with(who)
    return fake.in_channel(channel) if channel else []


def buttons(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


def said(fake: FakeDiscord, room: int, start: str) -> list[str]:
    return [m["content"] for m in fake.in_channel(room) if m["content"].startswith(start)]


class Paging:
    """Discord's rig, and the clock its core runs on."""

    def __init__(self, rig: Rig, clock: ManualClock) -> None:
        self.rig, self.clock = rig, clock

    async def later(self, seconds: float) -> None:
        await later(self.rig.core, self.clock, seconds, self.rig.settle)


def settings_for(fake: FakeDiscord, database_url: str, tmp_path: Path) -> Settings:
    config = tmp_path / "tocsin.toml"
    config.write_text(CONFIG)
    return fake.settings(database_url, config)


@pytest.fixture
async def paging(database_url: str, tmp_path: Path) -> AsyncIterator[Paging]:
    fake = FakeDiscord()
    await fake.start()
    clock = ManualClock()
    core, bot = await start(settings_for(fake, database_url, tmp_path), clock=clock)
    try:
        yield Paging(Rig(fake, core, bot), clock)
        assert not fake.rejections, fake.rejections
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()


async def test_a_page_escalates_and_its_dm_button_acknowledges(paging: Paging) -> None:
    rig, fake = paging.rig, paging.rig.fake
    await rig.slash("declare", title="Checkout is down", severity="1")
    await paging.later(4)
    room = int(rig.room()["id"])

    # Level 1 at once: Bob, on call in primary, in his DM, with the incident's button.
    (bob_page,) = dm(fake, BOB)
    assert "guild_id" not in bob_page
    (embed,) = bob_page["embeds"]
    assert embed["title"] == "📟 INC-1 · level 1 · Checkout is down"
    assert "You are paged for **INC-1**" in embed["description"]
    assert f"Channel: <#{room}>" in embed["description"]
    assert buttons(bob_page) == ["tocsin:ack:1"]
    (level1,) = said(fake, room, "📟 Paged level 1")
    assert f"<@{BOB}> (on call in primary)" in level1
    assert not dm(fake, ALICE), "level 2 waits its 5 minutes"

    # Nobody acknowledges: level 2 pages Alice; Dave has no Discord id, and the channel says so.
    await paging.later(5 * 60)
    (alice_page,) = dm(fake, ALICE)
    assert buttons(alice_page) == ["tocsin:ack:1"]
    (level2,) = said(fake, room, "📟 Paged level 2")
    assert f"<@{ALICE}>" in level2
    assert "⚠️ Dave could not be paged: they have no id for this platform" in level2

    # Alice clicks Acknowledge in her DM.
    click = await rig.answered(await fake.click(ALICE, int(alice_page["id"]), "tocsin:ack:1"))
    assert "guild_id" not in click.payload and click.payload["user"]["id"] == str(ALICE)
    assert f"acknowledged by <@{ALICE}>" in click.texts()[0]
    incident = (await rig.core.wiring.views.full(1)).incident
    assert (incident.status, incident.owner_key, incident.paging) == (
        "acknowledged",
        "alice",
        "acknowledged",
    )

    # Both pages sent are edited: who acknowledged, and no button.
    for page in (bob_page, alice_page):
        edited = fake.messages[int(page["id"])]
        assert edited["updates"] >= 1 and edited["components"] == []
        assert "Acknowledged by Alice" in edited["embeds"][0]["description"]

    # The escalation stopped: nothing more is paged, up to the ack timeout.
    pending = await jobs.of(rig.core.sessions, "incident:1")
    assert [j.kind for j in pending] == ["incident.ack_timeout"]
    await paging.later(29 * 60)
    assert len(dm(fake, BOB)) == 1 and len(dm(fake, ALICE)) == 1
    assert len(said(fake, room, "📟 Paged")) == 2


async def test_nobody_acknowledging_is_said_in_the_channel_and_the_announce_channel(
    paging: Paging,
) -> None:
    rig, fake = paging.rig, paging.rig.fake
    await rig.slash("declare", title="Checkout is down", severity="1")
    for _ in range(4):  # level 1 now; then level 2, round 2 (repeat = 1), and nobody
        await paging.later(5 * 60)
    room = int(rig.room()["id"])
    assert len(dm(fake, BOB)) == 2 and len(dm(fake, ALICE)) == 2
    (nobody,) = said(fake, room, "🔕")
    assert "**Nobody acknowledged INC-1** after 2 rounds of the default escalation" in nobody
    assert f"<@{ALICE}>, find someone: `/incident escalate` pages again" in nobody
    assert said(fake, ANNOUNCE_ID, "🔕") == [nobody]
    assert (await rig.core.wiring.views.full(1)).incident.paging == "exhausted"


async def test_a_page_discord_refuses_is_said_in_the_channel(paging: Paging) -> None:
    """Bob accepts no DMs from the bot: Discord refuses his page for good. The channel is
    told, with Discord's reason, and the next level is paged on time."""
    rig, fake = paging.rig, paging.rig.fake
    fake.closed_dms.add(BOB)
    await rig.slash("declare", title="Checkout is down", severity="1")
    await paging.later(4)
    room = int(rig.room()["id"])
    (level1,) = said(fake, room, "📟 Paged level 1")
    assert "⚠️ Bob could not be paged: Discord refused posting the card in @bob: " in level1
    assert "Cannot send messages to this user (50007: " in level1
    assert not dm(fake, BOB)
    await paging.later(5 * 60)
    assert len(dm(fake, ALICE)) == 1
    (refused,) = fake.rejections  # the page refused: what the test is about
    assert refused.endswith("Cannot send messages to this user")
    fake.rejections.clear()


async def test_pages_escalate_and_snooze_as_application_commands(paging: Paging) -> None:
    rig, fake = paging.rig, paging.rig.fake
    await rig.slash("declare", title="Checkout is down", severity="1")
    await paging.later(4)
    room = int(rig.room()["id"])
    refused = await rig.slash("snooze", duration="30m", channel=room)
    assert refused.ephemeral and "INC-1 is not acknowledged" in refused.texts()[0]
    escalated = await rig.slash("escalate", reason="the on-call is on a plane", channel=room)
    assert not escalated.ephemeral
    assert "**INC-1** escalated: paging level 2 now." in escalated.texts()[0]
    await paging.later(4)
    assert len(dm(fake, ALICE)) == 1, "level 2 without waiting its 5 minutes"
    listed = (await rig.slash("pages", channel=room)).texts()[0]
    assert "level 1 · Bob on discord · sent" in listed
    assert "level 2 · Alice on discord · sent" in listed
    assert "level 2 · Dave · unreachable: no id on discord in tocsin.toml" in listed
    await rig.slash("ack", who=BOB, channel=room)
    snoozed = await rig.slash("snooze", who=BOB, duration="30m", channel=room)
    assert "**INC-1** snoozed for 30 minutes" in snoozed.texts()[0]
    for page in dm(fake, BOB) + dm(fake, ALICE):
        assert page["components"] == []
        assert "Acknowledged by Bob" in page["embeds"][0]["description"]


async def answered(record: Interaction) -> None:
    await asyncio.wait_for(record.answered.wait(), 15)


async def _settle(core: Core, bot: DiscordAdapter) -> None:
    await bot.drain()
    await core.settle()
    await bot.drain()


async def test_a_page_sent_before_a_restart_is_acknowledged_after_it(
    database_url: str, tmp_path: Path
) -> None:
    """One client sends the page and is closed; a fresh client and core (nothing cached, no
    view registered for that message, its own clock) take Bob's click in his DM."""
    fake = FakeDiscord()
    await fake.start()
    settings = settings_for(fake, database_url, tmp_path)
    clock = ManualClock()
    core, bot = await start(settings, clock=clock)
    try:
        declared = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Disk full", severity="1")
        await answered(declared)
        await later(core, clock, 4, lambda: _settle(core, bot))
        (page,) = dm(fake, BOB)
        assert buttons(page) == ["tocsin:ack:1"]
    finally:
        await bot.close()
        await core.aclose()

    clock = ManualClock(clock.now())
    core, bot = await start(settings, clock=clock)
    try:
        click = await fake.click(BOB, int(page["id"]), "tocsin:ack:1")
        await answered(click)
        await later(core, clock, 4, lambda: _settle(core, bot))
        assert click.kind == 4 and f"acknowledged by <@{BOB}>" in click.texts()[0]
        incident = (await core.wiring.views.full(1)).incident
        assert (incident.status, incident.owner_key) == ("acknowledged", "bob")
        edited = fake.messages[int(page["id"])]
        assert edited["updates"] == 1 and edited["components"] == []
        assert "Acknowledged by Bob" in edited["embeds"][0]["description"]
        pending = await jobs.of(core.sessions, "incident:1")
        assert [j.kind for j in pending] == ["incident.ack_timeout"]
        await later(core, clock, 29 * 60, lambda: _settle(core, bot))
        assert not dm(fake, ALICE), "level 2 was never paged"
        assert len(dm(fake, BOB)) == 1
        room = int(Rig(fake, core, bot).room()["id"])
        assert len(said(fake, room, "📟 Paged")) == 1
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()
    assert not fake.rejections, fake.rejections
