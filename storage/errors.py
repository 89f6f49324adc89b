"""Errors raised by the storage layer; each message is meant to be shown as it is."""

from __future__ import annotations

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
