"""Errors raised by the storage layer; each message is meant to be shown as it is."""

from __future__ import annotations

from sqlalchemy import exc as sa
from sqlalchemy.exc import SQLAlchemyError


class StorageError(Exception):
    """Base of storage errors."""


class DatabaseUnreachable(StorageError):
    """The database URL is wrong or the server does not answer."""


class SchemaTooNew(StorageError):
    """The database was migrated by a newer Tocsin than this one."""


class UnsupportedDatabase(StorageError):
    """The URL names a driver Tocsin does not support or that is not installed."""


UNAVAILABLE: tuple[type[Exception], ...] = (StorageError, SQLAlchemyError, OSError)
"""What a database call raises when the database fails at run time (not only at start):
the driver's connection errors, SQLAlchemy's wrappers of them, and ours."""


# SQLSTATE classes (PostgreSQL) that say the database is not doing its work right now,
# whatever was asked: connection exception, transaction rollback (a deadlock or a
# serialization failure: try again), insufficient resources, object not in prerequisite
# state (a database not accepting connections, a lock not available), operator
# intervention (shutting down, starting up, a cancelled query), system error. Every other
# class (22 data, 23 constraint, 42 syntax or a missing table, P0 raised by a trigger, XX
# internal…) is about what was asked, and would be refused again.
_PG_TRANSIENT = ("08", "40", "53", "55", "57", "58")

# SQLite's primary result codes that say the same: busy or locked (another writer), out
# of memory, read-only (permissions, a full or remounted disk), interrupted, an I/O error,
# disk full, the file cannot be opened (moved away, a directory in its place), a locking
# protocol error. SQLITE_ERROR (1: "no such table", a syntax error), SQLITE_CONSTRAINT,
# SQLITE_TOOBIG, SQLITE_MISMATCH and the rest are about what was asked.
_SQLITE_TRANSIENT = frozenset({5, 6, 7, 8, 9, 10, 13, 14, 15})


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database did not answer (no connection, a timeout, a server
    shutting down, a SQLite file locked or gone): the same request may succeed later, so a
    caller holds it, or asks its sender to send it again. ``False`` when the database
    answered and refused this request (a constraint, a value it cannot store, a missing
    table or column), or the error is not the database's at all: asked again, it would be
    refused again.

    A missing table counts as refused: it does not heal while Tocsin runs (migrations run
    at start), so holding a request for it would only hold up every one after it.
    """
    if isinstance(exc, StorageError):
        return isinstance(exc, DatabaseUnreachable)
    if isinstance(exc, TimeoutError | OSError | sa.TimeoutError | sa.DisconnectionError):
        return True  # TimeoutError: ours (asyncio.timeout) or the driver's; OSError: no route
    if not isinstance(exc, sa.DBAPIError):
        return False  # another SQLAlchemy error is a mistake in a query, not an outage
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str) and state:
        return state[:2] in _PG_TRANSIENT
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _SQLITE_TRANSIENT
    if isinstance(orig, TimeoutError | OSError):
        return True
    return isinstance(exc, sa.OperationalError | sa.InterfaceError)


def refused(exc: BaseException) -> bool:
    """Whether the database answered and refused what was asked (see :func:`unavailable`):
    asked again, it would be refused again. ``False`` for an error that is not the
    database's (a bug: worth a traceback)."""
    return isinstance(exc, sa.DBAPIError) and not unavailable(exc)
