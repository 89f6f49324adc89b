"""Alembic migrations run from code: ``tocsin migrate``, and on start-up of ``run``/``shell``.

Alembic's own CLI works too for developers writing a new revision::

    TOCSIN_DATABASE_URL=sqlite+aiosqlite:///./dev.db \
        alembic -c storage/migrations/alembic.ini revision --autogenerate -m "what changed"
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import ping, safe_url
from storage.errors import SchemaTooNew

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
# Any fixed number: replicas starting together take turns migrating PostgreSQL.
_PG_LOCK_ID = 0x70C5111


@dataclass(frozen=True)
class SchemaState:
    """Where a database stands against the migrations this code ships."""

    current: tuple[str, ...]
    head: str
    unknown: tuple[str, ...]

    @property
    def up_to_date(self) -> bool:
        return self.current == (self.head,)

    @property
    def too_new(self) -> bool:
        return bool(self.unknown)


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def _revisions() -> tuple[str, frozenset[str]]:
    """(head, every known revision) of the migrations shipped with this code."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None, "the migrations folder has no revision"
    return head, frozenset(rev.revision for rev in script.walk_revisions())


def head_revision() -> str:
    """The newest schema revision this code ships."""
    return _revisions()[0]


def _state(connection: Connection) -> SchemaState:
    head, known = _revisions()
    current = tuple(MigrationContext.configure(connection).get_current_heads())
    unknown = tuple(r for r in current if r not in known)
    return SchemaState(current=current, head=head, unknown=unknown)


async def schema_state(engine: AsyncEngine) -> SchemaState:
    await ping(engine)
    async with engine.connect() as conn:
        return await conn.run_sync(_state)


def _refuse_if_too_new(state: SchemaState, engine: AsyncEngine) -> None:
    if state.too_new:
        raise SchemaTooNew(
            f"the database at {safe_url(str(engine.url))} is at schema revision "
            f"{', '.join(state.unknown)}, which this Tocsin does not know (it knows up to "
            f"{state.head}): it was migrated by a newer Tocsin. Upgrade Tocsin, or point "
            "TOCSIN_DATABASE_URL at another database."
        )


async def upgrade(engine: AsyncEngine) -> SchemaState:
    """Bring the database to the newest revision; refuse one newer than this code."""
    state = await schema_state(engine)
    _refuse_if_too_new(state, engine)
    if state.up_to_date:
        return state
    log.info(
        "migrating %s from %s to %s",
        safe_url(str(engine.url)),
        ", ".join(state.current) or "an empty database",
        state.head,
    )
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), "head"))
    return await schema_state(engine)


async def require_current(engine: AsyncEngine) -> SchemaState:
    """Fail unless the schema is exactly the one this code ships (no migration run)."""
    state = await schema_state(engine)
    _refuse_if_too_new(state, engine)
    return state
