"""Paging and escalation, as facts (PRODUCT.md, "Notify and escalate").

Everything here runs inside a change's transaction, with the incident's row locked, and
returns the job rows the change causes; nothing here calls a platform (the effects in
:mod:`bot.pager` do). The state of an incident's escalation is on its row:

- ``paging``: None (never paged), ``active`` (levels are being paged), ``acknowledged``,
  ``exhausted`` (nobody acknowledged after the last round) or ``stopped`` (it ended);
- ``page_cycle``: bumped each time paging starts (the declare, an ack timeout, an
  escalation of an incident no longer paging), so a step of an earlier cycle never fires;
- ``page_round`` and ``page_level``: the latest step paged in this cycle.

Each step is one ``incident.page`` job row whose step number encodes (cycle, round, level),
so the row is unique and written once. The step that pages a level also writes the row of
the next one, due ``escalate_after`` later: an acknowledgement cancels it, ``/incident
escalate`` makes it due now. A claimed step re-reads the incident with its row locked and
fires only if paging is still active in its cycle and it comes after the latest step paged:
an acknowledgement that raced it wins, and a step run twice (a lease that expired, a retry)
pages once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from bot import schedules
from bot.config import Level, Policy
from bot.errors import UserError
from bot.identity import Person
from bot.jobs import ACK_TIMEOUT, PAGE, PAGE_SEND, PAGE_UPDATE, subject
from bot.lifecycle import Status, check_open
from bot.timeline import record
from bot.wiring import Wiring
from storage import jobs
from storage.models import Incident, Job, Page
from storage.repo import Store

ACTIVE, ACKNOWLEDGED, EXHAUSTED, STOPPED = "active", "acknowledged", "exhausted", "stopped"
UNANSWERED = (ACTIVE, EXHAUSTED)
"""Paging states in which the cycle's pages still ask for an acknowledgement: paging under
way, or run out with nobody acknowledging (a page held up until then still goes out)."""
SENT, FAILED, UNREACHABLE, PENDING, SKIPPED = "sent", "failed", "unreachable", "pending", "skipped"
MAX_SNOOZE = timedelta(days=1)
LATE = timedelta(seconds=5)
"""A step that fires later than this after it fell due says so on the timeline."""


def step_of(cycle: int, round_: int, level: int) -> int:
    """The job step of (cycle, round, level): rounds and levels are under 100."""
    return cycle * 10_000 + round_ * 100 + level


def decode(step: int) -> tuple[int, int, int]:
    return step // 10_000, step // 100 % 100, step % 100


def following(policy: Policy, round_: int, level: int) -> tuple[int, int]:
    """The step after (round, level): the next level, level 1 of the next round, or
    (last round + 1, 0): nobody acknowledged."""
    if level < len(policy.levels):
        return round_, level + 1
    if round_ <= policy.repeat:
        return round_ + 1, 1
    return round_ + 1, 0


def policy_of(w: Wiring, incident: Incident) -> tuple[str, Policy] | None:
    """The policy paging this incident: the one its cycle started with while it is paging,
    else its severity's."""
    name = incident.page_policy if incident.paging == ACTIVE else None
    name = name or w.config.policy_name(incident.severity)
    policy = w.config.policies.get(name) if name else None
    return (name, policy) if name and policy else None


def _row(w: Wiring, incident: Incident, round_: int, level: int, due: datetime) -> Job:
    assert incident.id is not None
    step = step_of(incident.page_cycle, round_, level)
    return w.jobs.row(PAGE, subject(incident.id), platform=incident.platform, step=step, due_at=due)


def next_row(w: Wiring, incident: Incident, after: tuple[int, int], due: datetime) -> Job:
    """The row of the step ``after`` (round, level) in this cycle."""
    return _row(w, incident, after[0], after[1], due)


def start(w: Wiring, incident: Incident, now: datetime, level: int = 1) -> list[Job]:
    """Paging starts (again): a new cycle, from ``level``, now."""
    found = policy_of(w, incident)
    if found is None:
        return []
    incident.paging, incident.page_policy = ACTIVE, found[0]
    incident.page_cycle += 1
    incident.page_round = incident.page_level = 0
    incident.snoozed_until = None
    return [_row(w, incident, 1, min(level, len(found[1].levels)), now)]


def on_declare(w: Wiring, incident: Incident, now: datetime) -> list[Job]:
    """A new incident pages level 1 at once when its severity pages."""
    return start(w, incident, now) if w.config.pages(incident.severity) else []


def on_severity(w: Wiring, incident: Incident, now: datetime) -> list[Job]:
    """A severity raised to one that pages, on an incident nobody has acknowledged or paged:
    paging starts."""
    if incident.paging is not None or incident.status != Status.TRIGGERED.value:
        return []
    return on_declare(w, incident, now)


async def acknowledged(
    w: Wiring, store: Store, incident: Incident, who: Person, when: datetime
) -> list[Job]:
    """Escalation stops for everyone; the pages sent are redrawn to say who acknowledged;
    the ack timeout, if the severity has one, starts."""
    assert incident.id is not None
    rows: list[Job] = []
    if incident.paging in UNANSWERED:
        incident.paging = ACKNOWLEDGED
        await jobs.cancel(store.session, subject=subject(incident.id), kinds=[PAGE])
        for page in await _pages(store, incident.id, cycle=incident.page_cycle):
            if page.acknowledged_at is None:
                page.acknowledged_by, page.acknowledged_at = who.name, when
                store.save(page)
        rows += await redraw(w, store, incident)
    timeout = w.config.severity(incident.severity).ack_timeout
    if timeout is not None and policy_of(w, incident) is not None:
        about = subject(incident.id)
        await jobs.cancel(store.session, subject=about, kinds=[ACK_TIMEOUT])
        rows.append(
            w.jobs.row(
                ACK_TIMEOUT,
                about,
                platform=incident.platform,
                step=incident.page_cycle,
                due_at=when + timeout,
            )
        )
    return rows


async def ended(w: Wiring, store: Store, incident: Incident) -> list[Job]:
    """Resolved, closed or cancelled: every pending page and ack timeout stops, and the
    pages sent say so."""
    assert incident.id is not None
    await jobs.cancel(store.session, subject=subject(incident.id), kinds=[PAGE, ACK_TIMEOUT])
    incident.snoozed_until = None
    if incident.paging in (None, STOPPED):
        return []
    incident.paging = STOPPED
    return await redraw(w, store, incident)


async def redraw(w: Wiring, store: Store, incident: Incident) -> list[Job]:
    """A ``page.update`` row for each platform with pages sent: they show the state now."""
    assert incident.id is not None
    platforms = sorted(
        {p.platform for p in await _pages(store, incident.id) if p.message_id and p.platform}
    )
    step = incident.version + 1  # the version this change makes: one redraw per change
    return [
        w.jobs.row(PAGE_UPDATE, subject(incident.id), platform=name, step=step)
        for name in platforms
    ]


@dataclass(frozen=True)
class Escalated:
    level: int
    round: int
    rows: list[Job]


async def escalate(
    w: Wiring, store: Store, incident: Incident, who: Person, reason: str, now: datetime
) -> Escalated:
    """Page the next level now. While paging, the pending step is made due now; otherwise
    (acknowledged, nobody acknowledged, never paged) paging starts again from the level
    after the latest one paged."""
    assert incident.id is not None
    check_open(incident, "escalate")
    if incident.status == Status.RESOLVED.value:
        raise UserError(f"INC-{incident.id} is resolved: there is no one left to page.")
    found = policy_of(w, incident)
    if found is None:
        raise UserError(
            f"no escalation policy pages for SEV{incident.severity}: add [policies.default] "
            "(or a policy for this severity) to tocsin.toml."
        )
    name, policy = found
    about = subject(incident.id)
    rows: list[Job] = []
    if incident.paging == ACTIVE:
        waiting = await jobs.pending(store.session, subject=about, kind=PAGE)
        if waiting is None:
            level = incident.page_level or 1
            raise UserError(f"INC-{incident.id} is paging level {level} right now.")
        _cycle, round_, level = decode(waiting.step)
        waiting.due_at = now
        rows.append(waiting)
    else:
        latest = incident.page_level if incident.page_cycle else 0
        level = latest + 1 if 0 < latest < len(policy.levels) else 1
        await jobs.cancel(store.session, subject=about, kinds=[ACK_TIMEOUT])
        incident.page_policy = name
        rows += start(w, incident, now, level)
        round_ = 1
    if level == 0:  # the next step is "nobody acknowledged": start over from level 1
        await jobs.cancel(store.session, subject=about, kinds=[PAGE])
        rows = start(w, incident, now)
        round_, level = 1, 1
    detail = f"level {level}"
    record(store, incident, who, "escalated", max(now, incident.updated_at), detail, reason)
    return Escalated(level, round_, rows)


async def snooze(
    w: Wiring, store: Store, incident: Incident, who: Person, length: timedelta, now: datetime
) -> tuple[datetime, list[Job]]:
    """Silence the ack timeout for ``length``: it fires then instead (paging again from
    level 1 if the incident is still unresolved)."""
    assert incident.id is not None
    ref = f"INC-{incident.id}"
    check_open(incident, "snooze")
    if incident.status == Status.RESOLVED.value:
        raise UserError(f"{ref} is resolved: there is nothing to snooze.")
    if incident.acknowledged_at is None or incident.paging == ACTIVE:
        raise UserError(f"{ref} is not acknowledged: acknowledge it first (/incident ack).")
    timeout = w.config.severity(incident.severity).ack_timeout
    if timeout is None or policy_of(w, incident) is None:
        raise UserError(
            f"SEV{incident.severity} has no ack timeout, so {ref} will not be paged again: "
            "there is nothing to snooze."
        )
    if length > MAX_SNOOZE:
        raise UserError("snooze for at most 1 day (e.g. 30m, 2h, 1d).")
    until = now + length
    about = subject(incident.id)
    rows: list[Job] = []
    if not await jobs.move(store.session, subject=about, kind=ACK_TIMEOUT, due_at=until):
        step = incident.page_cycle
        rows.append(
            w.jobs.row(ACK_TIMEOUT, about, platform=incident.platform, step=step, due_at=until)
        )
    incident.snoozed_until = until
    record(store, incident, who, "snoozed", max(now, incident.updated_at), "", str(length))
    return until, rows


# The steps themselves, run by the worker (bot.pager) inside a locked change.


@dataclass(frozen=True)
class Target:
    person: Person
    via: str


@dataclass
class Fired:
    """What a step did: the pages it wrote, by platform, and what the incident's channel is
    told (who was paged, who could not be)."""

    round: int
    level: int
    pages: list[Page]
    nobody: list[str]
    """Targets that named nobody: a schedule with no one on call."""
    rows: list[Job]


def due(w: Wiring, incident: Incident, step: int) -> tuple[tuple[str, Policy], int, int] | None:
    """The step's policy, round and level when it is the next to fire, else None (paging
    was acknowledged or ended, started again, or this step already fired)."""
    cycle, round_, level = decode(step)
    if incident.paging != ACTIVE or incident.page_cycle != cycle:
        return None
    if (round_, level) <= (incident.page_round, incident.page_level):
        return None
    found = policy_of(w, incident)
    if found is None:
        return None
    if level > len(found[1].levels):  # the policy lost levels since (a new tocsin.toml)
        level = 0
    return found, round_, level


def targets(w: Wiring, level: Level, now: datetime) -> tuple[list[Target], list[str]]:
    """The people a level pages now (each once), and the schedules with nobody on call."""
    people: dict[str, Target] = {}
    nobody: list[str] = []
    for target in level.targets:
        kind, _, key = target.partition(":")
        if kind == "schedule":
            shift = schedules.on_call(key, w.config.schedules[key], now)
            if shift is None:
                nobody.append(key)
                continue
            key = shift.member
        person = w.directory.known(key)
        if person is not None and key not in people:
            people[key] = Target(person, target)
    return list(people.values()), nobody


def reach(
    w: Wiring, incident: Incident, fired_round: int, fired_level: int, found: Sequence[Target]
) -> list[Page]:
    """A page per person per platform this process runs where they have an id; someone with
    none is a page too, ``unreachable``, so that it is reported, not skipped."""
    assert incident.id is not None
    now = w.clock.now()
    pages: list[Page] = []
    for target in found:
        key = target.person.key
        places: list[str | None] = [
            p for p in sorted(w.platforms) if w.directory.platform_id(key, p)
        ]
        for platform in places or [None]:
            pages.append(
                Page(
                    incident_id=incident.id,
                    cycle=incident.page_cycle,
                    round=fired_round,
                    level=fired_level,
                    person_key=key,
                    person_name=target.person.name,
                    via=target.via,
                    platform=platform,
                    status=PENDING if platform else UNREACHABLE,
                    error="" if platform else _no_id(w),
                    created_at=now,
                )
            )
    return pages


def _no_id(w: Wiring) -> str:
    where = " or ".join(sorted(w.platforms)) or "any platform"
    return f"no id on {where} in tocsin.toml"


async def _pages(store: Store, incident_id: int, *, cycle: int | None = None) -> list[Page]:
    query = select(Page).where(Page.incident_id == incident_id)
    if cycle is not None:
        query = query.where(Page.cycle == cycle)
    return list((await store.session.exec(query.order_by(col(Page.id)))).all())


def send_rows(
    w: Wiring, incident: Incident, step: int, pages: list[Page], report: dict[str, Any]
) -> list[Job]:
    """A ``page.send`` row per platform with pages to send, and one for the incident's own
    platform, which tells its channel who was paged."""
    assert incident.id is not None
    by_platform: dict[str | None, list[int]] = {}
    for page in pages:
        if page.platform is not None and page.id is not None:
            by_platform.setdefault(page.platform, []).append(page.id)
    by_platform.setdefault(incident.platform, [])
    return [
        w.jobs.row(
            PAGE_SEND,
            subject(incident.id),
            platform=platform,
            step=step,
            payload={"pages": ids, "report": report if platform == incident.platform else None},
        )
        for platform, ids in sorted(by_platform.items(), key=lambda kv: kv[0] or "")
    ]
