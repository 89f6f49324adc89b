"""The incident flow through the dispatcher, as an adapter drives it, on both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import Core, open_core
from bot.clock import ManualClock
from bot.errors import Unsupported
from bot.lifecycle import Status
from bot.platform import ChannelRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage import jobs
from tests.conftest import Chat


async def declare(chat: Chat, text: str = "Database is down --sev 2 --service api") -> ChannelRef:
    reply = await chat.run(f"declare {text}")
    assert reply.ok, reply.text
    number = max((await chat.core.service.incidents("all")), key=lambda i: i.id or 0).id
    assert number is not None
    return chat.channel(number)


async def test_declare_creates_channel_card_announcement_and_answers(
    chat: Chat, platform: RecordingPlatform
) -> None:
    reply = await chat.run("declare Database is down --sev 2 --service api --desc replica lag")
    assert reply.ok and not reply.ephemeral and reply.interim
    assert (
        "Declared **INC-1** (SEV2 major): Database is down · setting up its channel" in reply.text
    )
    (answer,) = chat.answers()  # once the channel exists, the declarer is told where
    assert (
        "Declared **INC-1** (SEV2 major): Database is down · channel #inc-1-database-is-down"
        in answer
    )
    channel = platform.channel_named("inc-1-database-is-down")
    assert platform.topics[channel.id].startswith("INC-1 · SEV2 major · triggered")
    assert platform.members[channel.id] == {"alice"}
    (card,) = platform.cards(channel.id)
    assert card.pinned and card.card is not None
    assert card.card.title == "INC-1 · Database is down"
    assert [b.custom_id for b in card.card.buttons] == [
        "tocsin:ack:1",
        "tocsin:status:1",
        "tocsin:resolve:1",
    ]
    (announcement,) = platform.texts("incidents")
    assert "New incident INC-1" in announcement and "#inc-1-database-is-down" in announcement
    view = await chat.core.wiring.views.full(1)
    assert view.incident.commander_key == "fake:alice" and view.incident.status == "triggered"
    assert [r.role for r in view.roles] == ["commander"]
    assert [e.kind for e in view.events] == ["declared", "channel"]


async def test_every_state_change_edits_the_same_card(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    (card,) = platform.cards(room.id)
    for text in (
        "ack",
        "status identified bad deploy",
        "update rolling back",
        "sev 1",
        "assign operations <@bob>",
        "task add roll back <@bob>",
        "task done 1",
        "resolve rolled back",
        "close",
    ):
        reply = await chat.run(text, channel=room)
        assert reply.ok, f"{text}: {reply.text}"
    assert len(platform.cards(room.id)) == 1, "no second card: the first is edited"
    statuses = [next(f.value for f in c.fields if f.name == "Status") for c in card.edits]
    assert statuses[0].endswith("acknowledged") and statuses[-1].endswith("closed")
    assert len(card.edits) == 9, "each change edits the card once"
    assert platform.topics[room.id].startswith("INC-1 · SEV1 critical · closed")
    assert card.card is not None and card.card.buttons == ()
    view = await chat.core.wiring.views.full(1)
    i = view.incident
    assert i.declared_at <= i.acknowledged_at <= i.resolved_at <= i.closed_at  # type: ignore[operator]
    assert i.owner_key == "fake:alice" and i.severity == 1 and i.summary == "rolled back"
    kinds = [e.kind for e in view.events]
    assert kinds == [
        "declared",
        "channel",
        "acknowledged",
        "status",
        "update",
        "severity",
        "role",
        "task_added",
        "task_done",
        "resolved",
        "closed",
    ]


async def test_status_updates_are_posted_and_mirrored_to_the_announce_channel(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    await chat.run("status investigating looking at replicas", channel=room)
    assert any("looking at replicas" in t for t in platform.texts(room.id))
    assert any("looking at replicas" in t for t in platform.texts("incidents"))


async def test_the_topic_follows_severity_and_status_and_only_then(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    await chat.run("sev 1", channel=room)
    assert platform.topics[room.id].startswith("INC-1 · SEV1 critical · triggered")
    await chat.run("status monitoring fix deployed", channel=room)
    assert platform.topics[room.id].startswith("INC-1 · SEV1 critical · monitoring")
    before = platform.calls.count("set_topic")
    await chat.run("update error rate back to normal", channel=room)
    await chat.run("note the cache was cold", channel=room)
    assert platform.calls.count("set_topic") == before, "no topic change, no call"


async def test_buttons_and_forms_do_what_the_commands_do(
    chat: Chat, platform: RecordingPlatform
) -> None:
    form = await chat.run("declare")
    assert form.form is not None and form.form.action == "declare"
    assert [f.name for f in form.form.fields] == ["title", "severity", "service", "description"]
    reply = await chat.click(
        "declare", None, values={"title": "Checkout errors", "severity": "1", "description": "5xx"}
    )
    assert reply.ok, reply.text
    assert (await chat.click("ack", 1, who="bob")).ok
    status_form = await chat.click("status", 1)
    assert status_form.form is not None and status_form.form.incident_id == 1
    assert status_form.form.title == "Update INC-1"
    assert [f.name for f in status_form.form.fields] == ["status", "message"]
    reply = await chat.click("status", 1, values={"status": "monitoring", "message": "fixed"})
    assert reply.ok, reply.text
    resolve_form = await chat.click("resolve", 1)
    assert resolve_form.form is not None and resolve_form.form.title == "Resolve INC-1"
    assert (await chat.click("resolve", 1, values={"summary": "rolled back"})).ok
    assert (await chat.click("close", 1)).ok
    i = (await chat.core.wiring.views.full(1)).incident
    assert (i.title, i.severity, i.owner_key, i.status) == (
        "Checkout errors",
        1,
        "fake:bob",
        "closed",
    )


@pytest.mark.parametrize(
    ("steps", "text", "message"),
    [
        ([], "ack", "acts on an incident: run it in the incident's channel"),
        ([], "sev 1 INC-9", "there is no incident INC-9"),
        (["resolve"], "ack", "INC-1 is resolved: close it, or reopen it if it is not over"),
        (["resolve", "close"], "resolve", "INC-1 is closed and cannot change any more"),
        ([], "close", "INC-1 is triggered: resolve it before closing it"),
        (["ack"], "ack", "INC-1 is already acknowledged"),
        (["cancel oops"], "status investigating", "INC-1 was cancelled"),
        ([], "assign pilot <@bob>", "there is no role 'pilot'"),
        ([], "sev 9", "'9' is not a severity"),
        ([], "task done 4", "INC-1 has no task 4"),
        ([], "sev 2", "INC-1 is SEV2 already"),
        ([], "reopen", "INC-1 is triggered, not resolved: there is nothing to reopen"),
        (["status monitoring"], "reopen why", "INC-1 is monitoring, not resolved"),
        (["resolve", "close"], "reopen", "INC-1 is closed and cannot be reopened; declare a"),
        (["cancel oops"], "reopen", "INC-1 was cancelled and cannot be reopened"),
        (["status monitoring"], "status monitoring", "INC-1 is already monitoring. To post an"),
        (["status monitoring same"], "status monitoring same", "that update is posted"),
        (["status monitoring", "update same"], "status monitoring same", "is posted"),
        (["task add roll back <@bob>", "resolve"], "close", "INC-1 still has 1 open task:"),
        (["task add a", "task add b", "resolve"], "close", "☐ 2. b\nMark them done"),
    ],
)
async def test_refused_commands_say_why_and_change_nothing(
    chat: Chat, platform: RecordingPlatform, steps: list[str], text: str, message: str
) -> None:
    room = await declare(chat)
    for step in steps:
        assert (await chat.run(step, channel=room)).ok
    before = await chat.core.wiring.views.full(1)
    edits = len(platform.cards(room.id)[0].edits)
    rows = len(await jobs.of(chat.core.sessions, "incident:1", status=None))
    posts = len(platform.messages)
    where = chat.lobby if text == "ack" and not steps else room
    reply = await chat.run(text, channel=where)
    assert not reply.ok and reply.ephemeral
    assert message in reply.text
    after = await chat.core.wiring.views.full(1)
    assert after.incident.model_dump() == before.incident.model_dump()
    assert len(after.events) == len(before.events)
    assert len(platform.cards(room.id)[0].edits) == edits
    assert len(await jobs.of(chat.core.sessions, "incident:1", status=None)) == rows, "no job"
    assert len(platform.messages) == posts


async def test_commands_name_an_incident_from_anywhere(chat: Chat) -> None:
    await declare(chat)
    reply = await chat.run("ack INC-1")
    assert reply.ok and "INC-1 acknowledged" in reply.text
    reply = await chat.run("ack INC-42")
    assert not reply.ok and "there is no incident INC-42" in reply.text


@pytest.mark.parametrize(
    "text",
    [
        "sev 1 INC-1",
        "INC-1 sev 1",
        "sev INC-1 1",
        "export md INC-1",
        "assign operations <@bob> INC-1",
        "assign INC-1 operations <@bob>",
        "task add roll back the deploy <@bob> INC-1",
        "status monitoring rolled back INC-1",
        "note INC-1 the replica caught up",
    ],
)
async def test_the_incident_may_be_named_anywhere_among_the_arguments(
    chat: Chat, text: str
) -> None:
    await declare(chat)
    reply = await chat.run(text.replace("INC-1 sev", "sev").replace("INC-1 sev 1", "sev 1"))
    if text.startswith("INC-1"):
        reply = await chat.run("sev 1 INC-1")
    assert reply.ok, reply.text
    assert "INC-1" in reply.text


async def test_a_long_title_is_refused_with_the_limit(
    chat: Chat, platform: RecordingPlatform
) -> None:
    reply = await chat.run("declare " + "x" * 250)
    assert not reply.ok and "250 characters long; the limit is 200" in reply.text
    assert await chat.core.service.incidents("all") == []
    assert platform.channels == {}


async def test_unknown_commands_get_usage_with_a_suggestion(chat: Chat) -> None:
    reply = await chat.run("resolv")
    assert not reply.ok
    assert "Did you mean `/incident resolve`?" in reply.text
    assert "/incident declare <title…>" in reply.text


async def test_channel_names_never_collide(chat: Chat, platform: RecordingPlatform) -> None:
    platform.taken.add("inc-1-database-is-down")
    await chat.run("declare Database is down")
    assert platform.channel_named("inc-1-database-is-down-2")


async def test_channel_names_follow_the_platform_rules(
    chat: Chat, platform: RecordingPlatform
) -> None:
    await chat.run("declare Ünïcode & ÉMOJI 🔥 " + "very long title " * 10)
    channel = chat.channel(1)
    assert len(channel.name) <= 80
    assert set(channel.name) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")
    assert channel.name.startswith("inc-1-unicode-emoji-fire-very-long-title")


async def test_a_platform_refusal_after_declaring_keeps_the_incident_and_says_so(
    chat: Chat, platform: RecordingPlatform
) -> None:
    platform.fail_on.add("post_card")
    reply = await chat.run("declare Disk full")
    assert reply.ok and "try again" not in reply.text
    (told,) = chat.answers()
    assert "INC-1" in told and "setting up the incident's channel failed on fake" in told
    assert "post\\_card failed" in told and "What was saved stays saved" in told
    view = await chat.core.wiring.views.full(1)
    assert view.incident.title == "Disk full"
    failed = [e for e in view.events if e.kind == "failed"]
    assert [e.detail for e in failed] == ["setting up the incident's channel"]


async def test_an_unexpected_error_gives_an_error_id_and_no_traceback(
    chat: Chat, platform: RecordingPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    room = await declare(chat)

    async def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    platform.resolve_user = broken  # type: ignore[method-assign,assignment]
    reply = await chat.run("assign operations <@bob>", channel=room)
    assert not reply.ok
    assert "Sorry, something went wrong" in reply.text and "boom" not in reply.text
    assert "nothing was saved" in reply.text
    error_id = reply.text.split("error id `")[1].split("`")[0]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_export_uploads_the_markdown_timeline(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    await chat.run("note the primary ran out of disk", channel=room)
    reply = await chat.run("export md", channel=room)
    assert reply.ok and "inc-1-timeline.md" in reply.text
    ((channel_id, filename, content),) = platform.files
    assert await chat.run("export md INC-1") and len(platform.files) == 2
    assert (channel_id, filename) == (room.id, "inc-1-timeline.md")
    document = content.decode()
    assert document.startswith("# INC-1: Database is down")
    assert "noted: the primary ran out of disk" in document


async def test_roles_tasks_timeline_and_list_read_back(chat: Chat) -> None:
    room = await declare(chat)
    await chat.run("assign commander <@bob>", channel=room)
    await chat.run("task add page the DBA", channel=room)
    roles = await chat.run("roles", channel=room)
    assert "commander: bob" in roles.text and "operations: *unassigned*" in roles.text
    assert "☐ 1. page the DBA" in (await chat.run("tasks", channel=room)).text
    timeline = (await chat.run("timeline", channel=room)).text
    assert "made bob the commander" in timeline
    assert (await chat.core.wiring.views.full(1)).incident.commander_key == "fake:bob"
    await declare(chat, "Second one")
    listing = (await chat.run("list")).text
    assert listing.index("INC-2") < listing.index("INC-1")
    await chat.run("cancel mistake", channel=chat.channel(2))
    assert "INC-2" not in (await chat.run("list")).text
    assert "INC-2" in (await chat.run("list all")).text


async def test_a_clock_that_steps_back_never_reverses_the_timestamps(
    chat: Chat, core: Core
) -> None:
    room = await declare(chat)
    chat.clock.advance(timedelta(hours=-5))
    await chat.run("ack", channel=room)
    chat.clock.advance(timedelta(hours=-5))
    await chat.run("resolve", channel=room)
    i = (await core.wiring.views.full(1)).incident
    assert i.declared_at <= i.acknowledged_at <= i.resolved_at  # type: ignore[operator]
    assert i.status == Status.RESOLVED


async def test_concurrent_acks_make_one_owner(chat: Chat) -> None:
    import asyncio

    room = await declare(chat)
    replies = await asyncio.gather(
        *[chat.run("ack", who=w, channel=room) for w in ("alice", "bob", "carol")]
    )
    assert sum(r.ok for r in replies) == 1
    events = (await chat.core.wiring.views.full(1)).events
    assert [e.kind for e in events].count("acknowledged") == 1


async def test_a_note_costs_the_same_on_a_long_timeline(
    chat: Chat, platform: RecordingPlatform
) -> None:
    """A change reads the incident row, not its timeline: what a card shows is kept on it."""
    room = await declare(chat)
    await chat.run("status identified the replica", channel=room)
    for n in range(30):
        await chat.run(f"note {n}", channel=room)
    card = platform.cards(room.id)[0].card
    assert card is not None and "the replica" in card.body


def status_of(platform: RecordingPlatform, room: ChannelRef) -> str:
    card = platform.cards(room.id)[0].card
    assert card is not None
    return next(f.value for f in card.fields if f.name == "Status")


async def test_the_resolve_button_asks_for_a_summary_first(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    asked = await chat.click("resolve", 1, channel=room)
    assert asked.ok and asked.form is not None
    assert (asked.form.title, asked.form.submit_label) == ("Resolve INC-1", "Resolve")
    (summary,) = asked.form.fields
    assert (summary.name, summary.label, summary.required) == ("summary", "What fixed it?", True)
    assert summary.multiline and summary.max_length == 3000
    view = await chat.core.wiring.views.full(1)
    assert view.incident.status == "triggered" and "resolved" not in [e.kind for e in view.events]
    done = await chat.click("resolve", 1, values={"summary": "failed over"}, channel=room)
    assert done.ok and "INC-1 is resolved" in done.text
    incident = (await chat.core.wiring.views.full(1)).incident
    assert (incident.status, incident.summary) == ("resolved", "failed over")
    # A card drawn before the resolve still shows the button: it says so, without a form.
    stale = await chat.click("resolve", 1, who="bob", channel=room)
    assert not stale.ok and stale.form is None
    assert "INC-1 is resolved now: the Resolve button no longer applies." in stale.text


async def test_reopen_goes_back_to_investigating_on_the_timeline_and_reminds_again(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat, "Database is down --sev 1")  # SEV1: an update every 15 min
    await chat.run("resolve rolled back", channel=room)
    chat.clock.advance(timedelta(minutes=20))
    await chat.core.settle()
    assert not [t for t in platform.texts(room.id) if t.startswith("⏰")], "resolved: quiet"
    reply = await chat.run("reopen error rate is up again", who="bob", channel=room)
    assert reply.ok and not reply.ephemeral
    assert "INC-1 is reopened and back to **investigating**" in reply.text
    view = await chat.core.wiring.views.full(1)
    i = view.incident
    assert (i.status, i.resolved_at, i.summary) == ("investigating", None, "")
    assert i.acknowledged_at is not None and i.owner_key == "fake:bob", "who reopens owns it"
    assert [e.kind for e in view.events][-3:] == ["resolved", "acknowledged", "reopened"]
    assert view.events[-1].text == "error rate is up again"
    assert (
        "reopened the incident: error rate is up again"
        in (await chat.run("timeline", channel=room)).text
    )
    assert status_of(platform, room).endswith("investigating")
    (card,) = platform.cards(room.id)
    assert card.card is not None
    assert [b.label for b in card.card.buttons] == ["Update status", "Resolve"]
    assert platform.topics[room.id].startswith("INC-1 · SEV1 critical · investigating")
    for where in (room.id, "incidents"):
        assert any("reopened: back to investigating" in t for t in platform.texts(where))
    chat.clock.advance(timedelta(minutes=16))
    await chat.core.settle()
    (reminder,) = [t for t in platform.texts(room.id) if t.startswith("⏰")]
    assert "no status update for 16 minutes" in reminder
    await chat.run("resolve rolled back again", channel=room)
    i = (await chat.core.wiring.views.full(1)).incident
    assert i.acknowledged_at <= i.resolved_at and i.summary == "rolled back again"  # type: ignore[operator]


async def test_the_same_status_with_news_is_an_update_and_without_is_refused(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    await chat.run("status monitoring fix deployed", channel=room)
    reply = await chat.run("status monitoring error rate falling", channel=room)
    assert reply.ok
    assert "INC-1 is already **monitoring**: your message is posted as an update" in reply.text
    view = await chat.core.wiring.views.full(1)
    assert [e.kind for e in view.events][-2:] == ["status", "update"]
    assert view.incident.last_update_text == "error rate falling"
    posted = [t for t in platform.texts("incidents") if "error rate falling" in t]
    assert len(posted) == 1 and "· update" in posted[0]


async def test_a_severity_change_takes_a_reason_and_a_raise_is_announced_once(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)  # SEV2
    reply = await chat.run("sev 1 customer impact widened", channel=room)
    assert reply.ok and "INC-1 is now SEV1 critical" in reply.text
    await chat.run("sev 3", channel=room)  # lowered: not announced
    await chat.run("sev 2 EU checkout failing too", channel=room)
    view = await chat.core.wiring.views.full(1)
    changes = [(e.detail, e.text) for e in view.events if e.kind == "severity"]
    assert changes == [
        ("SEV2 → SEV1", "customer impact widened"),
        ("SEV1 → SEV3", ""),
        ("SEV3 → SEV2", "EU checkout failing too"),
    ]
    raised = [t for t in platform.texts("incidents") if "severity raised" in t]
    assert len(raised) == 2
    assert (
        "**INC-1 · Database is down** · severity raised to SEV1 critical (was SEV2 major)"
        in (raised[0])
    )
    assert "customer impact widened" in raised[0] and "#inc-1-database-is-down" in raised[0]
    assert "raised to SEV2 major (was SEV3 minor)" in raised[1]
    assert not [t for t in platform.texts(room.id) if "severity raised" in t]
    timeline = (await chat.run("timeline", channel=room)).text
    assert "changed the severity: SEV2 → SEV1 (customer impact widened)" in timeline


@pytest.fixture
async def quick(
    settings: Settings, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Chat]:
    """Effects with short tries: a call whose answer is lost is timed out and retried."""
    fast = {"timeout": timedelta(seconds=0.2), "backoff": timedelta(seconds=10)}
    core = await open_core(settings, {platform.name: platform}, clock=clock, **fast)
    try:
        yield Chat(core, platform, clock)
    finally:
        await core.aclose(grace=0.5)


async def test_a_raised_severity_whose_post_was_lost_is_announced_once(
    quick: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(quick)
    platform.lose_answers["post_message"] = 1  # posted, but the answer never comes
    await quick.run("sev 1 customer impact widened", channel=room)
    quick.clock.advance(timedelta(seconds=10))
    await quick.core.settle()
    raised = [t for t in platform.texts("incidents") if "severity raised" in t]
    assert len(raised) == 1, raised
    assert platform.calls.count("recent_posts") >= 1, "the retry looked before posting"


async def test_an_assigned_person_is_invited_to_the_channel(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    assert platform.members[room.id] == {"alice"}
    reply = await chat.run("assign communications <@bob>", channel=room)
    assert reply.text == "@bob is now the communications lead of INC-1."
    assert platform.members[room.id] == {"alice", "bob"}
    await chat.run("assign commander <@alice>", channel=room)  # there already: fine
    timeline = (await chat.run("timeline", channel=room)).text
    assert "made bob the communications lead" in timeline
    refused = await chat.run("assign communications <@bob>", channel=room)
    assert "bob is the communications lead of INC-1 already." in refused.text
    assert "failed" not in [e.kind for e in (await chat.core.wiring.views.full(1)).events]


async def test_a_platform_that_cannot_invite_still_assigns(
    chat: Chat, platform: RecordingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    room = await declare(chat)

    async def cannot(_channel: ChannelRef, _ids: list[str]) -> None:
        raise Unsupported("this platform has no channel membership")

    monkeypatch.setattr(platform, "invite", cannot)
    assert (await chat.run("assign operations <@bob>", channel=room)).ok
    view = await chat.core.wiring.views.full(1)
    assert [r.role for r in view.roles] == ["commander", "operations"]
    assert "failed" not in [e.kind for e in view.events]
    assert status_of(platform, room).endswith("triggered") and platform.cards(room.id)[0].edits


async def test_an_invitation_refused_for_good_is_on_the_timeline_and_told(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    platform.fail_on.add("invite")
    assert (await chat.run("assign operations <@bob>", channel=room)).ok
    view = await chat.core.wiring.views.full(1)
    (failed,) = [e for e in view.events if e.kind == "failed"]
    assert failed.detail == "inviting bob to #inc-1-database-is-down"
    assert "Tocsin gave up inviting bob" in (await chat.run("timeline", channel=room)).text
    told = [t for to, t, public in platform.answers if to == "reply:alice" and not public]
    assert any("inviting bob to #inc-1-database-is-down failed" in t for t in told)
    card = platform.cards(room.id)[0].card
    assert card is not None and "operations" not in card.body  # the card is current anyway
    assert len(platform.cards(room.id)[0].edits) == 1


async def test_close_with_open_tasks_lists_them_and_force_leaves_them_on_record(
    chat: Chat, platform: RecordingPlatform
) -> None:
    room = await declare(chat)
    await chat.run("task add roll back 4.2 <@bob>", channel=room)
    await chat.run("task add page the DBA", channel=room)
    await chat.run("task done 2", channel=room)
    await chat.run("resolve rolled back", channel=room)
    refused = await chat.run("close", channel=room)
    assert not refused.ok and refused.ephemeral
    assert refused.text.replace("\\", "") == (  # as Markdown escapes <n>
        "⚠️ INC-1 still has 1 open task:\n☐ 1. roll back 4.2 (bob)\nMark it done "
        "(/incident task done <n>), or close it anyway: /incident close INC-1 --force "
        "(it stays on the record as left open)."
    )
    clicked = await chat.click("close", 1, channel=room)  # the card's button: the same
    assert not clicked.ok and "still has 1 open task" in clicked.text
    closed = await chat.run("close --force", channel=room)
    assert closed.ok and closed.text == "📁 INC-1 is closed. 1 task was left open."
    view = await chat.core.wiring.views.full(1)
    assert view.incident.status == "closed" and view.incident.open_tasks == 1
    assert (view.events[-1].kind, view.events[-1].detail) == ("closed", "1")
    card = platform.cards(room.id)[0].card
    assert card is not None and "Open tasks" not in card.body
    assert "1 task was left open when it was closed (/incident tasks)" in card.body
    tasks = (await chat.run("tasks", channel=room)).text
    assert "☐ 1. roll back 4.2 · bob · *left open*" in tasks
    timeline = (await chat.run("timeline", channel=room)).text
    assert "closed the incident, leaving task 1 open" in timeline


async def test_close_without_open_tasks_needs_no_force(chat: Chat) -> None:
    room = await declare(chat)
    await chat.run("task add roll back", channel=room)
    await chat.run("task done 1", channel=room)
    await chat.run("resolve", channel=room)
    assert (await chat.run("close", channel=room)).text == "📁 INC-1 is closed."
