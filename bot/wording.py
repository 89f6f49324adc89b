"""Small pieces of English the templates and messages share: what to call a role's holder,
and a count with its noun."""

from __future__ import annotations

ROLE_TITLES = {
    "communications": "communications lead",
    "operations": "operations lead",
}
"""What the holder of a built-in role is called, where the role's name is not a noun
("the communications of INC-1"). A role a config adds is named as written ("scribe")."""


def role_title(role: str) -> str:
    """``communications`` → ``communications lead``; ``commander`` → ``commander``."""
    return ROLE_TITLES.get(role, role)


def plural(count: int, noun: str, many: str = "") -> str:
    """``1 task``, ``2 tasks``, ``0 tasks`` (``many`` when adding an s is wrong)."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
