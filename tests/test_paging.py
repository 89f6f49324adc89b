"""Paging and escalation with an injected clock: levels, rounds, acknowledgement from the
page's button, the card's button and the command, escalate-now, snooze, the ack timeout,
resolve stopping everything, someone with no id on the platform."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select, update

from bot.app import open_core
from bot.clock import ManualClock
from bot.platform import ChannelRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage import jobs
from storage.models import Incident, Job, Page
from tests import timed
from tests.conftest import Chat, configured

CONFIG = """
[people.alice]
name = "Alice"
fake = "alice"
[people.bob]
name = "Bob"
fake = "bob"
[people.carol]
name = "Carol"
fake = "carol"
[people.dave]
name = "Dave"
[people.erin]
name = "Erin"
fake = "erin"

[severities.SEV1]
label = "critical"
ack_timeout = "30m"
[severities.SEV2]
label = "major"
[severities.SEV3]
label = "minor"

[schedules.primary]
timezone = "Europe/Berlin"
members = ["alice", "bob"]
shift = "1w"
start = "2025-12-01T09:00"

[policies.default]
repeat = 2

[[policies.default.levels]]
targets = ["schedule:primary"]
escalate_after = "5m"

[[policies.default.levels]]
targets = ["person:carol"]
escalate_after = "5m"

[[policies.default.levels]]
targets = ["person:dave"]
escalate_after = "5m"
"""


@pytest.fixture
async def paged(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Chat]:
    async with configured(CONFIG, database_url, tmp_path, platform, clock) as chat:
        yield chat


async def later(chat: Chat, seconds: float) -> None:
    """Let time pass, stopping at each job as it falls due (as the worker's timers would)."""
    await timed.later(chat.core, chat.clock, seconds, chat.core.settle)


async def declared(chat: Chat, text: str = "declare Checkout down --sev 1") -> ChannelRef:
    await chat.run(text, who="erin")
    await later(chat, 4)
    return chat.channel(1)


def pages_to(platform: RecordingPlatform, who: str) -> list[str]:
    return [p.card.title for p in platform.pages(who) if p.card]


def on_call_now(platform: RecordingPlatform) -> str:
    """Who primary's level 1 paged (the rotation's week decides)."""
    return "alice" if pages_to(platform, "alice") else "bob"


def said(platform: RecordingPlatform, room: ChannelRef, start: str) -> list[str]:
    return [t for t in platform.texts(room.id) if t.startswith(start)]


async def rows(chat: Chat) -> list[Page]:
    async with chat.core.sessions() as session:
        return list((await session.exec(select(Page).order_by(Page.id))).all())  # type: ignore[arg-type]


async def incident(chat: Chat) -> Incident:
    async with chat.core.sessions() as session:
        found = await session.get(Incident, 1)
        assert found is not None
        return found


async def test_levels_then_rounds_then_nobody_acknowledged(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    # Level 1 at once: whoever is on call in primary (alice, the first week's… see below)
    on_call = on_call_now(platform)
    assert pages_to(platform, on_call) == ["📟 INC-1 · level 1 · Checkout down"]
    (page,) = platform.pages(on_call)
    assert page.card is not None and [b.action for b in page.card.buttons] == ["ack"]
    assert said(platform, room, "📟 Paged level 1")
    await later(chat, 5 * 60)
    assert pages_to(platform, "carol") == ["📟 INC-1 · level 2 · Checkout down"]
    await later(chat, 5 * 60)
    (level3,) = said(platform, room, "📟 Paged level 3")
    assert "⚠️ Dave could not be paged" in level3
    for _ in range(7):  # rounds 2 and 3, then the step that finds nobody acknowledged
        await later(chat, 5 * 60)
    assert len(pages_to(platform, on_call)) == 3 and len(pages_to(platform, "carol")) == 3
    (nobody,) = said(platform, room, "🔕")
    assert "Nobody acknowledged INC-1** after 3 rounds" in nobody
    assert any(t.startswith("🔕") for t in platform.texts("incidents")), "announced too"
    await later(chat, 60 * 60)
    assert len(pages_to(platform, "carol")) == 3, "nothing after the last round"
    records = await rows(chat)
    assert [(p.round, p.level, p.person_key, p.status) for p in records] == [
        (r, level, who, status)
        for r in (1, 2, 3)
        for level, who, status in (
            (1, on_call, "sent"),
            (2, "carol", "sent"),
            (3, "dave", "unreachable"),
        )
    ]
    assert (await incident(chat)).paging == "exhausted"


async def test_the_page_button_acknowledges_stops_escalation_and_updates_the_pages(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    await later(chat, 5 * 60)
    assert pages_to(platform, "carol")
    dm = ChannelRef("Dcarol", "@carol")
    await chat.click("ack", 1, who="carol", channel=dm)
    pending = await jobs.of(chat.core.sessions, "incident:1")
    assert [j.kind for j in pending] == ["incident.ack_timeout"], "the next level is cancelled"
    found = await incident(chat)
    assert found.status == "acknowledged" and found.owner_key == "carol"
    assert found.paging == "acknowledged"
    for posted in platform.messages:
        if posted.channel_id.startswith("D") and posted.card:
            assert posted.card.buttons == (), "every page sent is redrawn without its button"
            assert "Acknowledged by Carol" in posted.card.body
    await later(chat, 29 * 60)  # SEV1's ack timeout is 30 minutes
    assert len(pages_to(platform, "carol")) == 1, "no level after the acknowledgement"
    assert not said(platform, room, "📟 Paged level 3")
    assert all(p.acknowledged_by == "Carol" for p in await rows(chat))
    pending = await jobs.of(chat.core.sessions, "incident:1")
    assert [j.kind for j in pending] == ["incident.ack_timeout"]


@pytest.mark.parametrize("how", ["card", "command"])
async def test_the_card_button_and_the_command_acknowledge_too(
    paged: Chat, platform: RecordingPlatform, how: str
) -> None:
    chat = paged
    room = await declared(chat)
    if how == "card":
        await chat.click("ack", 1, who="bob", channel=room)
    else:
        await chat.run("ack", who="bob", channel=room)
    await later(chat, 30 * 60 - 60)
    assert not pages_to(platform, "carol"), "level 2 never paged"
    assert (await incident(chat)).paging == "acknowledged"


async def test_the_ack_timeout_pages_again_from_level_1_and_snooze_delays_it(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    on_call = on_call_now(platform)
    await chat.run("ack", who=on_call, channel=room)
    reply = await chat.run("snooze 1h", who=on_call, channel=room)
    assert "snoozed for 1 hour" in reply.text
    await later(chat, 45 * 60)
    assert len(pages_to(platform, on_call)) == 1, "the 30 minute timeout is snoozed"
    await later(chat, 20 * 60)
    assert len(pages_to(platform, on_call)) == 2, "paged again once the snooze ran out"
    found = await incident(chat)
    assert found.status == "triggered" and found.paging == "active" and found.page_cycle == 2
    await chat.run("ack", who=on_call, channel=room)
    await later(chat, 29 * 60)
    assert len(pages_to(platform, on_call)) == 2
    await later(chat, 2 * 60)
    assert len(pages_to(platform, on_call)) == 3, "the ack timeout, 30 minutes after the ack"


async def test_snooze_is_refused_unless_acknowledged(paged: Chat) -> None:
    chat = paged
    room = await declared(chat)
    reply = await chat.run("snooze 1h", channel=room)
    assert "not acknowledged" in reply.text
    reply = await chat.run("snooze soon", channel=room)
    assert "is not a duration" in reply.text


async def test_escalate_pages_the_next_level_now(paged: Chat, platform: RecordingPlatform) -> None:
    chat = paged
    room = await declared(chat)
    reply = await chat.run("escalate the on-call is on a plane", who="erin", channel=room)
    assert "paging level 2 now" in reply.text
    await later(chat, 4)
    assert pages_to(platform, "carol"), "level 2 without waiting 5 minutes"
    await later(chat, 5 * 60)
    assert said(platform, room, "📟 Paged level 3"), "the next level keeps its own delay"
    events = (await chat.core.wiring.views.full(1)).events
    assert any(e.kind == "escalated" and e.text == "the on-call is on a plane" for e in events)


async def test_escalate_after_an_ack_starts_paging_again_from_the_next_level(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    await chat.run("ack", who="bob", channel=room)
    await chat.run("escalate need a DBA", who="bob", channel=room)
    await later(chat, 4)
    assert pages_to(platform, "carol")
    assert (await incident(chat)).paging == "active"


async def test_resolve_stops_every_page_and_reminder(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    await chat.run("resolve it was the cache", who="erin", channel=room)
    assert await jobs.of(chat.core.sessions, "incident:1") == [], "nothing left to fire"
    await later(chat, 2 * 60 * 60)
    assert not pages_to(platform, "carol")
    assert await jobs.of(chat.core.sessions, "incident:1") == []
    on_call = on_call_now(platform)
    (page,) = platform.pages(on_call)
    assert page.card is not None and page.card.buttons == ()
    assert "is resolved" in page.card.body


async def test_a_severity_that_does_not_page_pages_nobody(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    await declared(chat, "declare Slow reports --sev 3")
    await later(chat, 60 * 60)
    assert not any(m.channel_id.startswith("D") for m in platform.messages)
    assert await rows(chat) == []


async def test_pages_lists_every_delivery(paged: Chat) -> None:
    chat = paged
    room = await declared(chat)
    await later(chat, 10 * 60)
    reply = await chat.run("pages", channel=room)
    assert "level 2 · Carol on fake · sent" in reply.text
    assert "level 3 · Dave · unreachable: no id on fake in tocsin.toml" in reply.text


async def test_the_export_shows_the_pages(paged: Chat) -> None:
    chat = paged
    room = await declared(chat)
    await later(chat, 10 * 60)
    await chat.run("ack", who="carol", channel=room)
    view = await chat.core.wiring.views.full(1)
    document = chat.core.wiring.presenter.export_markdown(view, chat.clock.now())
    pages = document[document.index("## Pages") : document.index("## Timeline")]
    assert "| 2 | Carol | fake | sent 2026-01-01 00:05:30 UTC | Carol" in pages
    assert "| 3 | Dave | — | unreachable: no id on fake in tocsin.toml | Carol" in pages


async def test_a_step_due_while_nothing_ran_fires_once_at_the_next_start_saying_how_late(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> None:
    (tmp_path / "tocsin.toml").write_text(CONFIG)
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    first = Chat(await open_core(settings, {platform.name: platform}, clock=clock), platform, clock)
    room = await declared(first)
    await first.core.aclose()
    clock.advance(timedelta(minutes=25))  # level 2 fell due 20 minutes ago
    second = Chat(
        await open_core(settings, {platform.name: platform}, clock=clock), platform, clock
    )
    try:
        await later(second, 4)
        assert len(pages_to(platform, "carol")) == 1, "fired once, not once per missed turn"
        (level2,) = said(platform, room, "📟 Paged level 2")
        assert "(This page comes late by 20 minutes: Tocsin was not running" in level2
        events = (await second.core.wiring.views.full(1)).events
        (late,) = [e for e in events if e.kind == "late"]
        assert late.detail == "late by 20 minutes" and late.text == "level 2"
        await later(second, 4 * 60)
        assert not said(platform, room, "📟 Paged level 3"), "the next level keeps its delay"
        await later(second, 2 * 60)
        assert said(platform, room, "📟 Paged level 3")
    finally:
        await second.core.aclose()


async def test_a_step_run_again_pages_once(paged: Chat, platform: RecordingPlatform) -> None:
    """A step whose row runs a second time (its lease expired before it was settled) finds
    the incident has moved past it."""
    chat = paged
    await declared(chat)
    on_call = on_call_now(platform)
    async with chat.core.sessions() as session, session.begin():
        await session.exec(
            update(Job)
            .where(col(Job.kind) == "incident.page", col(Job.step) == 10101)
            .values(status="pending", due_at=chat.clock.now())
        )
    await later(chat, 4)
    assert len(pages_to(platform, on_call)) == 1
    assert len(await rows(chat)) == 1
    events = (await chat.core.wiring.views.full(1)).events
    assert [e.kind for e in events].count("paged") == 1
    assert "failed" not in [e.kind for e in events], "the step found nothing to do, no error"
    (again,) = [
        j
        for j in await jobs.of(chat.core.sessions, "incident:1", status=None)
        if (j.kind, j.step) == ("incident.page", 10101)
    ]
    assert again.status == "done" and again.last_error == ""


async def test_an_acknowledgement_wins_over_a_step_already_claimed(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    await chat.run("ack", who="bob", channel=room)
    async with chat.core.sessions() as session, session.begin():  # as if claimed before the ack
        await session.exec(
            update(Job)
            .where(col(Job.kind) == "incident.page", col(Job.step) == 10102)
            .values(status="pending", due_at=chat.clock.now())
        )
    await later(chat, 4)
    assert not pages_to(platform, "carol")
    assert await rows(chat) != [] and all(p.level == 1 for p in await rows(chat))
    events = (await chat.core.wiring.views.full(1)).events
    assert [e.kind for e in events].count("paged") == 1


async def test_a_page_acknowledged_before_it_went_out_is_not_sent(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    platform.later["open_dm"] = 1  # level 2's page is told to come back in 5 s
    await later(chat, 5 * 60)
    await chat.run("ack", who="bob", channel=room)
    await later(chat, 10)
    assert not pages_to(platform, "carol")
    carol = [p for p in await rows(chat) if p.person_key == "carol"]
    assert [p.status for p in carol] == ["skipped"]


async def test_a_page_whose_answer_was_lost_is_not_sent_twice(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    await declared(chat)
    platform.lose_answers["post_card"] = 1  # carol's page is posted, its answer lost
    assert chat.core.worker is not None
    chat.core.worker.timeout = timedelta(seconds=0.5)  # how long a try waits for it
    await later(chat, 5 * 60)
    await chat.core.settle(within=120)
    assert len(pages_to(platform, "carol")) == 1
    carol = [p for p in await rows(chat) if p.person_key == "carol"]
    assert [p.status for p in carol] == ["sent"] and carol[0].message_id


async def test_a_page_the_platform_refuses_is_recorded_failed_with_its_reason(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    platform.fail_on.add("open_dm")
    await later(chat, 5 * 60)
    carol = [p for p in await rows(chat) if p.person_key == "carol"]
    assert [p.status for p in carol] == ["failed"]
    assert carol[0].error == "open_dm failed (as the test asked)"
    events = (await chat.core.wiring.views.full(1)).events
    assert any(e.kind == "page" and e.detail == "failed" for e in events)
    assert said(platform, room, "📟 Paged level 2")


async def test_escalate_after_nobody_acknowledged_starts_again_from_level_1(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat)
    await later(chat, 9 * 5 * 60 + 4)
    assert (await incident(chat)).paging == "exhausted"
    reply = await chat.run("escalate", who="erin", channel=room)
    assert "paging level 1 now" in reply.text
    await later(chat, 4)
    found = await incident(chat)
    assert (found.paging, found.page_cycle, found.page_level) == ("active", 2, 1)


async def test_escalate_and_snooze_are_refused_in_words_where_they_cannot_apply(
    paged: Chat,
) -> None:
    chat = paged
    room = await declared(chat)
    await chat.run("resolve fixed", who="erin", channel=room)
    reply = await chat.run("escalate", channel=room)
    assert "is resolved: there is no one left to page" in reply.text
    await chat.run("declare Minor thing --sev 2", who="erin")
    await later(chat, 4)
    await chat.run("ack INC-2", who="bob")
    reply = await chat.run("snooze 1h INC-2")
    assert "SEV2 has no ack timeout" in reply.text
    reply = await chat.run("snooze 2d INC-2")
    assert "SEV2 has no ack timeout" in reply.text or "at most 1 day" in reply.text


async def test_raising_the_severity_of_an_unacknowledged_incident_starts_paging(
    paged: Chat, platform: RecordingPlatform
) -> None:
    chat = paged
    room = await declared(chat, "declare Slow reports --sev 3")
    assert (await incident(chat)).paging is None
    await chat.run("sev 1 it is spreading", who="erin", channel=room)
    await later(chat, 4)
    assert (await incident(chat)).paging == "active"
    assert said(platform, room, "📟 Paged level 1")


async def test_no_policy_means_escalate_says_what_to_add(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> None:
    settings = Settings(database_url=database_url)
    chat = Chat(await open_core(settings, {platform.name: platform}, clock=clock), platform, clock)
    try:
        room = await declared(chat)
        assert (await incident(chat)).paging is None, "a fresh install pages nobody"
        reply = await chat.run("escalate", channel=room)
        assert "no escalation policy pages for SEV1: add" in reply.text
        assert "policies.default" in reply.text
    finally:
        await chat.core.aclose()
