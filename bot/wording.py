"""Small pieces of English the templates and messages share: what to call a role's holder,
a count with its noun, and why a close waits for open tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.models import Task

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


def open_tasks(number: int, left: list[Task], most: int = 10) -> str:
    """Why a close waits: the open tasks (the first ``most``), and the two ways on."""
    ref = f"INC-{number}"
    lines = [f"{ref} still has {plural(len(left), 'open task')}:"]
    for task in left[:most]:
        text = task.text if len(task.text) <= 80 else task.text[:79] + "…"
        owner = f" ({task.owner_name})" if task.owner_name else ""
        lines.append(f"☐ {task.number}. {text}{owner}")
    if len(left) > most:
        lines.append(f"… and {len(left) - most} more (/incident tasks).")
    lines.append(
        f"Mark {'it' if len(left) == 1 else 'them'} done (/incident task done <n>), or close "
        f"it anyway: /incident close {ref} --force "
        f"({'it stays' if len(left) == 1 else 'they stay'} on the record as left open)."
    )
    return "\n".join(lines)
