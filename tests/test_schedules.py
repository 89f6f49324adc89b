"""Who is on call when (bot/schedules.py): rotation order, shift boundaries, handoffs that
stay on the schedule's wall clock across DST changes, nobody before the start, a start in
a DST gap, and the shifts of a window; with properties over zones, starts and shift
lengths (consecutive shifts tile time, members take turns in order)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.config import Schedule
from bot.schedules import Shift, handoff, on_call, shift, shifts

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TRIO = ["alice", "bob", "carol"]


def schedule(
    shift_length: str = "1w",
    start: str = "2026-01-05T09:00",
    timezone: str = "Europe/Berlin",
    members: list[str] | None = None,
) -> Schedule:
    return Schedule.model_validate(
        {"timezone": timezone, "members": members or TRIO, "shift": shift_length, "start": start}
    )


def at(text: str, zone: ZoneInfo = BERLIN, fold: int = 0) -> datetime:
    """A wall-clock time in ``zone``, as the UTC instant code compares."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold).astimezone(UTC)


def local(instant: datetime, zone: ZoneInfo = BERLIN) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def who(plan: Schedule, when: datetime) -> str | None:
    turn = on_call("primary", plan, when)
    return turn.member if turn else None


# Rotation and boundaries.


def test_members_take_turns_in_order_and_start_again() -> None:
    plan = schedule()
    weeks = [who(plan, at("2026-01-05T12:00") + timedelta(weeks=n)) for n in range(7)]
    assert weeks == ["alice", "bob", "carol", "alice", "bob", "carol", "alice"]
    turn = on_call("primary", plan, at("2026-02-18T12:00"))
    assert turn == Shift("primary", 6, "alice", at("2026-02-16T09:00"), at("2026-02-23T09:00")), (
        "the 7th shift (index 6) is alice's again, Monday 09:00 to Monday 09:00"
    )


def test_a_handoff_instant_belongs_to_the_next_shift() -> None:
    plan = schedule()
    change = at("2026-01-12T09:00")
    assert who(plan, change - timedelta(microseconds=1)) == "alice"
    assert who(plan, change) == "bob"
    first, second = shift("primary", plan, 0), shift("primary", plan, 1)
    assert first.end == second.start == change == handoff(plan, 1)


def test_nobody_is_on_call_before_the_start() -> None:
    plan = schedule()
    start = at("2026-01-05T09:00")
    assert on_call("primary", plan, start - timedelta(microseconds=1)) is None
    assert on_call("primary", plan, datetime(2000, 1, 1, tzinfo=UTC)) is None
    assert who(plan, start) == "alice"


def test_one_member_is_always_on_call_and_shifts_still_hand_over() -> None:
    plan = schedule(members=["alice"])
    turns = list(shifts("solo", plan, at("2026-01-05T09:00"), at("2026-01-26T09:00")))
    assert [t.member for t in turns] == ["alice"] * 3
    assert [t.index for t in turns] == [0, 1, 2]


def test_a_time_far_from_the_start_is_answered_exactly() -> None:
    plan = schedule("30s", start="2026-01-01T00:00")
    when = at("2031-07-14T13:37:45")
    turn = on_call("primary", plan, when)
    assert turn is not None and turn.start <= when < turn.end
    assert turn.end - turn.start == timedelta(seconds=30)
    assert turn.member == TRIO[turn.index % 3]


# Daylight saving time: handoffs keep the schedule's wall clock.


@pytest.mark.parametrize(
    ("first", "weeks"),
    [("2026-03-16T09:00", 4), ("2026-10-12T09:00", 4)],
    ids=["march", "october"],
)
def test_a_weekly_berlin_handoff_stays_at_0900_berlin_across_dst(first: str, weeks: int) -> None:
    plan = schedule(start="2026-01-05T09:00")
    turns = list(shifts("primary", plan, at(first), at(first) + timedelta(weeks=weeks)))
    starts = [t.start.astimezone(BERLIN) for t in turns]
    assert [(s.weekday(), s.hour, s.minute) for s in starts] == [(0, 9, 0)] * len(turns)
    lengths = {t.end - t.start for t in turns}
    # Each change makes one week an hour shorter (March) or longer (October).
    change = timedelta(hours=-1) if "03" in first[5:7] else timedelta(hours=1)
    assert lengths == {timedelta(weeks=1), timedelta(weeks=1) + change}


def test_the_march_and_october_2026_berlin_handoffs_in_utc() -> None:
    plan = schedule()
    assert on_call("primary", plan, at("2026-03-30T09:00")) is not None
    march = on_call("primary", plan, at("2026-03-25T12:00"))
    assert march is not None
    assert (march.start, march.end) == (
        datetime(2026, 3, 23, 8, 0, tzinfo=UTC),  # 09:00 CET
        datetime(2026, 3, 30, 7, 0, tzinfo=UTC),  # 09:00 CEST: 167 hours later
    )
    october = on_call("primary", plan, at("2026-10-21T12:00"))
    assert october is not None
    assert (october.start, october.end) == (
        datetime(2026, 10, 19, 7, 0, tzinfo=UTC),  # 09:00 CEST
        datetime(2026, 10, 26, 8, 0, tzinfo=UTC),  # 09:00 CET: 169 hours later
    )


def test_a_12_hour_shift_hands_over_at_0900_and_2100_berlin_across_both_changes() -> None:
    plan = schedule("12h", start="2026-03-01T09:00")
    for since, until in (("2026-03-27", "2026-03-31"), ("2026-10-23", "2026-10-27")):
        turns = list(shifts("primary", plan, at(f"{since}T09:00"), at(f"{until}T09:00")))
        assert [local(t.start)[11:16] for t in turns] == ["09:00", "21:00"] * 4
        assert {t.end - t.start for t in turns} in (
            {timedelta(hours=12), timedelta(hours=11)},
            {timedelta(hours=12), timedelta(hours=13)},
        )
        members = [t.member for t in turns]
        assert all(members[i] != members[i + 1] for i in range(len(members) - 1))


def test_a_new_york_weekly_handoff_stays_at_0800_eastern() -> None:
    plan = schedule(start="2026-01-05T08:00", timezone="America/New_York")
    march = list(
        shifts("ny", plan, at("2026-03-02T08:00", NEW_YORK), at("2026-03-16T08:00", NEW_YORK))
    )
    assert [local(t.start, NEW_YORK) for t in march] == [
        "2026-03-02 08:00 EST",
        "2026-03-09 08:00 EDT",  # DST began on Sunday 8 March
    ]
    assert [t.start.hour for t in march] == [13, 12]
    november = list(
        shifts("ny", plan, at("2026-10-26T08:00", NEW_YORK), at("2026-11-09T08:00", NEW_YORK))
    )
    assert [local(t.start, NEW_YORK) for t in november] == [
        "2026-10-26 08:00 EDT",
        "2026-11-02 08:00 EST",  # DST ended on Sunday 1 November
    ]
    assert november[0].end - november[0].start == timedelta(weeks=1, hours=1)


def test_a_handoff_at_a_time_that_comes_twice_is_its_first() -> None:
    """01:30 comes twice in New York on 1 November 2026: the handoff is the first, EDT."""
    plan = schedule("1d", start="2026-10-30T01:30", timezone="America/New_York")
    turn = on_call("ny", plan, at("2026-11-01T01:45", NEW_YORK, fold=1))  # the second 01:45
    assert turn is not None
    assert (
        turn.start
        == at("2026-11-01T01:30", NEW_YORK, fold=0)
        == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    )
    assert turn.end - turn.start == timedelta(hours=25)


# A DST gap: a time the clock skips.


def test_a_start_in_a_dst_gap_hands_over_when_the_clock_jumps() -> None:
    """02:30 does not exist in Berlin on 29 March 2026 (02:00 CET → 03:00 CEST)."""
    plan = schedule("1d", start="2026-03-29T02:30")
    first = handoff(plan, 0)
    assert first == datetime(2026, 3, 29, 1, 0, tzinfo=UTC) and local(first) == (
        "2026-03-29 03:00 CEST"
    )
    assert on_call("primary", plan, first - timedelta(seconds=1)) is None
    assert who(plan, first) == "alice"
    assert local(handoff(plan, 1)) == "2026-03-30 02:30 CEST"


def test_a_weekly_handoff_that_falls_in_the_gap_is_at_the_jump() -> None:
    plan = schedule(start="2026-03-15T02:30")
    assert [local(handoff(plan, i)) for i in range(4)] == [
        "2026-03-15 02:30 CET",
        "2026-03-22 02:30 CET",
        "2026-03-29 03:00 CEST",
        "2026-04-05 02:30 CEST",
    ]


def test_shifts_shorter_than_the_jump_never_run_backwards() -> None:
    """Half-hour shifts from midnight: 02:00 and 02:30 are skipped, so their shifts last
    no time and are nobody's; every other shift is half an hour, none overlaps."""
    plan = schedule("30m", start="2026-03-29T00:00")
    turns = list(shifts("primary", plan, at("2026-03-29T00:00"), at("2026-03-29T05:00")))
    assert all(t.end - t.start == timedelta(minutes=30) for t in turns)
    assert [local(t.start)[11:] for t in turns][3:6] == ["01:30 CET", "03:00 CEST", "03:30 CEST"]
    assert [t.index for t in turns][3:6] == [3, 6, 7], "shifts 4 and 5 fell in the gap"
    for before, after in itertools.pairwise(turns):
        assert before.end == after.start
    for minute in range(0, 5 * 60):
        when = at("2026-03-29T00:00") + timedelta(minutes=minute)
        turn = on_call("primary", plan, when)
        assert turn is not None and turn.start <= when < turn.end and turn.index not in (4, 5)


# The shifts of a window.


def test_shifts_are_those_that_overlap_the_window() -> None:
    plan = schedule()
    monday, week = at("2026-01-12T09:00"), timedelta(weeks=1)
    indexes = [t.index for t in shifts("primary", plan, monday, monday + 2 * week)]
    assert indexes == [1, 2], "a shift starting at `until` is not in; one starting at `since` is"
    inside = [
        t.index
        for t in shifts(
            "primary", plan, monday + timedelta(hours=1), monday + week + timedelta(hours=1)
        )
    ]
    assert inside == [1, 2]
    assert list(shifts("primary", plan, monday, monday)) == []
    assert [t.index for t in shifts("primary", plan, monday, monday + timedelta(seconds=1))] == [1]


def test_shifts_of_a_window_before_the_start_begin_with_the_first() -> None:
    plan = schedule()
    start = at("2026-01-05T09:00")
    early = list(shifts("primary", plan, start - timedelta(days=30), start + timedelta(days=8)))
    assert [(t.index, t.member) for t in early] == [(0, "alice"), (1, "bob")]
    assert list(shifts("primary", plan, start - timedelta(days=30), start)) == []


# Properties over zones, starts and shift lengths.

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST change
    "Pacific/Apia",  # skipped a whole day in December 2011
    "America/Santiago",
    "Asia/Kolkata",
    "Pacific/Chatham",
]
any_time = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(microsecond=0)
)


@cache
def changes(zone: str) -> list[datetime]:
    """The instants (UTC) at which ``zone``'s offset changes, 2005 to 2035."""
    tz = ZoneInfo(zone)
    found = []
    day = datetime(2005, 1, 1, tzinfo=UTC)
    while day.year < 2035:
        after = day + timedelta(days=1)
        if day.astimezone(tz).utcoffset() != after.astimezone(tz).utcoffset():
            low, high = int(day.timestamp()), int(after.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                same = (
                    datetime.fromtimestamp(middle, tz).utcoffset() == day.astimezone(tz).utcoffset()
                )
                low, high = (middle, high) if same else (low, middle)
            found.append(datetime.fromtimestamp(high, UTC))
        day = after
    return found


@st.composite
def zone_and_start(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a start on its wall clock: any time, or one shortly before a DST change
    (so that short shifts hand over inside the jump or the repeated hour)."""
    zone = draw(st.sampled_from(ZONES))
    near = changes(zone)
    if near and draw(st.booleans()):
        change = draw(st.sampled_from(near))
        before = timedelta(seconds=draw(st.integers(0, 3 * 3600)))
        return zone, (change - before).astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return zone, draw(any_time)


lengths = st.one_of(
    st.integers(1, 7200),  # seconds to two hours: may fall inside a DST jump
    st.integers(1, 14 * 24).map(lambda h: h * 3600),
    st.sampled_from([86400, 7 * 86400]),
)
offsets = st.one_of(st.integers(-3 * 3600, 6 * 3600), st.integers(-40 * 86400, 400 * 86400))


def _plan(zone: str, start: datetime, seconds: int, size: int) -> Schedule:
    members = [f"p{i}" for i in range(size)]
    return Schedule(timezone=zone, members=members, shift=timedelta(seconds=seconds), start=start)


@settings(max_examples=300, deadline=None)
@given(
    where=zone_and_start(),
    seconds=lengths,
    size=st.integers(1, 5),
    offset=offsets,
    window=st.integers(1, 20 * 86400),
)
def test_consecutive_shifts_tile_time_and_members_take_turns(
    where: tuple[str, datetime], seconds: int, size: int, offset: int, window: int
) -> None:
    zone, start = where
    plan = _plan(zone, start, seconds, size)
    first = handoff(plan, 0)
    since = first + timedelta(seconds=offset)
    until = since + timedelta(seconds=min(window, seconds * 200))
    turns = list(shifts("s", plan, since, until))
    if until <= first:
        assert turns == []
        return
    assert turns[0].start <= max(since, first) < turns[0].end
    assert turns[-1].start < until <= turns[-1].end
    for before, after in itertools.pairwise(turns):
        assert before.end == after.start, "no gap, no overlap"
        assert after.index > before.index
    for turn in turns:
        assert turn.start < turn.end
        assert turn.member == plan.members[turn.index % size]
    if seconds >= 2 * 86400:  # longer than any jump of a clock: nobody is skipped
        assert [t.index for t in turns] == list(range(turns[0].index, turns[-1].index + 1))


@settings(max_examples=300, deadline=None)
@given(where=zone_and_start(), seconds=lengths, offset=offsets)
def test_on_call_is_the_shift_whose_handoffs_surround_the_time(
    where: tuple[str, datetime], seconds: int, offset: int
) -> None:
    zone, start = where
    plan = _plan(zone, start, seconds, 3)
    first = handoff(plan, 0)
    when = first + timedelta(seconds=offset)
    turn = on_call("s", plan, when)
    if when < first:
        assert turn is None
        return
    assert turn is not None and turn.start <= when < turn.end
    assert handoff(plan, turn.index) == turn.start and handoff(plan, turn.index + 1) == turn.end
    nxt = on_call("s", plan, turn.end)
    assert nxt is not None and nxt.start == turn.end and nxt.index > turn.index


@settings(max_examples=300, deadline=None)
@given(
    where=zone_and_start(),
    seconds=lengths,
    index=st.one_of(st.integers(0, 12), st.integers(0, 2000)),
)
def test_a_handoff_is_when_the_schedules_clock_first_reads_its_time(
    where: tuple[str, datetime], seconds: int, index: int
) -> None:
    zone, start = where
    plan = _plan(zone, start, seconds, 2)
    wanted = start + index * timedelta(seconds=seconds)
    instant = handoff(plan, index)
    reads = instant.astimezone(plan.zone).replace(tzinfo=None)
    before = (instant - timedelta(seconds=1)).astimezone(plan.zone).replace(tzinfo=None)
    assert reads >= wanted and before < wanted
    assert handoff(plan, index) <= handoff(plan, index + 1), "handoffs never go back"
