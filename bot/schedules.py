"""Who is on call when: a schedule's shifts, computed from its config (no table).

The simple form (PRODUCT.md, "On-call"): one rotation per schedule. Its members take turns
of ``shift`` each, in order, the first from ``start``. Handoffs are counted on the
schedule's own wall clock, so a 09:00 Berlin handoff stays 09:00 Berlin across the DST
changes in March and October (those shifts are an hour shorter or longer). A handoff
happens at the first instant the schedule's clock reads its time: a time that comes twice
(02:30 on the autumn night) at its first, a time the clock skips (02:30 on the
spring-forward night) when the clock jumps past it (03:00). So handoffs never go back in
time: a shift shorter than the jump that falls inside it lasts no time and is nobody's
(``on_call`` never answers it, ``shifts`` leaves it out). Before ``start`` nobody is on
call.

Layers, overrides and handoff messages (a later issue) will combine several rotations into
one answer of :func:`on_call`; callers only ever ask it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.config import Schedule


@dataclass(frozen=True)
class Shift:
    """One member's turn: from ``start`` until ``end`` (UTC), the ``index``-th of the
    rotation (0 from ``start``)."""

    schedule: str
    index: int
    member: str
    start: datetime
    end: datetime


def handoff(schedule: Schedule, index: int) -> datetime:
    """When the ``index``-th shift starts, in UTC: ``index`` shifts after the start, on the
    schedule's wall clock."""
    return first_instant(schedule.start + index * schedule.shift, schedule.zone)


def first_instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which a clock in ``zone`` reads ``local`` or later: the
    first of a time that comes twice, the end of the jump for a time the clock skips."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == local:
        return first
    # Skipped: fold=0 reads it with the offset from before the jump (an instant after the
    # jump), fold=1 with the one from after (an instant before it). The jump is between:
    # find the first whole second at which the clock reads ``local`` or later.
    early = local.replace(tzinfo=zone, fold=1).astimezone(UTC)
    before, after = int(early.timestamp()), int(first.timestamp())
    if before >= after:
        return first
    while after - before > 1:
        middle = (before + after) // 2
        if datetime.fromtimestamp(middle, zone).replace(tzinfo=None) >= local:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def shift(name: str, schedule: Schedule, index: int) -> Shift:
    members = schedule.members
    return Shift(
        name,
        index,
        members[index % len(members)],
        handoff(schedule, index),
        handoff(schedule, index + 1),
    )


def on_call(name: str, schedule: Schedule, at: datetime) -> Shift | None:
    """The shift under way at ``at``; None before the schedule starts."""
    if at < handoff(schedule, 0):
        return None
    local = at.astimezone(schedule.zone).replace(tzinfo=None)
    index = max(0, (local - schedule.start) // schedule.shift)  # within a shift or so
    while index > 0 and handoff(schedule, index) > at:
        index -= 1
    while handoff(schedule, index + 1) <= at:
        index += 1
    return shift(name, schedule, index)


def shifts(name: str, schedule: Schedule, since: datetime, until: datetime) -> Iterator[Shift]:
    """The shifts that overlap ``since`` … ``until``, in order (from the first one when
    ``since`` is before the schedule starts); none that lasts no time."""
    current = on_call(name, schedule, since)
    index = current.index if current is not None else 0
    while True:
        turn = shift(name, schedule, index)
        if turn.start >= until:
            return
        if turn.end > turn.start:
            yield turn
        index += 1
