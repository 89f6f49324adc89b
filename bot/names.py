"""The names people type, one rule each, used by every way in.

- A **person** (``--as`` of ``tocsin declare`` and ``tocsin shell``, the shell's ``@name``
  and its mentions, the keys of ``[people]``): one word of letters a-z, digits, ``.``,
  ``_`` and ``-``, starting with a letter or a digit, at most 64 long; a leading ``@`` is
  allowed where one is typed, and case does not matter (``@Bob`` is ``bob``).
- A **channel** of the local shell (``--channel``, ``#name``): letters a-z, digits, ``-``
  and ``_``, at most 80, the way Slack names channels; a leading ``#`` is allowed and case
  does not matter. The configured announce channel is not held to it (it is Slack's or
  Discord's too): where it breaks it, the shell uses #incidents and says so.
- A **role** or **service** is one of those configured, whatever the case it is typed in,
  and is kept in its configured spelling. A name that is not configured is refused with
  the closest configured ones (``ops`` → "did you mean operations?"); a guess is never
  taken for an answer, even an unambiguous one, because what these commands do is public
  (an announcement, the timeline) and a later role or service would change what the same
  abbreviation meant.
- A **schedule** (``/oncall <schedule>``, ``tocsin oncall ical <schedule>``) likewise; with
  none configured, the refusal says how to add one.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from bot.commands.values import shown
from bot.errors import UserError

PERSON_MAX = 64
CHANNEL_MAX = 80
_PERSON = re.compile(rf"[a-z0-9][a-z0-9._-]{{0,{PERSON_MAX - 1}}}")
_CHANNEL = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{CHANNEL_MAX - 1}}}")
PERSON_RULE = "one word of letters a-z, digits, '.', '_' or '-', like bob or bob.smith"
CHANNEL_RULE = "letters a-z, digits, '-' and '_', like incidents or inc-7"


def person_problem(name: str) -> str | None:
    """Why ``name`` (without its ``@``) cannot be a person's name, or None if it can."""
    if not name:
        return "a person's name cannot be empty"
    if len(name) > PERSON_MAX:
        return f"a person's name is at most {PERSON_MAX} characters"
    if not _PERSON.fullmatch(name.lower()):
        return f"'{shown(name)}' is not a person's name: a name is {PERSON_RULE}"
    return None


def person(typed: str) -> str:
    """The person key ``typed`` names (``bob``, ``@Bob`` → ``bob``); a :class:`UserError`
    saying what a name is for anything else."""
    name = typed.strip()
    name = name[1:] if name.startswith("@") else name
    problem = person_problem(name)
    if problem is not None:
        raise UserError(problem + ".")
    return name.lower()


def channel_problem(name: str) -> str | None:
    """Why ``name`` (without its ``#``) cannot be a channel's name, or None if it can."""
    if not name:
        return "a channel's name cannot be empty"
    if len(name) > CHANNEL_MAX:
        return f"a channel's name is at most {CHANNEL_MAX} characters"
    if not _CHANNEL.fullmatch(name.lower()):
        return f"'{shown(name)}' is not a channel name: a channel name is {CHANNEL_RULE}"
    return None


def channel(typed: str) -> str:
    """The channel ``typed`` names (``#Incidents`` → ``incidents``); a :class:`UserError`
    saying what a channel name is for anything else."""
    name = typed.strip()
    name = name[1:] if name.startswith("#") else name
    problem = channel_problem(name)
    if problem is not None:
        raise UserError(problem + ".")
    return name.lower()


def configured(typed: str, known: Iterable[str], what: str) -> str:
    """The configured ``what`` (a role, a service) that ``typed`` names, in its configured
    spelling, whatever the case; a :class:`UserError` with suggestions for anything else."""
    names = list(known)
    word = typed.strip()
    for name in names:
        if name.lower() == word.lower():
            return name
    close = suggestions(word, names)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise UserError(
        f"there is no {what} '{shown(word)}'.{hint} The {what}s are: {', '.join(names)}."
    )


def schedule(typed: str, schedules: Iterable[str]) -> str:
    """The configured on-call schedule ``typed`` names (see :func:`configured`)."""
    known = list(schedules)
    if not known:
        raise UserError(
            "no on-call schedules are set up: add a [schedules.<name>] table to tocsin.toml "
            "(tocsin.example.toml has one)."
        )
    return configured(typed, known, "schedule")


def suggestions(word: str, names: Iterable[str], most: int = 3) -> list[str]:
    """The names ``word`` may have meant, most likely first: close spellings (``operatons``),
    names it begins (``comm`` → commander, communications), and names it abbreviates, with
    the same first letter (``ops`` → operations)."""
    typed = word.lower()
    names = list(names)
    lowered = {n.lower(): n for n in names}
    found = difflib.get_close_matches(typed, list(lowered), n=most, cutoff=0.6)
    if len(typed) >= 2:
        found += [n for n in lowered if n.startswith(typed)]
        found += [n for n in lowered if n[:1] == typed[:1] and _abbreviates(typed, n)]
    return [lowered[n] for n in dict.fromkeys(found)][:most]


def _abbreviates(short: str, name: str) -> bool:
    """Whether ``short``'s letters appear in ``name`` in order (``ops`` in ``operations``)."""
    rest = iter(name)
    return all(ch in rest for ch in short)
