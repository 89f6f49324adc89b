"""The async engine and session factory for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.drivers import SUPPORTED_DRIVERS, unsupported
from storage.errors import DatabaseUnreachable, UnsupportedDatabase
from storage.turns import Turn, WriteTurns, writing


class Session(AsyncSession):
    """An async session whose ``begin()`` first waits for a write turn when its engine has
    them (SQLite: see :mod:`storage.turns`)."""

    def begin(self) -> Any:
        turns = self.info.get("turns")
        if isinstance(turns, WriteTurns):
            return Turn(turns, super().begin)
        return super().begin()


SessionFactory = async_sessionmaker[Session]

DATABASE_WAIT = 5.0
"""Seconds a look at the database (a probe, a scrape, ``check-config``) waits for an answer
before saying it did not answer: one that stopped answering would hold it until TCP gives
up."""


def no_answer(url: str) -> str:
    """What is said when the database at ``url`` did not answer within DATABASE_WAIT."""
    return f"the database at {safe_url(url)} did not answer within {DATABASE_WAIT:g} s"


def safe_url(url: str) -> str:
    """The URL with any password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names; None for another database or one kept in memory."""
    parsed = make_url(url)
    name = parsed.database or ""
    if not parsed.drivername.startswith("sqlite") or name in ("", ":memory:"):
        return None
    if parsed.query.get("mode") == "memory":
        return None
    if not parsed.query.get("uri"):
        return Path(name)
    # A URI filename (https://sqlite.org/uri.html): file:path or file://[localhost]/path,
    # with %HH escapes.
    name = name.removeprefix("file:")
    if name.startswith("//"):
        name = name[2:].removeprefix("localhost")
    name = unquote(name)
    return None if name in ("", ":memory:") else Path(name)


def create_engine(url: str, *, read_only: bool = False) -> AsyncEngine:
    """An async engine for ``url``; SQLite gets WAL, a busy timeout and foreign keys.

    ``read_only`` (``tocsin check-config``): a SQLite file is opened read-only
    (:func:`_read_only`), keeps its journal mode and gets no file beside it. (Reading
    changes nothing on PostgreSQL.)"""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # never echoed: it may carry a password
        raise UnsupportedDatabase("TOCSIN_DATABASE_URL is not a database URL") from exc
    if parsed.drivername not in SUPPORTED_DRIVERS:
        raise UnsupportedDatabase(unsupported(repr(parsed.drivername)))
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.drivername.startswith("sqlite"):
        kwargs = {"connect_args": {"timeout": 30}}
    try:
        engine = create_async_engine(parsed, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise UnsupportedDatabase(
            f"the driver for {parsed.drivername} is not installed; "
            "for PostgreSQL install the extra: pip install 'tocsin[postgres]'"
        ) from exc
    if parsed.drivername.startswith("sqlite"):
        path = sqlite_file(url)
        if read_only and path is not None:
            event.listen(engine.sync_engine, "do_connect", partial(_read_only, path))
        else:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def _read_only(path: Path, _dialect: Any, _record: Any, cargs: list[Any], cparams: Any) -> None:
    """Open the SQLite file ``path`` read-only, so that nothing changes and no file appears.

    A database in WAL mode that no connection has open (no ``-wal`` file beside it: the
    last to close removes it) holds everything in its file, which is then read as
    immutable: a read-only connection would otherwise create ``-wal`` and ``-shm`` files
    and, unable to delete them, leave them behind. One in use is read through the files
    its users keep; one in rollback-journal mode needs none."""
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    if _in_wal_mode(path) and not Path(f"{path}-wal").exists():
        uri += "&immutable=1"
    cargs[:] = [uri]
    cparams["uri"] = True


def _in_wal_mode(path: Path) -> bool:
    """Whether the SQLite file says it is in WAL mode (its header's read and write format
    versions are 2, not 1)."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    return header[18:20] == b"\x02\x02"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL survives a killed process (only a power cut can lose the last
    # commits), and spares an fsync per commit: a change is two short transactions.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    """Begin SQLite's transactions here: the driver would begin one only at its first
    write, so what it read first could change under it. A write transaction (a session's
    ``begin()``, in its write turn) takes SQLite's write lock at once, waiting for another
    process's to end, so that nothing it reads changes before it commits: two processes
    never give out the same task number, nor bump an incident's version from the same
    value. Reads begin deferred."""
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writing.get() else "BEGIN")


def session_factory(engine: AsyncEngine) -> SessionFactory:
    """Sessions that keep loaded objects usable after commit (no lazy loads under asyncio);
    on SQLite, their write transactions take turns (:mod:`storage.turns`)."""
    info: dict[str, Any] = {}
    if engine.dialect.name == "sqlite":
        info["turns"] = WriteTurns()
    return async_sessionmaker(engine, class_=Session, expire_on_commit=False, info=info)


async def ping(engine: AsyncEngine) -> None:
    """Run ``SELECT 1``; raise :class:`DatabaseUnreachable` with a plain reason if it fails."""
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (OSError, DBAPIError, TimeoutError) as exc:
        raise DatabaseUnreachable(
            f"cannot reach the database at {safe_url(str(engine.url))}: {reason(exc)}"
        ) from exc


def reason(exc: BaseException) -> str:
    """The first line of the innermost error: what a person needs, without a traceback."""
    inner: BaseException = exc
    while isinstance(inner, DBAPIError) and inner.orig is not None:
        inner = inner.orig
    while inner.__cause__ is not None and not str(inner):
        inner = inner.__cause__
    if isinstance(inner, OSError) and inner.errno:  # "connection refused", not "[Errno 111] …"
        said = os.strerror(inner.errno)
        return said[:1].lower() + said[1:]
    message = str(inner).strip().splitlines()[0] if str(inner).strip() else type(inner).__name__
    return message
