"""Errors raised by the storage layer; each message is meant to be shown as it is."""

from __future__ import annotations


class StorageError(Exception):
    """Base of storage errors."""


class DatabaseUnreachable(StorageError):
    """The database URL is wrong or the server does not answer."""


class SchemaTooNew(StorageError):
    """The database was migrated by a newer Tocsin than this one."""


class UnsupportedDatabase(StorageError):
    """The URL names a driver Tocsin does not support or that is not installed."""
