"""seen_requests: platform requests already taken, so a replayed one runs once

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "seen_requests",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("seen_at", storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("seen_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seen_requests_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("seen_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seen_requests_seen_at"))
    op.drop_table("seen_requests")
