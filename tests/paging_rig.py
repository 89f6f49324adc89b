"""What the paging tests with real processes share: a ``tocsin.toml`` whose severities page
their own people, incidents declared as ``tocsin declare`` does, the database read while
the processes run, the pages as the Slack fake received them, and the count of everything
each step of an escalation did."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import text

from bot.app import open_core
from bot.config import load_config
from bot.identity import Actor, Person
from bot.plugins import config_models, discover
from bot.settings import Settings
from storage.engine import create_engine
from tests.fakes.slack_api import FakeSlack, Message

ANNOUNCE = "C0ANNOUNCE"
LABELS = ["critical", "major", "minor", "low", "small", "tiny", "trivial", "cosmetic", "note"]
POLICIES = len(LABELS)
"""One policy per severity, each paging its own people: Slack takes about one message a
second in a conversation, so 200 incidents paging the same few people would take minutes."""
LEVELS = 2
REPEAT = 1
"""Each person is paged twice by each of their incidents: a retry must find its own page
among the incident's others in the same conversation."""
STEPS = [(round_, level) for round_ in range(1, REPEAT + 2) for level in range(1, LEVELS + 1)]
"""(round, level) of every step that pages, in order; then one that says nobody
acknowledged."""
PAGE_TITLE = re.compile(r"^📟 INC-(\d+) · level (\d+)(?:, round (\d+))? · ")
_REPORTED = re.compile(r"level (\d+)(?: \(round (\d+)\))? for \*INC-(\d+)\*")
_NOBODY = re.compile(r"Nobody acknowledged INC-(\d+)\*")


def person(policy: int, level: int) -> str:
    return f"p{policy}l{level}"


def slack_id(key: str) -> str:
    return "U" + key.upper()


def paging_config(escalate_after: Sequence[str], *, policies: int = POLICIES) -> str:
    """SEV1 … SEV<policies> page, each with its own policy: ``LEVELS`` levels (level n
    escalating after ``escalate_after[n - 1]``), repeated ``REPEAT`` times, each level one
    person with a Slack id."""
    lines: list[str] = []
    for n in range(1, policies + 1):
        lines += [f"[severities.SEV{n}]", f'label = "{LABELS[n - 1]}"', "page = true"]
        lines += [f'policy = "p{n}"', f"[policies.p{n}]", f"repeat = {REPEAT}"]
        for level in range(1, LEVELS + 1):
            lines += [
                f"[[policies.p{n}.levels]]",
                f'targets = ["person:{person(n, level)}"]',
                f'escalate_after = "{escalate_after[level - 1]}"',
            ]
    for n in range(1, policies + 1):
        for level in range(1, LEVELS + 1):
            key = person(n, level)
            lines += [f"[people.{key}]", f'name = "P{n} L{level}"', f'slack = "{slack_id(key)}"']
    return "\n".join(lines) + "\n"


def paging_fake(policies: int = POLICIES) -> FakeSlack:
    """The Slack fake, knowing the people the config pages (it refuses to message others)."""
    fake = FakeSlack()
    for n in range(1, policies + 1):
        for level in range(1, LEVELS + 1):
            key = person(n, level)
            fake.users[slack_id(key)] = key
    return fake


async def declare(url: str, config: Path, count: int, *, policies: int = POLICIES) -> None:
    """``count`` incidents, declared as ``tocsin declare`` does (the same service call, no
    worker): each written with its pending rows (set up its channel, page level 1), for a
    running ``tocsin run`` to claim. Severities take turns, so each policy pages a share."""
    settings = Settings(database_url=url, config_path=config)
    config_data = load_config(config, config_models(discover()))
    core = await open_core(settings, {}, config=config_data, worker=False, migrate=False)
    try:
        who = Actor("cli", Person("erin", "Erin"))
        for n in range(count):
            await core.service.declare(
                who,
                title=f"Outage {n + 1}",
                severity=n % policies + 1,
                service=None,
                description="",
                platform="slack",
            )
    finally:
        await core.aclose()


class Database:
    """The database the processes share, read by the test (one engine for all its looks)."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    async def rows(self, query: str, **params: Any) -> list[tuple[Any, ...]]:
        async with self.engine.connect() as conn:
            return [tuple(r) for r in await conn.execute(text(query), params)]

    async def one(self, query: str, **params: Any) -> Any:
        ((value,),) = await self.rows(query, **params)
        return value

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.engine.dispose()


async def eventually(
    check: Callable[[], Awaitable[None]], within: float, every: float = 1.0
) -> None:
    """Wait until ``await check()`` stops raising AssertionError, looking ``every`` so many
    seconds; raise its last one if it never does within ``within`` seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            await check()
            return
        except AssertionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
        await asyncio.sleep(every)


@dataclass(frozen=True)
class Dm:
    """A page as the fake received it: a card in someone's direct messages."""

    channel: str
    ts: str
    incident: int
    round: int
    level: int
    person: str


def dms(fake: FakeSlack) -> list[Dm]:
    """Every page card in direct messages, with the person whose conversation it is in."""
    found = []
    for m in list(fake.messages):
        title = PAGE_TITLE.match(m.blocks[0]["text"]["text"]) if m.blocks else None
        if title is None:
            continue
        assert m.channel in fake.ims, f"a page outside direct messages: {m}"
        who = fake.users[fake.ims[m.channel]["user"]]
        incident, level, round_ = int(title[1]), int(title[2]), int(title[3] or 1)
        found.append(Dm(m.channel, m.ts, incident, round_, level, who))
    return found


def reports(fake: FakeSlack, *, announced: bool = False) -> list[Message]:
    """What the incidents' channels (or, ``announced``, the announce channel) were told of
    pages: who was paged, that nobody acknowledged."""
    return [
        m
        for m in list(fake.messages)
        if m.text.startswith(("📟 Paged level", "🔕 *Nobody"))
        and (m.channel == ANNOUNCE) == announced
    ]


def report_key(said: str) -> tuple[int, int, int]:
    """(incident, round, level) of a "📟 Paged level …" line; (incident, 0, 0) for a
    "nobody acknowledged"."""
    found = _REPORTED.search(said)
    if found:
        return int(found[3]), int(found[2] or 1), int(found[1])
    nobody = _NOBODY.search(said)
    assert nobody, said
    return int(nobody[1]), 0, 0


async def paged_out(db: Database, fake: FakeSlack, incidents: int) -> None:
    """Every incident ran out of levels, every page is sent, and every incident's channel
    heard that nobody acknowledged: a cheap look, before counting everything. (Not the
    announce channel: at one message a second it hears of each incident twice, declared
    and nobody acknowledged, long after.)"""
    exhausted = await db.one("SELECT count(*) FROM incidents WHERE paging = 'exhausted'")
    sent = await db.one("SELECT count(*) FROM pages WHERE status = 'sent'")
    told = sum(1 for m in reports(fake) if m.text.startswith("🔕"))
    expected = (incidents, incidents * len(STEPS), incidents)
    assert (exhausted, sent, told) == expected, f"exhausted, sent, told: {exhausted, sent, told}"


async def check_every_step_once(
    db: Database, fake: FakeSlack, incidents: int, *, policies: int = POLICIES
) -> None:
    """Every incident ran out of levels, and each of its steps paged its person exactly
    once: one page row (sent, naming the message), one card in that person's direct
    messages, one "paged" event on its timeline, one line in its channel; and nobody
    acknowledged was said once, on the timeline and in its channel (at most once in the
    announce channel); no paging job is left undone but those telling the announce channel."""
    states = await db.rows("SELECT id, paging, page_round, page_level FROM incidents")
    assert len(states) == incidents
    unfinished = [s for s in states if s[1:] != ("exhausted", REPEAT + 2, 0)]
    assert not unfinished, f"{len(unfinished)} did not run out of levels: {unfinished[:3]}"
    pages = await db.rows(
        "SELECT incident_id, cycle, round, level, person_key, platform, status, channel_id,"
        " message_id FROM pages"
    )
    by_step = Counter((p[0], p[2], p[3]) for p in pages)
    expected = {(i, r, lv) for i in range(1, incidents + 1) for r, lv in STEPS}
    assert set(by_step) == expected, "a step has no page row, or a page row is no step"
    assert not [k for k, n in by_step.items() if n != 1], "a step has two page rows"
    unsent = [p for p in pages if p[6] != "sent"]
    assert not unsent, f"{len(unsent)} pages not sent, e.g. {unsent[:3]}"
    wrong = [p for p in pages if p[4] != person((p[0] - 1) % policies + 1, p[3])]
    assert not wrong, f"paged the wrong person: {wrong[:3]}"
    assert {p[1] for p in pages} == {1} and {p[5] for p in pages} == {"slack"}

    seen = dms(fake)
    counted = Counter((d.incident, d.round, d.level) for d in seen)
    doubled = {k: n for k, n in counted.items() if n > 1}
    assert not doubled, f"{len(doubled)} pages sent twice, e.g. {list(doubled.items())[:5]}"
    assert set(counted) == expected, f"pages never sent: {sorted(expected - set(counted))[:5]}"
    # Each row names the message sent for it, in its person's conversation (one each).
    by_ts = {(d.channel, d.ts): d for d in seen}
    conversation: dict[str, str] = {}
    for incident, _cycle, round_, level, key, _platform, _status, channel, ts in pages:
        dm = by_ts.get((channel, ts))
        assert dm is not None, f"INC-{incident} {round_}/{level}: its row names no page sent"
        assert (dm.incident, dm.round, dm.level, dm.person) == (incident, round_, level, key)
        assert conversation.setdefault(key, channel) == channel, key
    assert len(set(conversation.values())) == len(conversation), "people share a conversation"

    events = await db.rows(
        "SELECT incident_id, kind, detail FROM timeline_events"
        " WHERE kind IN ('paged', 'exhausted') AND actor_key = 'tocsin'"
    )
    # A step held up by the load says how late it is ("exhausted" in its detail).
    said = Counter((i, kind, "" if kind == "exhausted" else d) for i, kind, d in events)
    details = {(r, lv): f"level {lv}" + (f", round {r}" if r > 1 else "") for r, lv in STEPS}
    for incident in range(1, incidents + 1):
        for step in STEPS:
            assert said[(incident, "paged", details[step])] == 1, (incident, step)
        assert said[(incident, "exhausted", "")] == 1, incident
    assert sum(said.values()) == incidents * (len(STEPS) + 1), "an event recorded twice"

    told = Counter(report_key(m.text) for m in reports(fake))
    for incident in range(1, incidents + 1):
        for round_, level in STEPS:
            assert told[(incident, round_, level)] == 1, (incident, round_, level)
        assert told[(incident, 0, 0)] == 1, f"INC-{incident}: nobody acknowledged, said once"
    announced = Counter(report_key(m.text) for m in reports(fake, announced=True))
    assert not [k for k, n in announced.items() if n > 1], "announced twice"
    left = await db.rows(
        "SELECT kind, step, status, last_error FROM jobs WHERE kind IN"
        " ('incident.page', 'page.send') AND status NOT IN ('done', 'cancelled')"
    )
    # Only "nobody acknowledged" for the announce channel may wait, handed back pending.
    undone = [j for j in left if (j[0], j[1] % 100, j[2]) != ("page.send", 0, "pending")]
    assert not undone, f"paging jobs left undone: {undone[:5]}"


async def keep_for_diagnosis(
    db: Database, fake: FakeSlack, logs: Sequence[str], where: Path
) -> None:
    """What a failed run leaves to look at, in ``where``: each process's whole log, the
    pages and paging jobs as the database has them, and the direct messages received."""
    for number, log in enumerate(logs):
        (where / f"tocsin-{number}.log").write_text(log)
    pages = await db.rows("SELECT * FROM pages ORDER BY id")
    (where / "pages.txt").write_text("\n".join(map(repr, pages)))
    paging_jobs = await db.rows(
        "SELECT id, kind, subject, step, status, attempts, lease_owner, due_at, last_error,"
        " state FROM jobs WHERE kind IN ('incident.page', 'page.send') ORDER BY id"
    )
    (where / "jobs.txt").write_text("\n".join(map(repr, paging_jobs)))
    (where / "dms.txt").write_text("\n".join(map(repr, dms(fake))))
    print(f"logs, pages, jobs and DMs of the failed run: {where}")
