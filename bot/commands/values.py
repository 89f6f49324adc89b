"""The values typed into commands, checked: incident references, statuses, texts and
their limits. Each refusal is a :class:`UserError` that says what was expected, echoing
what was typed cut short (:func:`shown`, from :mod:`bot.text`)."""

from __future__ import annotations

import re

from bot.errors import UserError
from bot.lifecycle import WORKING
from bot.text import shown as shown  # what an error echoes, for every command's errors
from bot.text import strip_control

TITLE_MAX = 200
TEXT_MAX = 3000
INC = re.compile(r"^inc-([0-9]+)$", re.IGNORECASE)
NUMBER = re.compile(r"^([0-9]+)$")
MAX_DIGITS = 9
"""More digits than this is no number Tocsin gave (nor fits the database's columns)."""
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
    """User text without control characters (:func:`bot.text.control`: C0, DEL, C1, bidi
    controls); a line break is kept as one ``\\n``, and a tab kept, where text may span
    lines; elsewhere each becomes a space. PostgreSQL refuses NUL in text."""
    text = strip_control(_LINE_BREAK.sub("\n", text))
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


def unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“":
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
        return text[1:-1].strip()
    return text
