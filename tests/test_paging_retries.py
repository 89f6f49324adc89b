"""A page sent again after a failed try (a 5xx, a rate limit, a process killed part-way)
looks for the direct message an earlier try may have posted: it must find that page's own
message, never another page of the same incident in the same conversation (an earlier
round's, an earlier cycle's), or that page is marked sent and never arrives."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import update

from bot.clock import ManualClock
from bot.inbound import Action
from bot.platform import ChannelRef, UserRef
from bot.testing import RecordingPlatform
from storage.models import Page
from tests.conftest import Chat, configured
from tests.test_paging import later, rows

# Escalating within seconds, as anyone trying paging out does: two of alice's pages are
# closer together than the leeway a retry's look-up allows for clocks (5 s).
FAST = """
[people.alice]
name = "Alice"
fake = "alice"

[severities.SEV1]
label = "critical"
ack_timeout = "1s"

[policies.default]
repeat = 1

[[policies.default.levels]]
targets = ["person:alice"]
escalate_after = "1s"
"""


@pytest.fixture
async def fast(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Chat]:
    async with configured(FAST, database_url, tmp_path, platform, clock) as chat:
        yield chat


def titles(platform: RecordingPlatform) -> list[str]:
    return [p.card.title for p in platform.pages("alice") if p.card]


async def test_a_retried_page_is_not_taken_for_an_earlier_rounds_page(
    fast: Chat, platform: RecordingPlatform
) -> None:
    chat = fast
    await chat.run("declare Checkout down --sev 1", who="alice")
    await later(chat, 0.5)
    assert titles(platform) == ["📟 INC-1 · level 1 · Checkout down"]
    # Round 2 pages alice again a second later; its first try fails (a 5xx), so the next
    # try looks among alice's direct messages for a page it may have posted.
    platform.flaky["post_card"] = 1
    await later(chat, 5)
    pages = await rows(chat)
    assert [(p.round, p.level, p.status) for p in pages] == [(1, 1, "sent"), (2, 1, "sent")]
    assert titles(platform) == [
        "📟 INC-1 · level 1 · Checkout down",
        "📟 INC-1 · level 1, round 2 · Checkout down",
    ], "round 2 was sent, not taken for round 1"
    assert pages[0].message_id != pages[1].message_id


async def test_a_retried_page_is_not_taken_for_an_earlier_cycles_page(
    fast: Chat, platform: RecordingPlatform
) -> None:
    """Acknowledged at once, and paged again from level 1 a second later (the ack
    timeout): the new cycle's level 1 has the title of the first's."""
    chat = fast
    await chat.run("declare Checkout down --sev 1", who="alice")
    await later(chat, 0.5)
    dm = ChannelRef("Dalice", "@alice")
    action = Action(platform.name, UserRef("alice", "Alice"), dm, "ack", 1, {}, "reply:alice")
    await chat.core.dispatcher.action(action)  # no time passes, unlike chat.click
    await chat.core.settle()
    platform.flaky["post_card"] = 1
    await later(chat, 3)
    pages = await rows(chat)
    assert [(p.cycle, p.round, p.status) for p in pages] == [
        (1, 1, "sent"),
        (2, 1, "sent"),
        (2, 2, "sent"),
    ]
    assert sorted(titles(platform)) == [  # round 2 may go before the retry
        "📟 INC-1 · level 1 · Checkout down",
        "📟 INC-1 · level 1 · Checkout down",
        "📟 INC-1 · level 1, round 2 · Checkout down",
    ], "the new cycle's page was sent, not taken for the first cycle's"
    assert len({p.message_id for p in pages}) == 3


async def test_a_retried_page_is_not_taken_for_a_page_posted_but_not_yet_saved(
    fast: Chat, platform: RecordingPlatform
) -> None:
    """Round 1's page is posted, but its row does not say so yet (its process was killed
    between the two, and its retry has not run): round 2's retry must not take it."""
    chat = fast
    await chat.run("declare Checkout down --sev 1", who="alice")
    await later(chat, 0.5)
    async with chat.core.sessions() as session, session.begin():
        await session.exec(
            update(Page).values(status="pending", message_id=None, channel_id=None, sent_at=None)
        )
    platform.flaky["post_card"] = 1
    await later(chat, 1.5)
    round_2 = [p for p in await rows(chat) if p.round == 2]
    assert [p.status for p in round_2] == ["sent"]
    assert titles(platform) == [
        "📟 INC-1 · level 1 · Checkout down",
        "📟 INC-1 · level 1, round 2 · Checkout down",
    ], "round 2 was sent, not taken for round 1"
    assert round_2[0].message_id == platform.pages("alice")[1].message_id


ONE_LEVEL = """
[people.alice]
name = "Alice"
fake = "alice"

[policies.default]
repeat = 0

[[policies.default.levels]]
targets = ["person:alice"]
escalate_after = "1s"
"""


async def test_a_page_held_up_until_nobody_acknowledged_is_still_sent_and_answerable(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> None:
    """The last level's page waits (a rate limit) past the step that finds nobody
    acknowledged: nobody did, so it still goes out, with its Acknowledge button, and an
    acknowledgement then redraws it."""
    async with configured(ONE_LEVEL, database_url, tmp_path, platform, clock) as chat:
        platform.later["open_dm"] = 1  # alice's page: come back in 5 s
        await chat.run("declare Checkout down --sev 1", who="erin")
        await later(chat, 10)
        (page,) = await rows(chat)
        assert page.status == "sent", page.error
        (card,) = [p.card for p in platform.pages("alice") if p.card]
        assert [b.action for b in card.buttons] == ["ack"]
        dm = ChannelRef("Dalice", "@alice")
        await chat.click("ack", 1, who="alice", channel=dm)
        (card,) = [p.card for p in platform.pages("alice") if p.card]
        assert card.buttons == () and "Acknowledged by Alice" in card.body
