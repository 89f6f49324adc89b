"""``tocsin oncall ical <schedule> [--days N]``: the real command's output read back with
``icalendar``: one event per shift of the window, UIDs the same from one run to the next,
handoffs on the schedule's clock across DST changes, and the refusals (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from bot.config import load_config
from bot.schedules import shifts
from tests.cli import tocsin, tocsin_env, tocsin_inline

CONFIG = """\
[people.alice]
name = "Alice Liddell"
[people.bob]
name = "Bob"
[people.carol]
name = "Carol"

[schedules.primary]
timezone = "Europe/Berlin"
members = ["alice", "bob", "carol"]
shift = "1w"
start = "2026-01-05T09:00"

[schedules.nights]
timezone = "America/New_York"
members = ["carol", "bob"]
shift = "12h"
start = "2026-01-01T08:00"
"""
UNUSED = "sqlite+aiosqlite:///unused.db"
"""The command reads no database: this one is never created."""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tocsin.toml").write_text(CONFIG)
    return tmp_path


class Made(NamedTuple):
    uid: str
    summary: str
    start: datetime
    end: datetime


def events(output: str) -> list[Made]:
    cal = Calendar.from_ical(output)
    assert str(cal["prodid"]) == "-//Tocsin//On-call schedules//EN"
    assert str(cal["version"]) == "2.0"
    return [
        Made(str(e.uid), str(e.summary), e.decoded("dtstart"), e.decoded("dtend"))
        for e in cal.walk("VEVENT")
    ]


def test_a_year_of_weekly_shifts_read_back_same_uids_each_run(folder: Path) -> None:
    """Two runs of the real command: the same events, the same UIDs; every handoff at
    09:00 on Berlin's clock, so a 366-day window has a 167- and a 169-hour week."""
    env = tocsin_env(UNUSED)
    before = datetime.now(UTC)
    first = tocsin("oncall", "ical", "primary", "--days", "366", cwd=folder, env=env)
    second = tocsin("oncall", "ical", "primary", "--days", "366", cwd=folder, env=env)
    after = datetime.now(UTC)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stderr == ""
    one, two = events(first.stdout), events(second.stdout)
    assert [e.uid for e in one] == [e.uid for e in two]
    assert one == two
    assert len({e.uid for e in one}) == len(one)

    config = load_config(folder / "tocsin.toml")
    primary = config.schedules["primary"]
    expected = [
        list(shifts("primary", primary, at, at + timedelta(days=366))) for at in (before, after)
    ]
    made = [(e.start, e.end) for e in one]
    assert made in [[(s.start, s.end) for s in turns] for turns in expected]
    names = {"alice": "Alice Liddell", "bob": "Bob", "carol": "Carol"}
    turns = expected[0] if made == [(s.start, s.end) for s in expected[0]] else expected[1]
    assert [e.summary for e in one] == [f"On call: primary — {names[s.member]}" for s in turns]
    assert [e.uid for e in one] == [
        f"primary-{s.index}-{s.start:%Y%m%dT%H%M%SZ}@tocsin" for s in turns
    ]
    berlin = ZoneInfo("Europe/Berlin")
    for event in one:
        start = event.start
        assert isinstance(start, datetime) and start.utcoffset() == timedelta(0), "in UTC"
        local = start.astimezone(berlin)
        assert (local.weekday(), local.hour, local.minute) == (0, 9, 0), local
    lengths = {e.end - e.start for e in one}
    assert lengths == {timedelta(hours=167), timedelta(hours=168), timedelta(hours=169)}
    assert not (folder / "unused.db").exists()


def test_lines_end_in_crlf_as_rfc_5545_wants(folder: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "oncall", "ical", "primary", "--days", "1"],
        capture_output=True,
        cwd=folder,
        env=tocsin_env(UNUSED),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-2:] == [b"END:VCALENDAR", b""]
    assert not any(b"\n" in line for line in lines)


def test_the_default_window_is_four_weeks_from_now(folder: Path) -> None:
    before = datetime.now(UTC)
    result = tocsin_inline("oncall", "ical", "primary", cwd=folder, env=tocsin_env(UNUSED))
    after = datetime.now(UTC)
    assert result.returncode == 0, result.stderr
    made = events(result.stdout)
    assert made[0].start <= after and made[0].end > before
    assert made[-1].start < after + timedelta(days=28)
    assert made[-1].end >= before + timedelta(days=28)
    assert len(made) in (4, 5)
    cal = Calendar.from_ical(result.stdout)
    assert str(cal["x-wr-calname"]) == "On call: primary"
    (event, *_rest) = cal.walk("VEVENT")
    assert str(event["description"]).endswith(
        "The schedule has turns of 1 week, in this order: Alice Liddell, Bob, Carol; handoffs "
        "are on the Europe/Berlin clock."
    )
    assert str(event["transp"]) == "TRANSPARENT"


def test_a_12_hour_new_york_schedule_hands_over_at_8_and_20_eastern(folder: Path) -> None:
    result = tocsin_inline(
        "oncall", "ical", "NIGHTS", "--days", "366", cwd=folder, env=tocsin_env(UNUSED)
    )
    assert result.returncode == 0, result.stderr
    made = events(result.stdout)
    assert len(made) >= 2 * 365
    eastern = ZoneInfo("America/New_York")
    hours = {e.start.astimezone(eastern).strftime("%H:%M") for e in made}
    assert hours == {"08:00", "20:00"}
    lengths = {e.end - e.start for e in made}
    assert lengths == {timedelta(hours=11), timedelta(hours=12), timedelta(hours=13)}
    assert {e.summary for e in made} == {"On call: nights — Carol", "On call: nights — Bob"}


def test_an_unknown_schedule_is_refused_in_words(folder: Path) -> None:
    result = tocsin_inline("oncall", "ical", "primry", cwd=folder, env=tocsin_env(UNUSED))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == (
        "tocsin: there is no schedule 'primry'. Did you mean primary? "
        "The schedules are: primary, nights.\n"
    )


def test_without_schedules_it_says_what_to_add(tmp_path: Path) -> None:
    result = tocsin_inline("oncall", "ical", "primary", cwd=tmp_path, env=tocsin_env(UNUSED))
    assert result.returncode == 2 and result.stdout == ""
    assert "no on-call schedules are set up: add a [schedules.<name>] table" in result.stderr


@pytest.mark.parametrize("days", ["0", "367", "-1", "four", "١٢"])
def test_days_out_of_bounds_are_refused(folder: Path, days: str) -> None:
    result = tocsin_inline(
        "oncall", "ical", "primary", "--days", days, cwd=folder, env=tocsin_env(UNUSED)
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "argument --days: " in result.stderr
    assert "is not a number of days: give a whole number from 1 to 366" in result.stderr


def test_a_config_error_is_reported_like_other_commands(tmp_path: Path) -> None:
    (tmp_path / "tocsin.toml").write_text(
        CONFIG.replace('members = ["carol", "bob"]', 'members = ["carol", "dave"]')
    )
    result = tocsin_inline("oncall", "ical", "primary", cwd=tmp_path, env=tocsin_env(UNUSED))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("tocsin: configuration error")
    assert 'tocsin.toml:16: schedules.nights.members: "dave" is not under [people]' in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_oncall_alone_says_what_it_takes(folder: Path) -> None:
    result = tocsin_inline("oncall", cwd=folder, env=tocsin_env(UNUSED))
    assert result.returncode == 2
    assert "tocsin oncall ical <schedule>" in result.stderr


def test_the_example_config_prints_its_schedule(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "tocsin.example.toml"
    env = tocsin_env(UNUSED, TOCSIN_CONFIG=str(example))
    result = tocsin_inline("oncall", "ical", "primary", "--days", "14", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    names = {e.summary for e in events(result.stdout)}
    assert names == {"On call: primary — Alice Liddell", "On call: primary — Bob Marley"}
