"""What ``/oncall`` answers: for each schedule, who is on call now and until when, and who
is next, on the schedule's own clock (the shifts come from :mod:`bot.schedules`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Schedule
from bot.durations import spoken_duration
from bot.identity import Directory, Person
from bot.schedules import handoff, on_call


@dataclass(frozen=True)
class Standing:
    """One schedule at one moment."""

    name: str
    timezone: str
    now: Person | None
    """On call now; None before the schedule starts."""
    next: Person
    """On call from the next handoff (the first one, before the start)."""
    handoff: str
    """The next handoff on the schedule's clock: ``Mon 12 Jan 2026, 09:00 CET``."""
    within: str
    """How long until then, roughly: ``3 days 4 hours``."""


def standings(schedules: Mapping[str, Schedule], at: datetime, people: Directory) -> list[Standing]:
    """Every schedule of ``schedules`` at ``at``, in their order."""
    return [standing(name, schedule, at, people) for name, schedule in schedules.items()]


def standing(name: str, schedule: Schedule, at: datetime, people: Directory) -> Standing:
    current = on_call(name, schedule, at)
    change = current.end if current is not None else handoff(schedule, 0)
    following = on_call(name, schedule, change)  # skips a shift a DST jump swallowed
    assert following is not None, "a schedule has begun at its first handoff"

    def person(key: str) -> Person:
        return people.known(key) or Person(key, key)

    return Standing(
        name=name,
        timezone=schedule.timezone,
        now=person(current.member) if current is not None else None,
        next=person(following.member),
        handoff=clock_time(change, schedule.zone),
        within=roughly(change - at),
    )


def clock_time(when: datetime, zone: ZoneInfo) -> str:
    """``when`` as the schedule's clock shows it, with the zone's abbreviation."""
    local = when.astimezone(zone)
    time = f"{local:%H:%M:%S}" if local.second else f"{local:%H:%M}"
    return f"{local:%a %d %b %Y}, {time} {local:%Z}"


def roughly(span: timedelta) -> str:
    """A span in its two largest units, rounded: ``4 days 20 hours``, ``2 hours`` (for
    1 h 59 min 30 s), ``45 seconds``."""
    seconds = span.total_seconds()
    unit = 3600 if seconds >= 86400 else 60 if seconds >= 60 else 1
    rounded = timedelta(seconds=round(seconds / unit) * unit)
    return " ".join(spoken_duration(rounded).split()[:4])
