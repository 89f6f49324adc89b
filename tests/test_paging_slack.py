"""Paging end to end on Slack: the paging engine behind real slack-bolt, against the fake
Slack with only the manifest's scopes, time moved by a manual clock. A SEV1 declared by a
signed slash command pages the on-call in their DM; nobody answers, the next level is
paged; a click on the DM's button acknowledges, stops the escalation and updates every
page sent. ``/incident pages``, ``escalate`` and ``snooze`` through the real app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from adapters.slack.manifest import BOT_SCOPES
from adapters.slack.platform import SlackPlatform
from bot.clock import Clock, ManualClock, SystemClock
from bot.settings import Settings
from storage import jobs
from storage.repo import Store
from tests.fakes.slack_api import TOKEN, FakeSlack, Message
from tests.test_slack import SECRET, Rig, start_tocsin
from tests.timed import later, until

CONFIG = """
[people.alice]
name = "Alice"
slack = "U1ALICE"
[people.bob]
name = "Bob"
slack = "U2BOB"
[people.carol]
name = "Carol"
slack = "U3CAROL"
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
targets = ["person:carol", "person:dave"]
escalate_after = "5m"
"""


class Paging:
    """Slack's rig, and the manual clock its core runs on (none: the system's)."""

    def __init__(self, rig: Rig, clock: ManualClock | None = None) -> None:
        self.rig, self.clock = rig, clock

    async def later(self, seconds: float) -> None:
        assert self.clock is not None, "on the system clock, time passes by itself"
        await later(self.rig.core, self.clock, seconds, self.rig.settle)

    async def ask(self, text: str, user: str = "U1ALICE", channel: str = "") -> str:
        """``/incident <text>`` through the real app; what the person was answered."""
        rig = self.rig
        acks, responses = len(rig.acks), len(rig.fake.responses)
        assert await rig.command(text, user=user, channel=channel or rig.room()["id"]) == 200
        said = [a.get("text", "") for a in rig.acks[acks:]]
        said += [r.get("text", "") for r in rig.fake.responses[responses:]]
        return "\n".join(t for t in said if t)

    def dm(self, user: str) -> list[Message]:
        """What the bot posted in its DM with ``user`` (none if it never opened one)."""
        im = self.rig.fake.im_with(user)
        return self.rig.fake.in_channel(im) if im else []

    def said(self, start: str) -> list[str]:
        """What the incident's channel was told, starting with ``start``."""
        room = self.rig.room()["id"]
        return [m.text for m in self.rig.fake.in_channel(room) if m.text.startswith(start)]


def slack(rig: Rig) -> SlackPlatform:
    platform = rig.core.wiring.platforms["slack"]
    assert isinstance(platform, SlackPlatform)
    return platform


def buttons(message: Message) -> list[str]:
    return [
        element["action_id"]
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def shown(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


@asynccontextmanager
async def slack_rig(
    database_url: str, tmp_path: Path, config: str, clock: Clock
) -> AsyncIterator[Rig]:
    """Slack's rig, on ``config`` and ``clock``."""
    (tmp_path / "tocsin.toml").write_text(config)
    fake = FakeSlack(scopes=BOT_SCOPES)
    await fake.start()
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url}
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml", env=env)
    core, adapter, web_app = await start_tocsin(settings, fake, clock=clock)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        yield Rig(fake, core, adapter, server, http)
    finally:
        await http.close()
        await server.close()
        await core.aclose()
        await fake.close()


@pytest.fixture
async def paging(database_url: str, tmp_path: Path) -> AsyncIterator[Paging]:
    clock = ManualClock()
    async with slack_rig(database_url, tmp_path, CONFIG, clock) as rig:
        yield Paging(rig, clock)


async def declared(paging: Paging) -> str:
    """A SEV1, declared by Alice with a signed slash command; its channel's id."""
    assert await paging.rig.command("declare Checkout is down --sev 1") == 200
    await paging.later(4)
    return str(paging.rig.room()["id"])


async def test_a_page_escalates_and_its_dm_button_acknowledges(paging: Paging) -> None:
    rig = paging.rig
    await declared(paging)

    # Level 1 at once: Bob, on call in primary, in his DM, with the incident's button.
    (bob_page,) = paging.dm("U2BOB")
    assert bob_page.blocks[0]["text"]["text"] == "📟 INC-1 · level 1 · Checkout is down"
    assert buttons(bob_page) == ["tocsin:ack:1"]
    assert "You are paged for *INC-1*" in shown(bob_page)
    assert f"Channel: <#{rig.room()['id']}>" in shown(bob_page), "a link to its channel"
    (level1,) = paging.said("📟 Paged level 1")
    assert "<@U2BOB> (on call in primary)" in level1
    assert not paging.dm("U3CAROL"), "level 2 waits its 5 minutes"

    # Nobody acknowledges: level 2 pages Carol; Dave has no Slack id, and the channel says so.
    await paging.later(5 * 60)
    (carol_page,) = paging.dm("U3CAROL")
    assert buttons(carol_page) == ["tocsin:ack:1"]
    (level2,) = paging.said("📟 Paged level 2")
    assert "<@U3CAROL>" in level2
    assert "⚠️ Dave could not be paged: they have no id for this platform" in level2

    # Carol clicks Acknowledge in her DM.
    assert await rig.click("tocsin:ack:1", user="U3CAROL", channel=carol_page.channel) == 200
    incident = (await rig.core.wiring.views.full(1)).incident
    assert (incident.status, incident.owner_key, incident.paging) == (
        "acknowledged",
        "carol",
        "acknowledged",
    )
    (answer,) = [r for r in rig.fake.responses if r["key"] == "i1"]
    assert "acknowledged by <@U3CAROL>" in answer["text"]

    # Both pages sent are updated: who acknowledged, and no button.
    for page in (bob_page, carol_page):
        assert page.updates >= 1 and buttons(page) == []
        assert "Acknowledged by Carol" in shown(page)

    # The escalation stopped: nothing more is paged, up to the ack timeout.
    pending = await jobs.of(rig.core.sessions, "incident:1")
    assert [j.kind for j in pending] == ["incident.ack_timeout"]
    await paging.later(29 * 60)
    assert len(paging.dm("U2BOB")) == 1 and len(paging.dm("U3CAROL")) == 1
    assert len(paging.said("📟 Paged")) == 2
    assert rig.fake.im_with("U1ALICE") is None


async def test_a_page_waits_for_the_incident_channel_to_link_it(paging: Paging) -> None:
    """Slack fails the channel's creation once: the declare is tried again a second later,
    and Bob's page, which was ready first, waits for the channel rather than go without."""
    rig = paging.rig
    creating = rig.fake.fault(lambda method, _args: method == "conversations.create", "5xx")
    assert await rig.command("declare Checkout is down --sev 1") == 200
    await paging.later(20)
    assert creating.hits == 1
    (page,) = paging.dm("U2BOB")
    assert f"Channel: <#{rig.room()['id']}>" in shown(page)
    assert len(paging.said("📟 Paged level 1")) == 1


async def test_a_page_slack_refuses_is_said_in_the_channel(paging: Paging) -> None:
    """Bob's account is deactivated: Slack will not open a DM with him. The channel is told,
    with Slack's reason, and the next level is paged on time."""
    rig = paging.rig
    rig.fake.disabled.add("U2BOB")
    await declared(paging)
    (level1,) = paging.said("📟 Paged level 1")
    assert "⚠️ Bob could not be paged: Slack refused a direct message to U2BOB: " in level1
    assert "(their Slack account is deactivated)" in level1
    assert not paging.dm("U2BOB")
    await paging.later(5 * 60)
    assert len(paging.dm("U3CAROL")) == 1


async def test_nobody_acknowledging_is_said_in_the_channel_and_the_announce_channel(
    paging: Paging,
) -> None:
    rig = paging.rig
    await declared(paging)
    for _ in range(4):  # round 2 (repeat = 1), then the step that finds nobody acknowledged
        await paging.later(5 * 60)
    assert len(paging.dm("U2BOB")) == 2 and len(paging.dm("U3CAROL")) == 2
    assert len(paging.said("📟 Paged level 1 (round 2)")) == 1
    (nobody,) = paging.said("🔕")
    assert "*Nobody acknowledged INC-1* after 2 rounds of the default escalation policy" in nobody
    assert "<@U1ALICE>, find someone: `/incident escalate` pages again from level 1." in nobody
    announced = [m.text for m in rig.fake.in_channel("C0ANNOUNCE") if m.text.startswith("🔕")]
    assert announced == [nobody]
    await paging.later(60 * 60)
    assert len(paging.dm("U2BOB")) == 2 and len(paging.dm("U3CAROL")) == 2
    assert (await rig.core.wiring.views.full(1)).incident.paging == "exhausted"


async def test_pages_escalate_and_snooze_through_the_app(paging: Paging) -> None:
    rig = paging.rig
    await declared(paging)

    refused = await paging.ask("snooze 30m")
    assert "INC-1 is not acknowledged: acknowledge it first (/incident ack)." in refused

    escalated = await paging.ask("escalate the on-call is on a plane")
    assert "*INC-1* escalated: paging level 2 now." in escalated
    await paging.later(4)
    assert len(paging.dm("U3CAROL")) == 1, "level 2 without waiting its 5 minutes"
    events = (await rig.core.wiring.views.full(1)).events
    assert any(e.kind == "escalated" and e.text == "the on-call is on a plane" for e in events)

    listed = await paging.ask("pages")
    assert "*Pages for INC-1* (3)" in listed
    assert "level 1 · Bob on slack · sent" in listed
    assert "level 2 · Carol on slack · sent" in listed
    assert "level 2 · Dave · unreachable: no id on slack in tocsin.toml" in listed

    await paging.ask("ack", user="U2BOB")
    said = await paging.ask("snooze 30m", user="U2BOB")
    assert said.startswith("😴 *INC-1* snoozed for 30 minutes: if it is still unresolved at")
    assert "it is paged again from level 1" in said

    assert (await paging.ask("pages")).count("acknowledged by Bob") == 3
    for page in paging.dm("U2BOB") + paging.dm("U3CAROL"):
        assert buttons(page) == [] and "Acknowledged by Bob" in shown(page)


async def test_a_page_whose_answer_slack_lost_is_found_not_sent_again(paging: Paging) -> None:
    """Slack posted Carol's page but its answer never came: the retry reads her DM
    (``im:history``), finds the page by its title, and keeps it. (The look-up asks Slack for
    posts since the page was made, by the manual clock, which starts in the past: the
    fake stamps posts with the real time.)"""
    rig = paging.rig
    await declared(paging)
    assert rig.core.worker is not None
    rig.core.worker.timeout = timedelta(seconds=1)  # how long a try waits for the answer
    carol = await slack(rig).open_dm("U3CAROL")
    lost = rig.fake.fault(
        lambda method, args: method == "chat.postMessage" and args.get("channel") == carol.id,
        "lost",
    )
    await paging.later(5 * 60)
    assert lost.hits == 1
    (page,) = paging.dm("U3CAROL")
    assert buttons(page) == ["tocsin:ack:1"]
    assert "conversations.history" in rig.fake.calls, "the retry looked before posting"
    async with rig.core.sessions() as session:
        pages = [p for p in await Store(session).pages(1) if p.person_key == "carol"]
    assert [(p.status, p.message_id) for p in pages] == [("sent", page.ts)]
    assert await rig.click("tocsin:ack:1", user="U3CAROL", channel=carol.id) == 200
    assert buttons(page) == [] and "Acknowledged by Carol" in shown(page)


async def test_an_escalation_on_the_system_clock(database_url: str, tmp_path: Path) -> None:
    """As ``tocsin run`` does it: the worker's own timers fire the next level a second
    later; the level after waits ten minutes, so that Carol's click comes first."""
    config = CONFIG.replace('escalate_after = "5m"', 'escalate_after = "1s"', 1)
    config = config.replace('escalate_after = "5m"', 'escalate_after = "10m"')
    async with slack_rig(database_url, tmp_path, config, SystemClock()) as rig:
        assert rig.core.worker is not None
        await rig.core.worker.start()
        paging = Paging(rig)
        assert await rig.command("declare Checkout is down --sev 1") == 200
        await until(lambda: len(paging.dm("U3CAROL")) == 1 and len(paging.dm("U2BOB")) == 1)
        (bob_page,) = paging.dm("U2BOB")
        (carol_page,) = paging.dm("U3CAROL")
        await until(lambda: len(paging.said("📟 Paged level 2")) == 1)
        assert len(paging.said("📟 Paged level 1")) == 1
        assert await rig.click("tocsin:ack:1", user="U3CAROL", channel=carol_page.channel) == 200
        await until(lambda: buttons(bob_page) == [] and buttons(carol_page) == [])
        for page in (bob_page, carol_page):
            assert "Acknowledged by Carol" in shown(page)
        pending = await jobs.of(rig.core.sessions, "incident:1")
        assert [j.kind for j in pending] == ["incident.ack_timeout"]
