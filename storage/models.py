"""The tables. Every change here needs a migration under ``storage/migrations/versions``.

A test compares these models with the migrated schema, so a forgotten migration fails CI.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime


def _when(*, nullable: bool = False, index: bool = False) -> datetime:
    """A UTC timestamp column (see :class:`UTCDateTime`)."""
    column: Column[datetime] = Column(UTCDateTime(), nullable=nullable, index=index)
    return Field(default=None, sa_column=column)  # type: ignore[no-any-return]


class Incident(SQLModel, table=True):
    """One incident. Its number (``INC-<id>``) is the primary key."""

    __tablename__ = "incidents"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_type=Text)
    severity: int
    service: str | None = Field(default=None, max_length=100)
    status: str = Field(max_length=20, index=True)
    commander_key: str = Field(max_length=100)
    commander_name: str = Field(max_length=200)
    declared_by_key: str = Field(max_length=100)
    declared_by_name: str = Field(max_length=200)
    declared_on: str = Field(
        max_length=20, description="where it came from: a platform's name, 'cli', an integration"
    )
    platform: str | None = Field(
        default=None, max_length=20, description="the platform its channel lives on"
    )
    owner_key: str | None = Field(default=None, max_length=100)
    owner_name: str | None = Field(default=None, max_length=200)
    summary: str = Field(default="", sa_type=Text)
    cancel_reason: str = Field(default="", sa_type=Text)
    dedup_key: str | None = Field(default=None, max_length=255, index=True)
    declared_at: datetime = _when(index=True)
    acknowledged_at: datetime | None = _when(nullable=True)
    resolved_at: datetime | None = _when(nullable=True)
    closed_at: datetime | None = _when(nullable=True)
    cancelled_at: datetime | None = _when(nullable=True)
    updated_at: datetime = _when()
    version: int = Field(default=0, description="bumped by every change: effects re-check it")
    last_update_at: datetime | None = _when(nullable=True)
    last_update_by: str | None = Field(default=None, max_length=200)
    last_update_text: str = Field(default="", sa_type=Text)
    open_tasks: int = 0
    paging: str | None = Field(
        default=None,
        max_length=20,
        description="escalation: None (never paged), active, acknowledged, exhausted, stopped",
    )
    page_policy: str | None = Field(default=None, max_length=100)
    page_cycle: int = Field(default=0, description="bumped when paging starts again")
    page_round: int = Field(default=0, description="of the latest level paged, from 1")
    page_level: int = Field(default=0, description="the latest level paged, from 1")
    snoozed_until: datetime | None = _when(nullable=True)


class ChannelBinding(SQLModel, table=True):
    """An incident's channel on one platform, and the card message pinned there."""

    __tablename__ = "channel_bindings"
    __table_args__ = (
        UniqueConstraint("platform", "channel_id", name="uq_binding_channel"),
        UniqueConstraint("platform", "channel_name", name="uq_binding_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    platform: str = Field(max_length=20)
    channel_id: str = Field(max_length=100)
    channel_name: str = Field(max_length=100)
    card_message_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = _when()


class TimelineEvent(SQLModel, table=True):
    """One line of an incident's timeline, with its original time and author."""

    __tablename__ = "timeline_events"
    __table_args__ = (
        Index("ix_timeline_incident_at", "incident_id", "at"),
        Index("ix_timeline_message", "platform", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    at: datetime = _when()
    kind: str = Field(max_length=40)
    detail: str = Field(default="", max_length=200, description="kind-specific: a status, a role…")
    actor_key: str = Field(max_length=100)
    actor_name: str = Field(max_length=200)
    text: str = Field(default="", sa_type=Text)
    platform: str | None = Field(default=None, max_length=20)
    message_id: str | None = Field(default=None, max_length=100)
    edited_at: datetime | None = _when(nullable=True)
    deleted_at: datetime | None = _when(nullable=True)


class RoleAssignment(SQLModel, table=True):
    """Who holds a role (commander, communications, …) in an incident."""

    __tablename__ = "incident_roles"
    __table_args__ = (UniqueConstraint("incident_id", "role", name="uq_role_per_incident"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    role: str = Field(max_length=50)
    person_key: str = Field(max_length=100)
    person_name: str = Field(max_length=200)
    assigned_at: datetime = _when()


class Task(SQLModel, table=True):
    """A task during an incident, numbered 1, 2, … within it."""

    __tablename__ = "incident_tasks"
    __table_args__ = (UniqueConstraint("incident_id", "number", name="uq_task_number"),)

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id", index=True)
    number: int
    text: str = Field(sa_type=Text)
    owner_key: str | None = Field(default=None, max_length=100)
    owner_name: str | None = Field(default=None, max_length=200)
    created_by_name: str = Field(max_length=200)
    created_at: datetime = _when()
    done_at: datetime | None = _when(nullable=True)
    done_by_name: str | None = Field(default=None, max_length=200)


class Job(SQLModel, table=True):
    """An effect to run, now or later: post a card, set a topic, remind, page…

    The database is the source of truth and APScheduler only the clock: whoever flips
    ``status`` to ``running`` with a conditional UPDATE owns the row for its lease, so
    restarts and replicas never lose or double a job. ``(kind, subject, step)`` is unique,
    so the same job cannot be written twice. ``platform`` names the platform the job needs
    (only a process running it claims the row); ``state`` keeps the steps already done
    when a try fails part-way.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("kind", "subject", "step", name="uq_job_kind_subject_step"),
        Index("ix_jobs_status_due", "status", "due_at"),
        Index("ix_jobs_subject", "subject"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40)
    subject: str = Field(max_length=100, description="what it is about, e.g. 'incident:42'")
    step: int = 0
    platform: str | None = Field(default=None, max_length=20)
    due_at: datetime = _when()
    status: str = Field(default="pending", max_length=20)
    payload: str = Field(default="{}", sa_type=Text)
    state: str = Field(default="{}", sa_type=Text)
    lease_owner: str | None = Field(default=None, max_length=100)
    lease_expires_at: datetime | None = _when(nullable=True)
    attempts: int = 0
    last_error: str = Field(default="", sa_type=Text)
    created_at: datetime = _when()


class Page(SQLModel, table=True):
    """One page: a person paged on one platform at one level of one round, and what came
    of it (a delivery record). ``platform`` is None for someone Tocsin could not reach on
    any platform (``status`` says so)."""

    __tablename__ = "pages"
    __table_args__ = (
        UniqueConstraint(
            "incident_id", "cycle", "round", "level", "person_key", "platform", name="uq_page"
        ),
        Index("ix_pages_incident", "incident_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    incident_id: int = Field(foreign_key="incidents.id")
    cycle: int
    round: int
    level: int
    person_key: str = Field(max_length=100)
    person_name: str = Field(max_length=200)
    via: str = Field(default="", max_length=120, description="the target: schedule:x, person:y")
    platform: str | None = Field(default=None, max_length=20)
    status: str = Field(default="pending", max_length=20)
    error: str = Field(default="", sa_type=Text)
    channel_id: str | None = Field(default=None, max_length=100)
    message_id: str | None = Field(default=None, max_length=100)
    created_at: datetime = _when()
    sent_at: datetime | None = _when(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    acknowledged_at: datetime | None = _when(nullable=True)


class SeenRequest(SQLModel, table=True):
    """A platform request already taken (a Slack ``trigger_id``), kept a few minutes: the
    same request sent again (replayed, or retried by a proxy to another replica) finds its
    key here and is not run twice."""

    __tablename__ = "seen_requests"

    key: str = Field(primary_key=True, max_length=200)
    seen_at: datetime = _when(index=True)


ALL_TABLES = (
    Incident,
    ChannelBinding,
    TimelineEvent,
    RoleAssignment,
    Task,
    Job,
    SeenRequest,
    Page,
)
