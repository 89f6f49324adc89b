"""The worker: effects after the commit, retried with backoff, told when they finally fail,
reminders as timed effects with an injected clock, bounded concurrency, leases taken over,
and the guards that keep replicas from doubling anything (tested with two cores)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import Core, open_core
from bot.clock import ManualClock
from bot.inbound import Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from bot.ui import Card
from storage import jobs
from storage.repo import Store
from tests.conftest import Chat, configured

FAST: dict[str, Any] = {
    "timeout": timedelta(seconds=1),  # short, yet long enough for a loaded machine
    "backoff": timedelta(seconds=10),
    "max_attempts": 3,
}


@pytest.fixture
async def quick(
    settings: Settings, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Core]:
    core = await open_core(settings, {platform.name: platform}, clock=clock, **FAST)
    try:
        yield core
    finally:
        await core.aclose(grace=0.5)


@pytest.fixture
def qchat(quick: Core, platform: RecordingPlatform, clock: ManualClock) -> Chat:
    return Chat(quick, platform, clock)


def unhurried(chat: Chat) -> None:
    """For a test about order, not stalls: a step slowed by a busy machine is not timed out
    (0.2 s) and retried after the backoff, which ``settle`` does not wait for."""
    assert chat.core.worker is not None
    chat.core.worker.timeout = timedelta(seconds=30)


async def retry_after_backoff(chat: Chat, seconds: int = 10) -> None:
    """Let the backoff pass on the injected clock, and the retries run."""
    chat.clock.advance(timedelta(seconds=seconds))
    await chat.core.settle()


async def test_a_failing_step_is_retried_and_what_was_done_is_not_done_again(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    platform.flaky["post_message"] = 1  # the announcement fails once with a 5xx
    await qchat.run("declare Disk full")
    assert platform.texts("incidents") == [], "not yet: it failed"
    (row,) = [
        r for r in await jobs.of(qchat.core.sessions, "incident:1") if r.kind == "incident.open"
    ]
    assert jobs.loads(row.state)["done"] == ["invite", "pin"] and "5xx" in row.last_error
    await retry_after_backoff(qchat)
    room = qchat.channel(1)
    assert len(platform.cards(room.id)) == 1 and platform.calls.count("create_channel") == 1
    assert len(platform.texts("incidents")) == 1
    assert platform.calls.count("pin") == 1 and platform.calls.count("invite") == 1
    assert len(qchat.answers()) == 1


async def test_a_look_up_tells_inc_1_from_inc_12(
    settings: Settings, platform: RecordingPlatform, clock: ManualClock
) -> None:
    """INC-1's announcement failed; by its retry INC-12 has been announced: that one is not
    INC-1's, so INC-1's is posted."""
    hour = timedelta(hours=1)
    core = await open_core(
        settings, {platform.name: platform}, clock=clock, backoff=hour, backoff_cap=hour
    )
    chat = Chat(core, platform, clock)
    try:
        platform.flaky["post_message"] = 1
        await chat.run("declare First")
        for n in range(2, 13):
            await chat.run(f"declare Other {n}")
        await retry_after_backoff(chat, 3600)
        announced = platform.texts("incidents")
        assert len(announced) == 12 and sum("New incident INC-1**" in t for t in announced) == 1
        assert announced[-1].startswith("🚨 **New incident INC-1**"), "posted last, on its retry"
    finally:
        await core.aclose()


async def test_being_told_to_come_back_later_is_no_failure(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    """A rate limit or a channel's pacing, however long it lasts, does not use up tries."""
    platform.later["post_message"] = 6  # twice the tries a failing job gets
    await qchat.run("declare Disk full")
    for _ in range(6):
        await retry_after_backoff(qchat, 5)
    assert len(platform.texts("incidents")) == 1
    view = await qchat.core.wiring.views.full(1)
    assert not [e for e in view.events if e.kind == "failed"]
    assert set(await jobs.counts(qchat.core.sessions)) <= {"done", "pending"}


async def test_a_rate_limit_after_the_channel_was_made_does_not_make_a_second(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    """Waiting out a rate limit is no failure, but the next try is still a retry: it looks
    for the channel the first try made."""
    platform.later["post_card"] = 1
    await qchat.run("declare Disk full")
    await retry_after_backoff(qchat, 5)
    assert platform.calls.count("create_channel") == 1
    assert sorted(c.name for c in platform.channels.values()) == ["inc-1-disk-full", "incidents"]
    assert len(platform.cards(qchat.channel(1).id)) == 1


async def test_a_job_whose_outcome_cannot_be_saved_is_handed_back(
    qchat: Chat, platform: RecordingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails as the worker saves what a job did, and as it gives the job
    back: the row is released (or left to its lease), not held and renewed forever."""
    from sqlalchemy.exc import OperationalError

    finish, again = jobs.finish, jobs.again
    broken = {"finish": 1, "again": 1}

    def failing(name: str, real: Any) -> Any:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if broken[name] > 0:
                broken[name] -= 1
                raise OperationalError("UPDATE jobs", {}, Exception("database is locked"))
            return await real(*args, **kwargs)

        return call

    monkeypatch.setattr(jobs, "finish", failing("finish", finish))
    monkeypatch.setattr(jobs, "again", failing("again", again))
    await qchat.run("declare Disk full")
    assert broken == {"finish": 0, "again": 0}
    assert set(await jobs.counts(qchat.core.sessions)) <= {"done", "pending"}
    room = qchat.channel(1)
    assert len(platform.cards(room.id)) == 1 and len(platform.texts("incidents")) == 1


async def test_a_call_that_hangs_is_timed_out_and_tried_again(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    platform.hang["post_card"] = 1
    await qchat.run("declare Disk full")
    assert not platform.cards(qchat.channel(1).id)
    await retry_after_backoff(qchat)
    assert len(platform.cards(qchat.channel(1).id)) == 1


async def test_a_card_posted_whose_answer_was_lost_is_found_not_posted_twice(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    platform.lose_answers["post_card"] = 1
    await qchat.run("declare Disk full")
    await retry_after_backoff(qchat)
    room = qchat.channel(1)
    (card,) = platform.cards(room.id)
    assert card.pinned and platform.calls.count("recent_posts") >= 1


async def test_an_effect_that_finally_fails_is_on_the_timeline_and_told(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    await qchat.run("declare Disk full")
    platform.flaky["update_card"] = 99
    room = qchat.channel(1)
    await qchat.run("ack", channel=room, who="bob")
    for _ in range(3):
        await retry_after_backoff(qchat, 60)
    view = await qchat.core.wiring.views.full(1)
    (failed,) = [e for e in view.events if e.kind == "failed"]
    assert (
        failed.actor_name == "Tocsin"  # the failure is Tocsin's; Bob, who caused the job, is told
        and failed.detail == "showing the change in the incident's channel"
    )
    (told,) = qchat.answers("bob")
    assert "gave up after 3 tries" in told and "update\\_card failed with a 5xx" in told
    assert (await jobs.counts(qchat.core.sessions)).get("failed") == 1


async def test_a_failure_of_a_job_another_process_took_over_is_not_reported(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    """While the card is being drawn, the lease passes to another process (this one
    stalled past it); the platform then refuses for good. The other process owns the
    outcome now: this one records and tells nothing."""
    from sqlalchemy import update

    from bot.errors import PlatformError
    from storage.models import Job

    await qchat.run("declare Disk full")
    sessions = qchat.core.sessions

    async def refused_after_take_over(*_args: object) -> None:
        async with sessions() as session, session.begin():
            await session.exec(
                update(Job).where(Job.status == "running").values(lease_owner="other")
            )
        raise PlatformError("update_card refused (as the test asked)")

    platform.update_card = refused_after_take_over  # type: ignore[method-assign]
    await qchat.run("ack", channel=qchat.channel(1), who="bob")
    view = await qchat.core.wiring.views.full(1)
    assert not [e for e in view.events if e.kind == "failed"]
    assert qchat.answers("bob") == []
    assert (await jobs.counts(sessions)).get("running") == 1, "the other process holds it"


async def test_an_unexpected_error_in_an_effect_is_logged_with_an_id_and_told(
    qchat: Chat, platform: RecordingPlatform, caplog: pytest.LogCaptureFixture
) -> None:
    await qchat.run("declare Disk full")

    async def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    platform.upload_file = broken  # type: ignore[method-assign]
    reply = await qchat.run("export md", channel=qchat.channel(1))
    assert reply.ok and "Attaching INC-1's timeline" in reply.text
    for _ in range(3):
        await retry_after_backoff(qchat, 60)
    (told,) = qchat.answers()[1:]
    assert "attaching the timeline failed on fake (error id `" in told and "boom" not in told
    error_id = told.split("error id `")[1].split("`")[0]
    assert any(error_id in r.getMessage() and r.exc_info for r in caplog.records)


async def test_the_card_shows_the_latest_change_when_changes_race(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    """A card drawn from an older state is drawn again: the job checks the incident's
    version before it calls the card current."""
    unhurried(qchat)
    await qchat.run("declare Disk full")
    room = qchat.channel(1)
    gate, held, second = asyncio.Event(), asyncio.Event(), asyncio.Event()
    original = platform.update_card
    first = True

    async def slow_first(message: Any, card: Card) -> None:
        nonlocal first
        if first:
            first = False
            held.set()
            await gate.wait()  # the ack's card, drawn before the status change, lands last
        else:
            second.set()
        await original(message, card)

    platform.update_card = slow_first  # type: ignore[method-assign]
    ack = asyncio.create_task(qchat.core.dispatcher.command(_typed(platform, "ack", room)))
    await held.wait()
    await qchat.core.dispatcher.command(_typed(platform, "status monitoring fixed", room))
    await second.wait()  # the status change's card is drawn first
    gate.set()
    await ack
    await qchat.core.settle()
    (card,) = platform.cards(room.id)
    assert card.card is not None
    assert next(f.value for f in card.card.fields if f.name == "Status").endswith("monitoring")


def _typed(platform: RecordingPlatform, text: str, room: ChannelRef) -> Command:
    return Command(platform.name, UserRef("alice", "Alice"), room, text, reply_to="r")


async def test_at_most_capacity_jobs_run_at_once_and_the_rest_wait(
    settings: Settings, clock: ManualClock
) -> None:
    platform = RecordingPlatform()
    core = await open_core(settings, {platform.name: platform}, clock=clock, capacity=3)
    running = peak = 0
    original = platform.post_card

    async def counted(channel: ChannelRef, card: Card) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return await original(channel, card)

    platform.post_card = counted  # type: ignore[method-assign]
    try:
        lobby = ChannelRef("incidents", "incidents")
        replies = await asyncio.gather(
            *[
                core.dispatcher.command(
                    Command(platform.name, UserRef("a", "A"), lobby, f"declare Burst {n}")
                )
                for n in range(30)
            ]
        )
        assert all(r.ok for r in replies)
        await core.settle()
        assert peak <= 3 and len([m for m in platform.messages if m.card]) == 30
    finally:
        await core.aclose()


async def test_a_dead_process_jobs_are_taken_over_after_its_lease(
    settings: Settings, clock: ManualClock
) -> None:
    """Core A writes its jobs running under its own lease and dies before running them;
    core B takes them over once the lease has expired, and runs each once."""
    one, two = RecordingPlatform(), RecordingPlatform()
    a = await open_core(settings, {one.name: one}, clock=clock)
    b = await open_core(settings, {two.name: two}, clock=clock)
    try:
        a.wiring.jobs.taker = Dead()  # writes its rows running under its lease, then "dies"
        lobby = ChannelRef("incidents", "incidents")
        await a.dispatcher.command(Command("fake", UserRef("a", "A"), lobby, "declare Orphan"))
        assert b.worker is not None
        assert await b.worker.sweep() == 0, "A's lease holds"
        clock.advance(timedelta(seconds=31))
        await b.settle()
        assert [c.name for c in two.channels.values() if c.name.startswith("inc-")] == [
            "inc-1-orphan"
        ]
        assert not one.channels
        (row, *_) = await jobs.of(b.sessions, "incident:1", status=None)
        assert row.status == "done" and row.attempts == 2
    finally:
        await a.aclose(grace=0)
        await b.aclose(grace=0)


class Dead:
    """A worker that takes rows and never runs them (its process died)."""

    def accept(self, rows: object, hint: object) -> None:
        return None


# Reminders: the first timed effect.


REMIND = (
    '[severities.SEV1]\nlabel = "critical"\nupdate_every = "15m"\n'
    '[severities.SEV2]\nlabel = "major"\n'
)


@pytest.fixture
async def reminded(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Chat]:
    async with configured(REMIND, database_url, tmp_path, platform, clock) as chat:
        yield chat


def reminders(platform: RecordingPlatform, room: ChannelRef) -> list[str]:
    return [t for t in platform.texts(room.id) if t.startswith("⏰")]


async def later(chat: Chat, minutes: float) -> None:
    chat.clock.advance(timedelta(minutes=minutes))
    await chat.core.settle()


async def test_an_overdue_update_is_reminded_once_per_interval_until_resolved(
    reminded: Chat, platform: RecordingPlatform
) -> None:
    chat = reminded
    await chat.run("declare Checkout down --sev 1")
    room = chat.channel(1)
    await later(chat, 14)
    assert reminders(platform, room) == []
    await later(chat, 1.5)
    (first,) = reminders(platform, room)
    assert "INC-1** has had no status update for 15 minutes." in first and "@Alice" in first
    await later(chat, 5)
    assert len(reminders(platform, room)) == 1, "once per interval"
    await chat.run("update rolled back the deploy", channel=room)
    await later(chat, 14)
    assert len(reminders(platform, room)) == 1, "an update starts the interval again"
    await later(chat, 2)
    assert len(reminders(platform, room)) == 2
    await chat.run("resolve", channel=room)
    assert await jobs.of(chat.core.sessions, "incident:1") == [], "resolving stops the reminder"
    await later(chat, 120)
    assert len(reminders(platform, room)) == 2, "a resolved incident is not reminded"
    kinds = [e.kind for e in (await chat.core.wiring.views.full(1)).events]
    assert kinds.count("reminder") == 2
    assert await jobs.of(chat.core.sessions, "incident:1") == [], "nothing left pending"


async def test_a_reminder_follows_the_severity(reminded: Chat, platform: RecordingPlatform) -> None:
    chat = reminded
    await chat.run("declare Checkout slow --sev 2")  # SEV2 expects nothing here
    room = chat.channel(1)
    await later(chat, 60)
    assert reminders(platform, room) == []
    await chat.run("sev 1", channel=room)
    await chat.core.settle()
    (first,) = reminders(platform, room)
    assert "no status update for 1 hour" in first, "an hour without an update: due at once"
    assert "late" not in first, "Tocsin ran all along"
    await chat.run("sev 2", channel=room)
    await later(chat, 60)
    assert len(reminders(platform, room)) == 1


@pytest.mark.parametrize("end", ["resolve", "sev 3"])
async def test_a_severity_change_while_a_reminder_runs_makes_no_second(
    database_url: str,
    tmp_path: Path,
    platform: RecordingPlatform,
    clock: ManualClock,
    end: str,
) -> None:
    """The reminder row is running (here: claimed by another replica) as the severity
    changes: no second reminder row. Resolving, or a severity without reminders, stops
    the running one: its holder cannot give it another turn."""
    config = REMIND + 'update_every = "30m"\n[severities.SEV3]\nlabel = "minor"\n'
    (tmp_path / "tocsin.toml").write_text(config)
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    core = await open_core(settings, {platform.name: platform}, clock=clock)
    chat, sessions = Chat(core, platform, clock), core.sessions
    try:
        await chat.run("declare Checkout down --sev 1")
        clock.advance(timedelta(minutes=15))
        (taken,) = await jobs.claim_due(
            sessions, owner="other", now=clock.now(), lease=timedelta(hours=1)
        )
        assert taken.kind == "incident.remind"
        room = chat.channel(1)
        await chat.run("sev 2", channel=room)  # every 30m now: the row moves
        await chat.run("sev 1", channel=room)
        rows = [r for r in await jobs.of(sessions, "incident:1", status=None)]
        assert [r.status for r in rows if r.kind == taken.kind] == ["running"]
        await chat.run(end, channel=room)
        rows = [r for r in await jobs.of(sessions, "incident:1", status=None)]
        assert [r.status for r in rows if r.kind == taken.kind] == ["cancelled"]
        held = await jobs.again(sessions, taken.id or 0, owner="other", due_at=clock.now())
        assert not held, "the other replica cannot give it another turn"
    finally:
        await core.aclose()


async def test_reminders_go_on_past_the_tries_a_failing_job_gets(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> None:
    """Each turn of a recurring job starts its count of tries afresh: after many reminders
    a passing 5xx is retried, not taken as the last straw."""
    (tmp_path / "tocsin.toml").write_text(REMIND)
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    core = await open_core(settings, {platform.name: platform}, clock=clock, **FAST)
    chat = Chat(core, platform, clock)
    unhurried(chat)  # the count of tries is the point, not how long a try may take
    try:
        await chat.run("declare Checkout down --sev 1")
        room = chat.channel(1)
        for _ in range(5):  # more turns than max_attempts (3)
            await later(chat, 15)
        assert len(reminders(platform, room)) == 5
        platform.flaky["post_message"] = 1
        await later(chat, 15)
        assert len(reminders(platform, room)) == 5, "that one failed once"
        await retry_after_backoff(chat, 10)
        assert len(reminders(platform, room)) == 6
        view = await core.wiring.views.full(1)
        assert not [e for e in view.events if e.kind == "failed"]
    finally:
        await core.aclose()


@pytest.fixture
async def quick_reminders(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Chat]:
    """Reminders at SEV1 every 15m, SEV2 every 60m; short tries (FAST)."""
    config = REMIND + 'update_every = "60m"\n'
    (tmp_path / "tocsin.toml").write_text(config)
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    core = await open_core(settings, {platform.name: platform}, clock=clock, **FAST)
    try:
        yield Chat(core, platform, clock)
    finally:
        await core.aclose(grace=0.5)


async def test_a_reminder_whose_answer_was_lost_is_not_posted_twice(
    quick_reminders: Chat, platform: RecordingPlatform
) -> None:
    """The retry (due later than the turn was) looks for its post from when the turn fell
    due, not from when the retry did."""
    chat = quick_reminders
    await chat.run("declare Checkout down --sev 1")
    room = chat.channel(1)
    platform.lose_answers["post_message"] = 1
    await later(chat, 15)
    await retry_after_backoff(chat, 10)
    assert len(reminders(platform, room)) == 1
    events = (await chat.core.wiring.views.full(1)).events
    assert [e.kind for e in events].count("reminder") == 1


async def test_a_reminder_is_on_the_timeline_once_when_its_outcome_cannot_be_saved(
    quick_reminders: Chat, platform: RecordingPlatform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy.exc import OperationalError

    chat = quick_reminders
    await chat.run("declare Checkout down --sev 1")
    again = jobs.again
    broken = [2]  # the next turn, then the retry: the row goes back without its steps

    async def failing(*args: Any, **kwargs: Any) -> bool:
        if broken[0]:
            broken[0] -= 1
            raise OperationalError("UPDATE jobs", {}, Exception("disk I/O error"))
        return await again(*args, **kwargs)

    monkeypatch.setattr(jobs, "again", failing)
    await later(chat, 15)
    await retry_after_backoff(chat, 10)
    assert not broken[0]
    assert len(reminders(platform, chat.channel(1))) == 1
    events = (await chat.core.wiring.views.full(1)).events
    assert [e.kind for e in events].count("reminder") == 1
    await later(chat, 15)
    assert len(reminders(platform, chat.channel(1))) == 2, "and the next comes on time"


async def test_a_severity_raised_while_a_reminder_posts_sets_the_next_by_the_new_pace(
    quick_reminders: Chat, platform: RecordingPlatform
) -> None:
    """SEV2 (every 60m) is raised to SEV1 (every 15m) while a reminder is being posted:
    the next comes 15m after it, not 60m."""
    chat = quick_reminders
    await chat.run("declare Checkout slow --sev 2")
    room = chat.channel(1)
    gate, reached = asyncio.Event(), asyncio.Event()
    post = platform.post_message

    async def held(channel: ChannelRef, text: str) -> Any:
        if text.startswith("⏰"):
            reached.set()
            await gate.wait()
        return await post(channel, text)

    platform.post_message = held  # type: ignore[method-assign]
    chat.clock.advance(timedelta(minutes=60))
    settling = asyncio.create_task(chat.core.settle())
    await reached.wait()
    chat.clock.advance(timedelta(seconds=2))  # the post takes a moment
    who = UserRef("alice", "Alice")
    await chat.core.dispatcher.command(Command(platform.name, who, room, "sev 1"))
    gate.set()
    await settling
    await chat.core.settle()
    assert len(reminders(platform, room)) == 1, "not twice in a row"
    await later(chat, 14)
    assert len(reminders(platform, room)) == 1
    await later(chat, 1.5)
    assert len(reminders(platform, room)) == 2, "15m after the last, at the new pace"


async def test_a_card_drawn_while_the_incident_changed_is_redrawn_though_announcing_failed(
    qchat: Chat, platform: RecordingPlatform
) -> None:
    unhurried(qchat)
    platform.fail_on.add("find_channel")  # the announce channel: refused for good
    gate, reached = asyncio.Event(), asyncio.Event()
    post_card = platform.post_card

    async def held(channel: ChannelRef, card: Card) -> Any:
        reached.set()
        await gate.wait()
        return await post_card(channel, card)

    platform.post_card = held  # type: ignore[method-assign]
    who = UserRef("alice", "Alice")
    lobby = qchat.lobby
    await qchat.core.dispatcher.command(Command(platform.name, who, lobby, "declare Disk full"))
    await reached.wait()
    await qchat.core.dispatcher.command(Command(platform.name, who, lobby, "sev 1 INC-1"))
    gate.set()
    await qchat.core.settle()
    (card,) = platform.cards(qchat.channel(1).id)
    drawn = card.edits[-1] if card.edits else card.card
    assert drawn is not None and "SEV1" in str(drawn), "the card shows the change"
    view = await qchat.core.wiring.views.full(1)
    (failed,) = [e for e in view.events if e.kind == "failed"]
    assert "announce" in failed.detail


async def test_an_update_after_reminders_starts_the_interval_again(
    database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> None:
    """With a short interval: an update between two reminders moves the next one to a
    whole interval after it, not a moment later."""
    (tmp_path / "tocsin.toml").write_text(REMIND.replace('"15m"', '"3s"'))
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    core = await open_core(settings, {platform.name: platform}, clock=clock)
    chat = Chat(core, platform, clock)

    async def seconds(n: float) -> None:
        clock.advance(timedelta(seconds=n))
        await core.settle()

    try:
        await chat.run("declare Checkout down --sev 1")
        room = chat.channel(1)
        await seconds(3)
        await seconds(3)
        assert len(reminders(platform, room)) == 2
        await seconds(1.5)
        who = UserRef("alice", "Alice")
        await core.dispatcher.command(Command(platform.name, who, room, "update rolled back"))
        await seconds(2.1)  # the reminder row was due at 9 s: it moves to 10.5 s
        assert len(reminders(platform, room)) == 2
        await seconds(0.9)
        assert len(reminders(platform, room)) == 3
        assert "no status update for 3 seconds." in reminders(platform, room)[-1]
    finally:
        await core.aclose()


async def test_a_reminder_due_while_nothing_ran_fires_once_marked_late(
    database_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    (tmp_path / "tocsin.toml").write_text(REMIND)
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    first = RecordingPlatform()
    core = await open_core(settings, {first.name: first}, clock=clock)
    chat = Chat(core, first, clock)
    await chat.run("declare Checkout down --sev 1")
    await core.aclose()
    clock.advance(timedelta(hours=2))  # Tocsin was down: seven intervals went by
    second = RecordingPlatform()
    core = await open_core(settings, {second.name: second}, clock=clock)
    try:
        await core.settle()
        room = ChannelRef(first.channel_named("inc-1-checkout-down").id, "inc-1-checkout-down")
        (late,) = [t for t in second.texts(room.id) if t.startswith("⏰")]
        assert "no status update for 2 hours." in late and "1 hour 45 minutes late" in late
        view = await core.wiring.views.full(1)
        (event,) = [e for e in view.events if e.kind == "reminder"]
        assert event.detail.startswith("late by 1 hour 45 minutes")
    finally:
        await core.aclose()


# The guards that keep replicas from doubling anything, tested with two cores (two
# processes' worth of connections) on one PostgreSQL database.


@pytest.fixture
def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks and racing claims need PostgreSQL (SQLite has one writer)")
    return database_url


async def test_racing_acks_on_two_replicas_make_one_owner(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The incident's row lock: without it both replicas read 'triggered' and both ack."""
    read = Store.incident_and_bindings

    async def slow_read(self: Store, number: int, *, lock: bool = False) -> Any:
        found = await read(self, number, lock=lock)
        await asyncio.sleep(0.05)  # let the other replica read too, if nothing stops it
        return found

    monkeypatch.setattr(Store, "incident_and_bindings", slow_read)
    platform = RecordingPlatform()
    settings = Settings(database_url=postgres_url)
    a = await open_core(settings, {platform.name: platform})
    b = await open_core(settings, {platform.name: platform})
    try:
        lobby = ChannelRef("incidents", "incidents")
        await a.dispatcher.command(Command("fake", UserRef("a", "A"), lobby, "declare Race"))
        await a.settle()
        for round_ in range(5):
            if round_:
                await a.dispatcher.command(
                    Command("fake", UserRef("a", "A"), lobby, f"declare Race {round_}")
                )
            number = round_ + 1
            replies = await asyncio.gather(
                *[
                    core.dispatcher.command(
                        Command("fake", UserRef(who, who), lobby, f"ack INC-{number}")
                    )
                    for core, who in ((a, "alice"), (b, "bob"), (a, "carol"), (b, "dan"))
                ]
            )
            assert sum(r.ok for r in replies) == 1, [r.text for r in replies]
            refused = [r.text for r in replies if not r.ok]
            assert all(f"INC-{number} is already acknowledged" in t for t in refused), refused
            events = (await a.wiring.views.full(number)).events
            assert [e.kind for e in events].count("acknowledged") == 1
    finally:
        await a.aclose()
        await b.aclose()


async def test_two_replicas_claim_each_due_job_once(postgres_url: str) -> None:
    """The claim's condition: without it both replicas would run the same rows."""
    platform = RecordingPlatform()
    settings = Settings(database_url=postgres_url)
    a = await open_core(settings, {platform.name: platform}, worker=False)
    b = await open_core(settings, {platform.name: platform}, worker=False)
    clock = ManualClock()
    try:
        for step in range(200):
            await jobs.add(
                a.sessions, jobs.make("incident.sync", "incident:9", now=clock.now(), step=step)
            )
        claimed: list[int] = []
        lease = timedelta(minutes=1)
        while True:
            batches = await asyncio.gather(
                *[
                    jobs.claim_due(
                        core.sessions, owner=f"{side}-{n}", now=clock.now(), lease=lease, limit=25
                    )
                    for side, core in (("a", a), ("b", b))
                    for n in range(2)
                ]
            )
            if not any(batches):
                break
            claimed += [row.step for batch in batches for row in batch]
        assert sorted(claimed) == list(range(200))
    finally:
        await a.aclose()
        await b.aclose()
