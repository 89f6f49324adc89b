"""``tocsin oncall ical <schedule> [--days N]``: a schedule's shifts as an iCalendar file that
calendar apps import, made with the ``icalendar`` library (imported by the CLI only when run).

One event per shift that overlaps the window (shifts a DST jump swallows are none), in UTC,
titled "On call: <schedule> — <name>". A shift's UID comes from the schedule, the shift's
number in the rotation and its start, so printing the calendar again gives the same UIDs
and an app updates its events rather than doubling them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from icalendar import Calendar, Event

from bot import names
from bot.config import Person, Schedule, load_config
from bot.durations import spoken_duration
from bot.errors import UserError
from bot.schedules import Shift, shifts

if TYPE_CHECKING:
    from bot.plugins import PlatformPlugin
    from bot.settings import Settings

PRODID = "-//Tocsin//On-call schedules//EN"


def calendar(
    name: str,
    schedule: Schedule,
    people: Mapping[str, Person],
    since: datetime,
    days: int = 28,
) -> bytes:
    """The shifts of ``name`` that overlap ``since`` … ``since + days``, as iCalendar."""
    title = f"On call: {name}"
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("name", title)
    cal.add("x-wr-calname", title)
    cal.add("x-wr-timezone", schedule.timezone)
    rotation = ", ".join(_name(member, people) for member in schedule.members)
    turns = f"turns of {spoken_duration(schedule.shift)}, in this order: {rotation}"
    for turn in shifts(name, schedule, since, since + timedelta(days=days)):
        cal.add_component(_event(turn, schedule, people, since, turns))
    return bytes(cal.to_ical())


def _event(
    turn: Shift, schedule: Schedule, people: Mapping[str, Person], stamp: datetime, turns: str
) -> Event:
    who = _name(turn.member, people)
    event = Event()
    event.add("uid", f"{turn.schedule}-{turn.index}-{turn.start:%Y%m%dT%H%M%SZ}@tocsin")
    event.add("dtstamp", stamp.astimezone(UTC).replace(microsecond=0))
    event.add("dtstart", turn.start.astimezone(UTC))
    event.add("dtend", turn.end.astimezone(UTC))
    event.add("summary", f"On call: {turn.schedule} — {who}")
    event.add(
        "description",
        f"{who} is on call for {turn.schedule}. The schedule has {turns}; handoffs are on "
        f"the {schedule.timezone} clock.",
    )
    event.add("transp", "TRANSPARENT")  # being on call does not make anyone busy
    return event


def _name(key: str, people: Mapping[str, Person]) -> str:
    person = people.get(key)
    return person.name if person is not None else key


def command(
    args: argparse.Namespace, settings: Settings, plugins: dict[str, PlatformPlugin]
) -> int:
    """``tocsin oncall ical <schedule> [--days N]``: the calendar to standard output; an
    unknown schedule is refused (exit 2), a config error raised for the CLI to report."""
    from bot.plugins import config_models

    if args.oncall is None:
        print(
            "tocsin: oncall what? tocsin oncall ical <schedule> prints its shifts", file=sys.stderr
        )
        return 2
    config = load_config(settings.config_path, config_models(plugins))
    try:
        name = names.schedule(args.schedule, config.schedules)
    except UserError as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    ics = calendar(name, config.schedules[name], config.people, datetime.now(UTC), args.days)
    sys.stdout.write(ics.decode())
    return 0
