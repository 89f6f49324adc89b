"""The values typed into commands, checked: incident references, statuses, texts and
their limits. Each refusal is a :class:`UserError` that says what was expected."""

from __future__ import annotations

import re

from bot.errors import UserError
from bot.lifecycle import WORKING

TITLE_MAX = 200
TEXT_MAX = 3000
INC = re.compile(r"^inc-([0-9]+)$", re.IGNORECASE)
NUMBER = re.compile(r"^([0-9]+)$")
MAX_DIGITS = 9
"""More digits than this is no number Tocsin gave (nor fits the database's columns)."""
SHOWN_MAX = 40
"""At most this much of what was typed is echoed back in an error."""
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_LINE_BREAK = re.compile(r"\r\n?")
_ONE_LINE = re.compile("[\t\n]")


def status(word: str) -> str:
    allowed = [s.value for s in WORKING]
    if word.lower() not in allowed:
        got = f"'{shown(word)}' is not a status you can set" if word else "which status?"
        raise UserError(f"{got}: use {', '.join(allowed)} (resolve has its own command).")
    return word.lower()


def mentions_incident(text: str) -> bool:
    """Whether ``text`` has a word like ``INC-7`` in it."""
    return any(INC.match(word) for word in text.split())


def reference(value: str | None) -> int | None:
    """``INC-7`` or ``7`` → 7; None for None; a :class:`UserError` for anything else."""
    if value is None:
        return None
    text = value.strip()
    match = INC.match(text) or NUMBER.match(text)
    if not match:
        raise UserError(
            f"'{shown(text)}' is not an incident reference; use INC-<number>, e.g. INC-7."
        )
    digits = match.group(1).lstrip("0") or "0"
    if len(digits) > MAX_DIGITS or int(digits) < 1:
        raise UserError(f"there is no incident INC-{shown(digits)}.")
    return int(digits)


def check_title(title: str) -> str:
    title = " ".join(clean(title).split())
    if len(title) > TITLE_MAX:
        raise UserError(
            f"the title is {len(title)} characters long; the limit is {TITLE_MAX}. "
            "Put the details in --desc."
        )
    return title


def clean(text: str, *, multiline: bool = True) -> str:
    """User text without control characters: C0 (a line break is kept as one ``\\n``, and
    a tab kept, where text may span lines; elsewhere each becomes a space), DEL, C1, and
    the bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069),
    which can make text read other than it is. PostgreSQL refuses NUL in text."""
    text = _CONTROL.sub("", _LINE_BREAK.sub("\n", text))
    return text if multiline else _ONE_LINE.sub(" ", text)


def check_text(
    text: str, limit: int = TEXT_MAX, name: str = "text", *, multiline: bool = True
) -> str:
    text = clean(text, multiline=multiline)
    if name == "title":
        return check_title(text)
    if len(text) > limit:
        raise UserError(f"that {name} is {len(text)} characters long; the limit is {limit}.")
    return text


def shown(typed: str, most: int = SHOWN_MAX) -> str:
    """What was typed, as an error echoes it: cut short (with …) if it is long, so that a
    mistyped command is not answered with all of it."""
    return typed if len(typed) <= most else typed[:most] + "…"


def unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“":
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
        return text[1:-1].strip()
    return text
