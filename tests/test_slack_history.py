"""A retry's look-up on Slack reads a conversation's history page after page: its own post
may lie under more than a page (15 messages) of newer ones, as in the direct messages of
someone paged by many incidents at once; reading one page it would not be found, and the
page would be sent a second time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.slack.manifest import BOT_SCOPES
from adapters.slack.platform import HISTORY_PAGES, SlackPlatform
from adapters.slack.webapi import make_client
from bot.runs import posted
from bot.ui import Card
from tests.fakes.slack_api import TOKEN, FakeSlack


def card(title: str) -> Card:
    return Card(title, 0xD32F2F, (), "You are on call.", ())


async def test_a_post_under_pages_of_newer_ones_is_found() -> None:
    fake = FakeSlack(scopes=BOT_SCOPES)
    await fake.start()
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0)
    try:
        since = datetime.now(UTC) - timedelta(seconds=1)
        dm = await platform.open_dm("U2BOB")
        mine = await platform.post_card(dm, card("📟 INC-1 · level 1 · Disk full"))
        for number in range(2, 42):  # 40 newer pages: nearly three pages of history
            await platform.post_card(dm, card(f"📟 INC-{number} · level 1 · Disk full"))
        found = await posted(platform, dm, since, lambda t: t.startswith("📟 INC-1 · level 1 ·"))
        assert found == mine
        assert 3 <= fake.calls.count("conversations.history") <= HISTORY_PAGES
    finally:
        await fake.close()
