"""Durations as people write them in the config and in commands: ``"30s"``, ``"5m"``,
``"1h30m"``, ``"2d"``, ``"1w"``; and the forms Tocsin shows them in: spoken, on a clock,
as an age."""

from __future__ import annotations

import re
from datetime import timedelta

# ASCII digits only: \d would also take "٣٠m" or "²h".
_PART = re.compile(r"([0-9]{1,6})([wdhms])")
_WHOLE = re.compile(r"^(?:[0-9]{1,6}[wdhms])+$")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
EXAMPLES = '"30s", "15m", "1h30m", "2d" or "1w"'


def parse_duration(text: str) -> timedelta:
    """``"1h30m"`` → 1 h 30 min; a :class:`ValueError` that says what is expected otherwise."""
    compact = text.strip().lower()
    if not _WHOLE.match(compact):
        raise ValueError(f"{text!r} is not a duration: write it like {EXAMPLES}")
    units = [unit for _n, unit in _PART.findall(compact)]
    if len(set(units)) != len(units) or units != sorted(units, key=lambda u: -_UNITS[u]):
        raise ValueError(f"{text!r} is not a duration: give each unit once, largest first")
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(compact))
    if seconds <= 0:
        raise ValueError(f"{text!r} is not a duration: it must be longer than nothing")
    return timedelta(seconds=seconds)


_NAMES = {"w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}


def spoken_duration(value: timedelta) -> str:
    """As a person says it: ``"1 minute"``, ``"15 minutes"``, ``"1 hour 30 minutes"``,
    ``"2 days 4 hours"``, ``"45 seconds"``; seconds only under a minute (15 min 30 s is
    ``"15 minutes"``)."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return "0 seconds"
    if seconds >= 60:
        seconds -= seconds % 60
    return " ".join(
        f"{amount} {_NAMES[unit]}{'' if amount == 1 else 's'}" for amount, unit in _parts(seconds)
    )


def spoken_every(value: timedelta) -> str:
    """``"every 15 minutes"``, but ``"every minute"``, ``"every hour"``."""
    said = spoken_duration(value)
    one, _, unit = said.partition(" ")
    return f"every {unit}" if one == "1" and " " not in unit else f"every {said}"


def clock_duration(value: timedelta) -> str:
    """As a stopwatch shows it, to the minute past an hour, for a table (an export's time
    to acknowledge and to resolve): ``"42s"``, ``"3m 05s"``, ``"26h 01m"``."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _parts(seconds: int) -> list[tuple[int, str]]:
    """``seconds`` in weeks, days, hours, minutes and seconds, the units that are not 0."""
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        amount, seconds = divmod(seconds, _UNITS[unit])
        if amount:
            parts.append((amount, unit))
    return parts


def format_age(value: timedelta) -> str:
    """How old, in its largest unit, for a list: ``"<1m"``, ``"45m"``, ``"3h"``, ``"2d"``."""
    minutes = int(value.total_seconds()) // 60
    if minutes < 1:
        return "<1m"
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h"
    return f"{minutes // (24 * 60)}d"
