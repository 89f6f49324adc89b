"""Channel capture onto the timeline: messages, edits, deletions, pins, arrivals."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.inbound import ChannelEvent, ChannelEventKind
from bot.platform import UserRef
from tests.conftest import Chat


async def happened(
    chat: Chat,
    kind: ChannelEventKind,
    message_id: str,
    text: str = "",
    who: str = "bob",
    channel_id: str | None = None,
    after: int = 60,
) -> bool:
    event = ChannelEvent(
        chat.platform.name,
        channel_id or chat.channel(1).id,
        kind,
        message_id,
        UserRef(who, who.title()),
        chat.clock.now() + timedelta(seconds=after),
        text,
    )
    return await chat.core.dispatcher.channel_event(event)


async def test_messages_edits_deletions_pins_and_arrivals_reach_the_timeline(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    assert await happened(chat, "joined", "join-bob")
    assert await happened(chat, "message", "m1", "card processor returns 502", after=70)
    assert await happened(chat, "edit", "m1", "card processor returns 503", after=80)
    assert await happened(chat, "pin", "m1", after=90)
    assert await happened(chat, "message", "m2", "my password is hunter2", who="carol", after=95)
    assert await happened(chat, "delete", "m2", who="carol", after=99)

    timeline = (await chat.run("timeline", channel=chat.channel(1))).text
    assert "Bob joined the channel" in timeline
    assert "Bob said: card processor returns 502 *(edited)*" in timeline
    assert "Bob edited their message: card processor returns 503" in timeline
    assert "Bob pinned: card processor returns 502" in timeline
    assert "Carol *(deleted a message)*" in timeline
    assert "hunter2" not in timeline
    export = await chat.core.wiring.views.full(1)
    assert [e.at for e in export.events] == sorted(e.at for e in export.events)


async def test_an_event_delivered_twice_is_recorded_once(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    assert await happened(chat, "message", "m1", "hello")
    assert not await happened(chat, "message", "m1", "hello")
    assert await happened(chat, "edit", "m1", "hello!", after=61)
    assert not await happened(chat, "edit", "m1", "hello!", after=61)
    kinds = [e.kind for e in (await chat.core.wiring.views.full(1)).events]
    assert kinds.count("message") == 1 and kinds.count("edit") == 1


async def test_copies_of_an_event_arriving_together_are_recorded_once(chat: Chat) -> None:
    """Slack sends an event again when the first copy is not answered within 3 s: the two
    copies can be stored at the same moment, by one process or two replicas."""
    await chat.run("declare Payments failing")
    for kind, after in (("message", 60), ("edit", 61), ("pin", 62)):
        copies = [happened(chat, kind, "m1", "hello", after=after) for _ in range(6)]
        assert sorted(await asyncio.gather(*copies)) == [False] * 5 + [True], kind
    kinds = [e.kind for e in (await chat.core.wiring.views.full(1)).events]
    assert (kinds.count("message"), kinds.count("edit"), kinds.count("pin")) == (1, 1, 1)


async def test_chat_outside_incident_channels_and_unknown_messages_are_ignored(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    assert not await happened(chat, "message", "x1", "lunch?", channel_id="random")
    assert not await happened(chat, "edit", "never-seen", "edited")
    assert not await happened(chat, "delete", "never-seen")
    assert [e.kind for e in (await chat.core.wiring.views.full(1)).events] == [
        "declared",
        "channel",
    ]


async def test_user_text_in_captured_messages_cannot_ping_or_format(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    await happened(chat, "message", "m1", "@everyone **look** <!channel>")
    timeline = (await chat.run("timeline", channel=chat.channel(1))).text
    assert "@everyone" not in timeline
    assert r"\*\*look\*\* \<!channel\>" in timeline


async def test_an_event_the_database_refuses_is_not_held_and_holds_nothing_up(
    chat: Chat,
) -> None:
    """Only the database not answering holds events; one it refuses (here a key longer
    than its column, which PostgreSQL refuses) is logged and the next goes through."""
    await chat.run("declare Payments failing")
    held = chat.core.dispatcher.held_events
    refused = ChannelEvent(
        chat.platform.name,
        chat.channel(1).id,
        "message",
        "m1",
        UserRef("u" * 300, "Someone"),
        chat.clock.now(),
        "refused on PostgreSQL",
    )
    await held.put(refused)
    assert held.held == 0
    assert await happened(chat, "message", "m2", "after it")
    await held.put(
        ChannelEvent(
            chat.platform.name,
            chat.channel(1).id,
            "message",
            "m3",
            UserRef("bob", "Bob"),
            chat.clock.now(),
            "and this",
        )
    )
    assert held.held == 0 and held.dropped == 0
    texts = [e.text for e in (await chat.core.wiring.views.full(1)).events]
    assert "after it" in texts and "and this" in texts
