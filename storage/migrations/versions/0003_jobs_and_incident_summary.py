"""jobs table, and what a card shows kept on the incident row

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

``scheduled_actions`` becomes ``jobs`` (with the platform a job needs and the steps a try
got through). Incidents keep a version that every change bumps, the platform their channel
is on, the latest status update and the number of open tasks, so that drawing a card never
reads the whole timeline.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COPIED = (
    "id, kind, subject, step, due_at, status, payload, lease_owner, lease_expires_at, "
    "attempts, last_error, created_at"
)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("lease_expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "step", name="uq_job_kind_subject_step"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_status_due", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_jobs_subject", ["subject"], unique=False)
    op.execute(f"INSERT INTO jobs ({_COPIED}) SELECT {_COPIED} FROM scheduled_actions")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('jobs', 'id'), "
            "COALESCE(MAX(id), 0) + 1, false) FROM jobs"
        )
    with op.batch_alter_table("scheduled_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_actions_status_due")
    op.drop_table("scheduled_actions")

    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True)
        )
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("last_update_at", storage.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("last_update_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True)
        )
        batch_op.add_column(
            sa.Column("last_update_text", sa.Text(), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("open_tasks", sa.Integer(), nullable=False, server_default="0")
        )
    latest = (
        "FROM timeline_events e WHERE e.incident_id = incidents.id "
        "AND e.kind IN ('status', 'update') ORDER BY e.at DESC, e.id DESC LIMIT 1"
    )
    op.execute(
        "UPDATE incidents SET "
        "platform = COALESCE((SELECT b.platform FROM channel_bindings b "
        "WHERE b.incident_id = incidents.id ORDER BY b.id LIMIT 1), declared_on), "
        "open_tasks = (SELECT COUNT(*) FROM incident_tasks t "
        "WHERE t.incident_id = incidents.id AND t.done_at IS NULL), "
        f"last_update_at = COALESCE((SELECT e.at {latest}), declared_at), "
        f"last_update_by = (SELECT e.actor_name {latest}), "
        "last_update_text = COALESCE((SELECT CASE WHEN e.text = '' THEN e.detail ELSE e.text END "
        f"{latest}), '')"
    )


def downgrade() -> None:
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        for column in (
            "open_tasks",
            "last_update_text",
            "last_update_by",
            "last_update_at",
            "version",
            "platform",
        ):
            batch_op.drop_column(column)
    op.create_table(
        "scheduled_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("due_at", storage.types.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("lease_owner", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("lease_expires_at", storage.types.UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", "step", name="uq_action_kind_subject_step"),
    )
    with op.batch_alter_table("scheduled_actions", schema=None) as batch_op:
        batch_op.create_index("ix_actions_status_due", ["status", "due_at"], unique=False)
    op.execute(f"INSERT INTO scheduled_actions ({_COPIED}) SELECT {_COPIED} FROM jobs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_subject")
        batch_op.drop_index("ix_jobs_status_due")
    op.drop_table("jobs")
