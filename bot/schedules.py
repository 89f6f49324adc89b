"""Who is on call when: a schedule's shifts, computed from its config (no table).

The simple form (PRODUCT.md, "On-call"): one rotation per schedule. Its members take turns
of ``shift`` each, in order, the first from ``start``. Handoffs are counted on the
schedule's own wall clock, so a 09:00 Berlin handoff stays 09:00 Berlin across the DST
changes in March and October (those shifts are an hour shorter or longer). A handoff that
falls in a DST gap (02:30 on the spring-forward night) takes the offset from before the
gap, as Python's ``zoneinfo`` does. Before ``start`` nobody is on call.

Layers, overrides and handoff messages (a later issue) will combine several rotations into
one answer of :func:`on_call`; callers only ever ask it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

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
    local = schedule.start + index * schedule.shift
    return local.replace(tzinfo=schedule.zone).astimezone(UTC)


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
    first = handoff(schedule, 0)
    if at < first:
        return None
    index = int((at - first) / schedule.shift)  # within a shift or two of the answer
    while index > 0 and handoff(schedule, index) > at:
        index -= 1
    while handoff(schedule, index + 1) <= at:
        index += 1
    return shift(name, schedule, index)


def shifts(name: str, schedule: Schedule, since: datetime, until: datetime) -> Iterator[Shift]:
    """The shifts that overlap ``since`` … ``until``, in order (from the first one when
    ``since`` is before the schedule starts)."""
    current = on_call(name, schedule, since)
    index = current.index if current is not None else 0
    while True:
        turn = shift(name, schedule, index)
        if turn.start >= until:
            return
        yield turn
        index += 1
