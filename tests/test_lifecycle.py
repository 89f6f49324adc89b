"""The incident state machine, checked against an independent model of PRODUCT.md's rules:
any sequence of commands keeps time ordered and never reaches an invalid state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import open_core
from bot.clock import ManualClock
from bot.inbound import Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform

OPEN = {"triggered", "acknowledged", "investigating", "identified", "monitoring"}
ENDED = {"closed", "cancelled"}
WORKING = ["investigating", "identified", "monitoring"]
PEOPLE = ["alice", "bob", "carol"]

op = st.one_of(
    st.just("ack"),
    st.sampled_from(WORKING).map(lambda s: f"status {s} because"),
    st.just("update still looking"),
    st.integers(1, 4).map(lambda n: f"sev {n}"),
    st.just("resolve fixed"),
    st.just("reopen again"),
    st.just("close"),
    st.just("close --force"),
    st.just("cancel mistake"),
    st.just("note a note"),
    st.just("task add do it"),
    st.integers(1, 3).map(lambda n: f"task done {n}"),
    st.tuples(st.sampled_from(["commander", "operations"]), st.sampled_from(PEOPLE)).map(
        lambda rp: f"assign {rp[0]} <@{rp[1]}>"
    ),
)
steps = st.lists(
    st.tuples(op, st.sampled_from(PEOPLE), st.integers(-3600, 3600)), min_size=1, max_size=14
)


@dataclass
class Model:
    """What PRODUCT.md says should happen, written independently of bot.lifecycle."""

    status: str = "triggered"
    severity: int = 2
    tasks: dict[int, bool] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=lambda: {"commander": "alice"})
    last_update: str = ""

    def allows(self, text: str) -> bool:
        word, *rest = text.split()
        live = self.status not in ENDED
        if word == "ack":
            return self.status == "triggered"
        if word == "status":  # the same status again with news is an update; twice, no
            return self.status in OPEN and (
                self.status != rest[0] or self.last_update != " ".join(rest[1:])
            )
        if word in ("resolve", "cancel"):
            return self.status in OPEN
        if word == "reopen":  # resolved, not closed
            return self.status == "resolved"
        if word == "close":  # with tasks open, only when forced
            return self.status == "resolved" and (rest == ["--force"] or all(self.tasks.values()))
        if word == "update":
            return self.status in OPEN
        if word == "sev":
            return live and int(rest[0]) != self.severity
        if word == "note":
            return True
        if word == "task" and rest[0] == "add":
            return live
        if word == "task":
            return live and self.tasks.get(int(rest[1])) is False
        if word == "assign":
            return live and self.roles.get(rest[0]) != rest[1][2:-1]
        raise AssertionError(text)

    def apply(self, text: str) -> None:
        word, *rest = text.split()
        match word:
            case "ack":
                self.status = "acknowledged"
            case "status":
                self.status, self.last_update = rest[0], " ".join(rest[1:])
            case "update":
                self.last_update = " ".join(rest)
            case "reopen":
                self.status, self.last_update = "investigating", " ".join(rest)
            case "resolve":
                self.status = "resolved"
            case "close":
                self.status = "closed"
            case "cancel":
                self.status = "cancelled"
            case "sev":
                self.severity = int(rest[0])
            case "task" if rest[0] == "add":
                self.tasks[len(self.tasks) + 1] = False
            case "task":
                self.tasks[int(rest[1])] = True
            case "assign":
                self.roles[rest[0]] = rest[1][2:-1]


def test_any_sequence_of_commands_keeps_the_rules(database_url: str) -> None:
    platform, clock = RecordingPlatform(), ManualClock()
    with asyncio.Runner() as runner:
        core = runner.run(
            open_core(Settings(database_url=database_url), {platform.name: platform}, clock=clock)
        )
        lobby = ChannelRef("incidents", "incidents")

        async def say(text: str, who: str, channel: ChannelRef) -> bool:
            reply = await core.dispatcher.command(
                Command(platform.name, UserRef(who, who), channel, text)
            )
            await core.settle()
            return reply.ok

        async def play(sequence: list[tuple[str, str, int]]) -> None:
            assert await say("declare Something broke --sev 2", "alice", lobby)
            number = (await core.service.incidents("all", limit=1))[0].id
            assert number is not None
            room = next(
                c for c in platform.channels.values() if c.name.startswith(f"inc-{number}-")
            )
            model = Model()
            for text, who, seconds in sequence:
                clock.advance(timedelta(seconds=seconds))  # the clock may even step back
                before = len(people((await core.wiring.views.full(number)).events))
                expected = model.allows(text)
                assert await say(text, who, room) == expected, (text, model)
                if expected:
                    model.apply(text)
                view = await core.wiring.views.full(number)
                added = len(people(view.events)) - before
                assert added >= 1 if expected else added == 0, text
                check_invariants(view, model)

        @settings(
            max_examples=30,
            report_multiple_bugs=False,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(steps)
        def check(sequence: list[tuple[str, str, int]]) -> None:
            runner.run(play(sequence))

        try:
            check()
        finally:
            runner.run(core.aclose())


def people(events: list[Any]) -> list[Any]:
    """What people did: the reminders Tocsin posts as time passes are not theirs."""
    return [e for e in events if e.kind != "reminder"]


def check_invariants(view: object, model: Model) -> None:
    i = view.incident  # type: ignore[attr-defined]
    events = view.events  # type: ignore[attr-defined]
    assert i.status == model.status
    assert i.severity == model.severity
    stamps = [s for s in (i.declared_at, i.acknowledged_at, i.resolved_at, i.closed_at) if s]
    assert stamps == sorted(stamps), "time never runs backwards"
    assert i.declared_at <= i.updated_at
    if i.cancelled_at:
        assert i.cancelled_at >= i.declared_at
    assert (i.acknowledged_at is not None) >= (i.status in {"acknowledged", *WORKING})
    assert (i.resolved_at is not None) == (i.status in {"resolved", "closed"})
    assert (i.closed_at is not None) == (i.status == "closed")
    assert (i.cancelled_at is not None) == (i.status == "cancelled")
    times = [e.at for e in events]
    assert times == sorted(times), "the timeline is in order"
    assert all(e.at >= i.declared_at for e in events)
    if i.acknowledged_at is not None:
        assert i.owner_key is not None, "whoever acknowledged owns it"
    assert i.commander_key.endswith(model.roles["commander"])
    done = {t.number: t.done_at is not None for t in view.tasks}  # type: ignore[attr-defined]
    assert done == model.tasks
    assert i.open_tasks == list(model.tasks.values()).count(False), "the card counts true"
