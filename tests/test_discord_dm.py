"""Pages on Discord: cards in a person's DM, against the fake Discord. The card is posted,
updated and looked for as the core does (``open_dm``, ``post_card``, ``update_card``,
``recent_posts``); its button is clicked in the DM (an interaction with no server, the
person as a ``user``) through real discord.py, before and after a restart."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord.http
import pytest

from adapters.discord.platform import DiscordPlatform
from bot.errors import PlatformError
from bot.platform import MessageRef
from bot.ui import Button, Card, CardField
from tests.fakes.discord_api import ALICE, ANNOUNCE_ID, BOB, BOT_ID, FakeDiscord
from tests.test_discord import Rig, _QuickRetries, rig, start

__all__ = ["rig"]  # the fixture: Discord's rig

TITLE = "INC-1 · SEV1 · db_primary *and* replica are down | @everyone"


def page(number: int = 1, *, ack: bool = True, body: str = "You are on call.") -> Card:
    """A page as the core draws it: the incident, and an Acknowledge button."""
    buttons = (Button("Acknowledge", "ack", number, "primary"),) if ack else ()
    return Card(TITLE, 0xD32F2F, (CardField("Severity", "SEV1"),), body, buttons)


def platform_of(rig: Rig) -> DiscordPlatform:
    return rig.bot.platform


async def test_a_page_is_a_card_in_the_dm_its_button_acknowledges(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down", severity="1")
    room = int(rig.room()["id"])
    platform = platform_of(rig)
    since = datetime.now(UTC) - timedelta(seconds=1)

    dm = await platform.open_dm(str(BOB))
    assert int(dm.id) == rig.fake.dm_with(BOB) and dm.name == "@bob"
    assert await platform.open_dm(str(BOB)) == dm, "opening it again is no error"
    assert rig.fake.calls.count("POST /api/v10/users/@me/channels") == 1
    sent = await platform.post_card(dm, page())
    message = rig.fake.messages[int(sent.id)]
    assert message["channel_id"] == dm.id and "guild_id" not in message
    assert [c["custom_id"] for c in message["components"][0]["components"]] == ["tocsin:ack:1"]

    # A retry finds the page it sent by the card's title, as the title was given.
    (found,) = await platform.recent_posts(dm, since)
    assert found.ref == sent and found.text == TITLE

    # Bob clicks Acknowledge in his DM: no server, Bob as a user rather than a member.
    click = await rig.answered(await rig.fake.click(BOB, int(sent.id), "tocsin:ack:1"))
    assert "guild_id" not in click.payload and click.payload["user"]["id"] == str(BOB)
    assert click.kind == 4 and len(click.responses) == 1
    assert f"acknowledged by <@{BOB}>" in click.texts()[0]
    incident = (await rig.core.wiring.views.full(1)).incident
    assert incident.status == "acknowledged" and incident.owner_name == "Bob"
    assert rig.card(room)["updates"] == 1

    # The core then updates the page (from the ids it kept): who acknowledged, no button.
    await platform.update_card(MessageRef(dm.id, sent.id), page(ack=False, body="Acked by Bob."))
    message = rig.fake.messages[int(sent.id)]
    assert message["updates"] == 1 and message["components"] == []
    assert message["embeds"][0]["description"] == "Acked by Bob."


async def test_a_dm_button_for_an_incident_that_moved_on_is_answered(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down", severity="1")
    platform = platform_of(rig)
    sent = await platform.post_card(await platform.open_dm(str(BOB)), page())
    await rig.slash("ack", who=ALICE, incident="INC-1")
    click = await rig.answered(await rig.fake.click(BOB, int(sent.id), "tocsin:ack:1"))
    assert click.ephemeral and "already acknowledged" in click.texts()[0]
    assert (await rig.core.wiring.views.full(1)).incident.owner_name == "Alice"


async def test_a_dm_page_works_after_a_restart(database_url: str, tmp_path: Path) -> None:
    """The page was posted by the client before; a fresh client (nothing cached, no view
    registered for that message) takes the click, and updates and finds the page. The
    clicker is the person ``tocsin.toml`` knows by their Discord id."""
    config = tmp_path / "tocsin.toml"
    config.write_text(f'[people.robert]\nname = "Robert"\ndiscord = "{BOB}"\n')
    fake = FakeDiscord()
    await fake.start()
    settings = fake.settings(database_url, config)
    since = datetime.now(UTC) - timedelta(seconds=1)
    core, bot = await start(settings)
    try:
        declared = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Disk full")
        await asyncio.wait_for(declared.answered.wait(), 15)
        await bot.drain()
        await core.settle()
        dm = await bot.platform.open_dm(str(BOB))
        sent = await bot.platform.post_card(dm, page())
    finally:
        await bot.close()
        await core.aclose()
    core, bot = await start(settings)
    try:
        click = await fake.click(BOB, int(sent.id), "tocsin:ack:1")
        await asyncio.wait_for(click.answered.wait(), 15)
        await bot.drain()
        await core.settle()
        assert click.kind == 4 and f"acknowledged by <@{BOB}>" in click.texts()[0]
        incident = (await core.wiring.views.full(1)).incident
        assert (incident.status, incident.owner_key) == ("acknowledged", "robert")
        kept = MessageRef(dm.id, sent.id)
        (found,) = await bot.platform.recent_posts(dm, since)
        assert found.ref == kept and found.text == TITLE
        await bot.platform.update_card(kept, page(ack=False, body="Acked by Bob."))
        assert fake.messages[int(sent.id)]["components"] == []
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()
    assert not fake.rejections, fake.rejections


async def test_a_person_discord_will_not_message_is_refused_for_good(rig: Rig) -> None:
    platform = platform_of(rig)
    rig.fake.closed_dms.add(BOB)
    dm = await platform.open_dm(str(BOB))  # Discord opens it; it refuses the message
    for send in (
        lambda: platform.post_card(dm, page()),
        lambda: platform.post_dm(str(BOB), "INC-1 failed"),
    ):
        with pytest.raises(PlatformError) as refused:
            await send()
        assert not refused.value.retryable and refused.value.code == "50007"
        assert "Cannot send messages to this user" in str(refused.value)
        assert "share a server with it" in str(refused.value)
    for who, code, said in (
        ("800000000000000099", "50033", "Invalid Recipient(s)"),
        (str(BOT_ID), "50007", "Cannot send messages to this user"),
    ):
        with pytest.raises(PlatformError) as refused:
            await platform.open_dm(who)
        assert not refused.value.retryable and refused.value.code == code
        assert str(refused.value).startswith(f"Discord refused opening a DM with {who}: {said}")
    with pytest.raises(PlatformError, match="'bob' is not a Discord user id"):
        await platform.open_dm("bob")
    assert not rig.fake.in_channel(int(dm.id))
    assert len(rig.fake.rejections) == 4
    rig.fake.rejections.clear()


async def test_a_discord_that_fails_is_tried_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5xx that lasts through discord.py's own five tries stays retryable."""
    monkeypatch.setattr(discord.http, "asyncio", _QuickRetries("asyncio"))
    platform = platform_of(rig)
    opening = rig.fake.fault(lambda m, p, _b: m == "POST" and p == "/users/@me/channels", "5xx", 5)
    with pytest.raises(PlatformError) as failed:
        await platform.open_dm(str(BOB))
    assert failed.value.retryable and opening.hits == 5
    dm = await platform.open_dm(str(BOB))
    path = f"/channels/{dm.id}/messages"
    posting = rig.fake.fault(lambda m, p, _b: m == "POST" and p == path, "5xx", 5)
    with pytest.raises(PlatformError) as failed:
        await platform.post_card(dm, page())
    assert failed.value.retryable and posting.hits == 5
    await platform.post_card(dm, page())
    assert len(rig.fake.in_channel(int(dm.id))) == 1


async def test_post_dm_tells_people_in_the_same_dm(rig: Rig) -> None:
    platform = platform_of(rig)
    dm = await platform.open_dm(str(ALICE))
    told = await platform.post_dm(str(ALICE), "Paging INC-1 failed: see its channel.")
    assert told.channel_id == dm.id
    (message,) = rig.fake.in_channel(int(dm.id))
    assert message["content"] == "Paging INC-1 failed: see its channel."


async def test_a_slow_dm_click_is_deferred_then_answered_in_the_dm(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down", severity="1")
    platform = platform_of(rig)
    dm = await platform.open_dm(str(BOB))
    sent = await platform.post_card(dm, page())
    rig.bot.answer_within = 0.0  # every answer is late: deferred, then followed up
    click = await rig.answered(await rig.fake.click(BOB, int(sent.id), "tocsin:ack:1"))
    assert click.kind == 5 and click.deleted, "the 'thinking…' gives way to the answer"
    (answer,) = [m for m in rig.fake.in_channel(int(dm.id)) if m["content"]]
    assert f"acknowledged by <@{BOB}>" in answer["content"]
    assert (await rig.core.wiring.views.full(1)).incident.status == "acknowledged"
