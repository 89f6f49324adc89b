"""The incident state machine: which status may follow which, and the timestamps it sets.

Statuses (PRODUCT.md): ``triggered → acknowledged → investigating → identified →
monitoring → resolved → closed``, plus ``cancelled``. Steps may be skipped, the three
working statuses may follow each other in any order, and time never runs backwards:
``declared_at ≤ acknowledged_at ≤ resolved_at ≤ closed_at`` holds even if the clock does.
A resolved incident that is not over after all is *reopened* (:func:`reopen`): back to
investigating, its resolution undone; a closed or cancelled one never changes again.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from bot.errors import UserError
from storage.models import Incident


class Status(StrEnum):
    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"
    CLOSED = "closed"
    CANCELLED = "cancelled"


WORKING = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
OPEN = (Status.TRIGGERED, Status.ACKNOWLEDGED, *WORKING)
ENDED = (Status.CLOSED, Status.CANCELLED)

_NEXT: dict[Status, frozenset[Status]] = {
    Status.TRIGGERED: frozenset({Status.ACKNOWLEDGED, *WORKING, Status.RESOLVED, Status.CANCELLED}),
    Status.ACKNOWLEDGED: frozenset({*WORKING, Status.RESOLVED, Status.CANCELLED}),
    Status.INVESTIGATING: frozenset({*WORKING, Status.RESOLVED, Status.CANCELLED}),
    Status.IDENTIFIED: frozenset({*WORKING, Status.RESOLVED, Status.CANCELLED}),
    Status.MONITORING: frozenset({*WORKING, Status.RESOLVED, Status.CANCELLED}),
    Status.RESOLVED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
    Status.CANCELLED: frozenset(),
}


def ref(incident: Incident) -> str:
    return f"INC-{incident.id}"


def can_move(current: Status, target: Status) -> bool:
    return target in _NEXT[current]


def check_move(incident: Incident, target: Status) -> None:
    """Raise a :class:`UserError` that says why, unless ``target`` may follow now."""
    current = Status(incident.status)
    if can_move(current, target):
        return
    name = ref(incident)
    if current == target:
        raise UserError(f"{name} is already {current}.")
    if current == Status.CLOSED:
        raise UserError(f"{name} is closed and cannot change any more; declare a new incident.")
    if current == Status.CANCELLED:
        raise UserError(f"{name} was cancelled and cannot change any more.")
    if current == Status.RESOLVED:
        raise UserError(
            f"{name} is resolved: close it, or reopen it if it is not over "
            f"(/incident reopen <why>)."
        )
    if target == Status.CLOSED:
        raise UserError(f"{name} is {current}: resolve it before closing it.")
    if target == Status.ACKNOWLEDGED:
        raise UserError(f"{name} is already being worked on ({current}).")
    raise UserError(f"{name} cannot go from {current} to {target}.")


def check_open(incident: Incident, doing: str) -> None:
    """Refuse ``doing`` on an incident that is closed or cancelled."""
    if Status(incident.status) in ENDED:
        raise UserError(f"{ref(incident)} is {incident.status}: cannot {doing}.")


def move(incident: Incident, target: Status, now: datetime) -> datetime:
    """Move ``incident`` to ``target`` and stamp the time; return the time used.

    The time used is never earlier than the incident's latest stamp, so a clock that steps
    back (NTP, another replica) cannot break the ordering.
    """
    check_move(incident, target)
    when = max(now, latest_stamp(incident), incident.updated_at)
    if target == Status.ACKNOWLEDGED or (target in WORKING and incident.acknowledged_at is None):
        incident.acknowledged_at = incident.acknowledged_at or when
    if target == Status.RESOLVED:
        incident.resolved_at = when
    elif target == Status.CLOSED:
        incident.closed_at = when
    elif target == Status.CANCELLED:
        incident.cancelled_at = when
    incident.status = target.value
    incident.updated_at = when
    return when


def reopen(incident: Incident, now: datetime) -> datetime:
    """Move a resolved ``incident`` back to investigating; return the time used. Its
    resolution is undone (the timeline keeps it); a closed or cancelled incident, or one
    not resolved, is refused in words."""
    current = Status(incident.status)
    name = ref(incident)
    if current == Status.CLOSED:
        raise UserError(f"{name} is closed and cannot be reopened; declare a new incident.")
    if current == Status.CANCELLED:
        raise UserError(f"{name} was cancelled and cannot be reopened; declare a new incident.")
    if current != Status.RESOLVED:
        raise UserError(f"{name} is {current}, not resolved: there is nothing to reopen.")
    when = max(now, latest_stamp(incident), incident.updated_at)
    incident.acknowledged_at = incident.acknowledged_at or when  # resolved unacknowledged
    incident.resolved_at = None
    incident.summary = ""
    incident.status = Status.INVESTIGATING.value
    incident.updated_at = when
    return when


def retrigger(incident: Incident, now: datetime) -> datetime:
    """An acknowledged incident left unresolved past its severity's ack timeout goes back to
    triggered, to be acknowledged again (the first acknowledgement's time is kept). The
    working statuses keep theirs: someone is on it, and is paged again all the same."""
    when = max(now, latest_stamp(incident), incident.updated_at)
    if incident.status == Status.ACKNOWLEDGED.value:
        incident.status = Status.TRIGGERED.value
    incident.updated_at = when
    return when


def latest_stamp(incident: Incident) -> datetime:
    stamps = [
        incident.declared_at,
        incident.acknowledged_at,
        incident.resolved_at,
        incident.closed_at,
        incident.cancelled_at,
    ]
    return max(s for s in stamps if s is not None)
