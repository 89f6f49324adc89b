"""Pages on Slack: cards in a person's direct messages, against the fake Slack with only the
scopes the manifest asks for. The card is posted, updated and looked for as the core does
(``open_dm``, ``post_card``, ``update_card``, ``recent_posts``); its button is clicked in
the direct message through real slack-bolt."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer

from adapters.slack.manifest import BOT_SCOPES
from adapters.slack.platform import SlackPlatform
from adapters.slack.webapi import make_client
from bot.errors import PlatformError, Unsupported
from bot.platform import MessageRef
from bot.runs import posted
from bot.ui import Button, Card, CardField
from tests.fakes.slack_api import TOKEN, FakeSlack
from tests.test_slack import Rig, rig, start_tocsin

__all__ = ["rig"]  # the fixture: Slack's rig, with the manifest's scopes

TITLE = "INC-1 · SEV1 · Database <primary> & replica are down"


def page(number: int = 1, *, ack: bool = True, body: str = "You are on call.") -> Card:
    """A page as the core draws it: the incident, and an Acknowledge button."""
    buttons = (Button("Acknowledge", "ack", number, "primary"),) if ack else ()
    return Card(TITLE, 0xD32F2F, (CardField("Severity", "SEV1"),), body, buttons)


def slack(rig: Rig) -> SlackPlatform:
    platform = rig.core.wiring.platforms["slack"]
    assert isinstance(platform, SlackPlatform)
    return platform


async def test_a_page_is_a_card_in_the_dm_its_button_acknowledges(rig: Rig) -> None:
    await rig.command("declare Database is down --sev 1")
    room = rig.room()["id"]
    platform = slack(rig)
    since = datetime.now(UTC) - timedelta(seconds=1)

    dm = await platform.open_dm("U2BOB")
    assert dm.id == rig.fake.im_with("U2BOB") and dm.id.startswith("D")
    assert await platform.open_dm("U2BOB") == dm, "opening it again is no error"
    assert rig.fake.calls.count("conversations.open") == 1, "a DM's id never changes"
    sent = await platform.post_card(dm, page())
    assert sent.channel_id == dm.id
    (message,) = rig.fake.in_channel(dm.id)
    actions = next(b for b in message.blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == ["tocsin:ack:1"]

    # A retry finds the page it sent by the card's title, as the title was given.
    (found,) = await platform.recent_posts(dm, since)
    assert found.ref == sent and found.text == TITLE

    # Bob clicks Acknowledge in his DM: not the incident's channel.
    assert await rig.click("tocsin:ack:1", user="U2BOB", channel=dm.id) == 200
    incident = (await rig.core.wiring.views.full(1)).incident
    assert incident.status == "acknowledged" and incident.owner_name == "bob"
    (answer,) = [r for r in rig.fake.responses if r["key"] == "i1"]
    assert "INC-1" in answer["text"] and "acknowledged by <@U2BOB>" in answer["text"]
    assert answer["replace_original"] is False, "the page stays, for the core to update"
    (card,) = [m for m in rig.fake.in_channel(room) if m.blocks]
    assert card.updates == 1 and "<@U2BOB>" in json.dumps(card.blocks)

    # The core then updates the page (from the ids it kept): who acknowledged, no button.
    await platform.update_card(MessageRef(dm.id, sent.id), page(ack=False, body="Acked by bob."))
    (message,) = rig.fake.in_channel(dm.id)
    assert message.updates == 1 and "Acked by bob." in json.dumps(message.blocks)
    assert not any(b["type"] == "actions" for b in message.blocks)


async def test_a_dm_button_for_an_incident_that_moved_on_is_answered(rig: Rig) -> None:
    await rig.command("declare Database is down --sev 1")
    dm = await slack(rig).open_dm("U3CAROL")
    await slack(rig).post_card(dm, page())
    await rig.command("ack", channel=rig.room()["id"])
    assert await rig.click("tocsin:ack:1", user="U3CAROL", channel=dm.id) == 200
    (answer,) = [r for r in rig.fake.responses if r["key"] == "i1"]
    assert answer["response_type"] == "ephemeral" and "already acknowledged" in answer["text"]
    assert (await rig.core.wiring.views.full(1)).incident.owner_name == "alice"


async def test_a_dm_button_works_after_a_restart(rig: Rig) -> None:
    await rig.command("declare Database is down --sev 1")
    dm = await slack(rig).open_dm("U2BOB")
    await slack(rig).post_card(dm, page())
    await rig.core.aclose()
    core, adapter, web_app = await start_tocsin(rig.core.settings, rig.fake)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    restarted = Rig(rig.fake, core, adapter, server, rig.http)
    try:
        assert await restarted.click("tocsin:ack:1", user="U2BOB", channel=dm.id) == 200
        assert (await core.wiring.views.full(1)).incident.status == "acknowledged"
    finally:
        await server.close()
        await core.aclose()


@pytest.mark.parametrize(
    ("user", "error", "why"),
    [
        ("U9NOBODY", "user_not_found", "no such person in this workspace"),
        ("UOTHERBOT", "cannot_dm_bot", "a bot's"),
        ("U3CAROL", "user_disabled", "deactivated"),
    ],
)
async def test_a_person_slack_will_not_message_is_refused_for_good(
    user: str, error: str, why: str
) -> None:
    fake = FakeSlack(scopes=BOT_SCOPES)
    fake.disabled.add("U3CAROL")
    await fake.start()
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0)
    try:
        for attempt in (platform.open_dm, lambda who: platform.post_dm(who, "INC-1 failed")):
            with pytest.raises(PlatformError) as refused:
                await attempt(user)
            assert not refused.value.retryable and refused.value.code == error
            assert str(refused.value).startswith(f"Slack refused a direct message to {user}: ")
            assert error in str(refused.value) and why in str(refused.value)
        assert not fake.ims and not fake.messages
    finally:
        await fake.close()


async def test_a_slack_that_fails_or_does_not_answer_is_tried_again() -> None:
    fake = FakeSlack(scopes=BOT_SCOPES)
    await fake.start()
    platform = SlackPlatform(make_client(TOKEN, fake.url, timeout=1), per_channel_interval=0)
    try:
        for mode in ("5xx", "stall"):
            fake.fault(lambda method, _args: method == "conversations.open", mode)
            with pytest.raises(PlatformError) as failed:
                await platform.open_dm("U2BOB")
            assert failed.value.retryable, mode
        dm = await platform.open_dm("U2BOB")  # a failure is not remembered
        fake.fault(lambda method, _args: method == "chat.postMessage", "5xx")
        with pytest.raises(PlatformError) as failed:
            await platform.post_card(dm, page())
        assert failed.value.retryable
        await platform.post_card(dm, page())
        assert len(fake.in_channel(dm.id)) == 1
    finally:
        await fake.close()


async def test_post_dm_tells_people_in_the_same_conversation() -> None:
    fake = FakeSlack(scopes=BOT_SCOPES)
    await fake.start()
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0)
    try:
        dm = await platform.open_dm("U2BOB")
        await platform.post_card(dm, page())
        told = await platform.post_dm("U2BOB", "Paging INC-1 failed: see its channel.")
        assert told.channel_id == dm.id
        assert [m.text for m in fake.in_channel(dm.id)][-1].startswith("Paging INC-1 failed")
        assert len(fake.ims) == 1
    finally:
        await fake.close()


async def test_without_a_dm_scope_slack_refuses_and_the_reason_says_which() -> None:
    fake = FakeSlack(scopes=set(BOT_SCOPES) - {"im:write", "im:history"})
    await fake.start()
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0)
    try:
        with pytest.raises(PlatformError) as refused:
            await platform.open_dm("U2BOB")
        assert not refused.value.retryable and "im:write" in str(refused.value)
        fake.scopes = set(BOT_SCOPES) - {"im:history"}
        dm = await platform.open_dm("U2BOB")
        await platform.post_card(dm, page())
        since = datetime.now(UTC) - timedelta(minutes=1)
        with pytest.raises(Unsupported, match="im:history"):
            await platform.recent_posts(dm, since)
        # The retry cannot look, so it sends the page again rather than risk sending none.
        assert await posted(platform, dm, since, lambda text: text == TITLE) is None
    finally:
        await fake.close()
