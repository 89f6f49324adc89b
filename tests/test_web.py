"""The operational endpoints, served by real aiohttp on SQLite and PostgreSQL: ``/healthz``
and ``/metrics`` while the database answers, is down, or has lost its schema."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot import __version__
from bot.app import Core, open_core
from bot.settings import Settings
from bot.web import make_runner, make_web_app
from storage.migrate import head_revision
from tests.conftest import POSTGRES_URL, _asyncpg_dsn
from tests.fakes.tcp_proxy import Proxy

PASSWORD = "hunter2-not-for-logs"


@dataclass
class Served:
    core: Core
    client: TestClient
    url: str

    @property
    def sqlite(self) -> bool:
        return make_url(self.url).get_backend_name() == "sqlite"

    @property
    def name(self) -> str:
        database = make_url(self.url).database
        assert database
        return database


@pytest.fixture
async def served(database_url: str) -> AsyncIterator[Served]:
    """Tocsin's web app on a migrated database; on PostgreSQL the URL carries a password
    (the test server trusts every connection, so it is never checked, only kept secret)."""
    url = database_url
    if make_url(url).get_backend_name() == "postgresql":
        url = make_url(url).set(password=PASSWORD).render_as_string(hide_password=False)
    threads = set(threading.enumerate())
    core = await open_core(Settings(database_url=url), {}, worker=False)
    client = TestClient(TestServer(make_web_app(core), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        yield Served(core, client, url)
    finally:
        await client.close()
        await core.aclose()
        await _sqlite_threads_end(threads)


async def _sqlite_threads_end(before: set[threading.Thread]) -> None:
    """aiosqlite stops the thread of a connection that failed to open without waiting for
    it: wait for it here, before this test's event loop closes under its last callback."""
    for thread in set(threading.enumerate()) - before:
        if "_connection_worker_thread" in thread.name:
            await asyncio.to_thread(thread.join, 30)


async def _admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _remove_sqlite_files(name: str, *, then_directory: bool) -> None:
    path = Path(name)
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        each.unlink(missing_ok=True)
    if then_directory:
        path.mkdir()


async def take_down(served: Served) -> None:
    """The database goes away: PostgreSQL's is dropped under the open connections; SQLite's
    file is replaced by a directory of that name, which SQLite cannot open."""
    if served.sqlite:
        await served.core.engine.dispose()  # the pooled connection keeps the old file open
        _remove_sqlite_files(served.name, then_directory=True)
    else:
        await _admin(f'DROP DATABASE "{served.name}" WITH (FORCE)')


async def empty(served: Served) -> None:
    """The database is dropped and created again, empty (no tables, no schema revision)."""
    if served.sqlite:
        await served.core.engine.dispose()
        _remove_sqlite_files(served.name, then_directory=False)
    else:
        await _admin(f'DROP DATABASE "{served.name}" WITH (FORCE)')
        await _admin(f'CREATE DATABASE "{served.name}"')


async def set_revision(served: Served, revision: str) -> None:
    async with served.core.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def warnings_and_worse(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_healthz_when_all_is_well(served: Served) -> None:
    response = await served.client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok", "database": "ok", "version": __version__}


async def test_metrics_answer_while_the_database_is_down(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    response = await served.client.get("/metrics")
    assert response.status == 200
    up = await response.text()
    assert "tocsin_database_up 1\n" in up
    assert "tocsin_open_incidents 0\n" in up
    assert 'tocsin_jobs{status="pending"} 0\n' in up

    await take_down(served)
    caplog.clear()
    for _scrape in range(2):
        response = await served.client.get("/metrics")
        assert response.status == 200
        down = await response.text()
        assert "# TYPE tocsin_database_up gauge\ntocsin_database_up 0\n" in down
        assert f'tocsin_info{{version="{__version__}"}} 1\n' in down
        # What needs the database is left out, not reported as zero nor as a stale value.
        assert "tocsin_open_incidents" not in down
        assert "tocsin_incidents" not in down
        assert "tocsin_jobs" not in down
    said = warnings_and_worse(caplog)
    assert [r.levelno for r in said] == [logging.WARNING, logging.WARNING], said
    for record in said:
        message = record.getMessage()
        assert record.exc_info is None and "\n" not in message and len(message) < 400
        assert message.startswith("/metrics: ")
        assert "database metrics left out" in message
        assert PASSWORD not in message


async def test_healthz_while_the_database_is_down_tells_an_outsider_nothing(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await take_down(served)
    caplog.clear()
    response = await served.client.get("/healthz")
    assert response.status == 503
    body = await response.text()
    assert await response.json() == {"status": "unavailable", "database": "unavailable"}
    for secret in (PASSWORD, served.name, "postgres", "sqlite", "127.0.0.1", "5432"):
        assert secret not in body
    said = warnings_and_worse(caplog)
    assert len(said) == 1 and said[0].levelno == logging.WARNING and said[0].exc_info is None
    message = said[0].getMessage()
    # The details are the operator's, in the log; the password is nobody's.
    assert message.startswith("/healthz: cannot reach the database at ")
    assert served.name in message and "\n" not in message
    assert PASSWORD not in message
    if not served.sqlite:
        assert ":***@127.0.0.1:5432/" in message and "does not exist" in message


async def test_healthz_fails_for_a_database_emptied_under_it(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    await empty(served)
    caplog.clear()
    response = await served.client.get("/healthz")
    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "schema is not current"}
    said = warnings_and_worse(caplog)
    assert [r.getMessage() for r in said] == [
        f"/healthz: the database schema is at no revision (an empty database), this Tocsin "
        f"needs {head_revision()}; run: tocsin migrate"
    ]
    metrics = await (await served.client.get("/metrics")).text()
    assert "tocsin_database_up 0\n" in metrics


@pytest.mark.parametrize(
    ("revision", "said"),
    [
        ("0002", "the database schema is at 0002, this Tocsin needs {head}; run: tocsin migrate"),
        ("0999", "the database schema is at 0999, newer than this Tocsin's {head}"),
    ],
)
async def test_healthz_fails_for_a_schema_behind_or_ahead(
    served: Served, caplog: pytest.LogCaptureFixture, revision: str, said: str
) -> None:
    await set_revision(served, revision)
    caplog.clear()
    response = await served.client.get("/healthz")
    assert response.status == 503
    assert await response.json() == {"status": "unavailable", "database": "schema is not current"}
    messages = [r.getMessage() for r in warnings_and_worse(caplog)]
    assert messages == ["/healthz: " + said.format(head=head_revision())]
    await set_revision(served, head_revision())
    assert (await served.client.get("/healthz")).status == 200


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.postgres
async def test_a_database_that_stops_answering_is_unavailable_within_seconds(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = make_url(database_url)
    proxy = Proxy(target.host or "127.0.0.1", target.port or 5432)
    await proxy.start()
    url = target.set(host="127.0.0.1", port=proxy.port)
    core = await open_core(Settings(database_url=url.render_as_string(False)), {}, worker=False)
    client = TestClient(TestServer(make_web_app(core), host="127.0.0.1", port=0))
    await client.start_server()
    try:
        assert (await client.get("/healthz")).status == 200
        proxy.silence()
        caplog.clear()
        # Well within a probe's or a scrape's own timeout, the answer says the database is
        # unavailable, instead of waiting on the silent connection for ever.
        patience = aiohttp.ClientTimeout(total=30)
        response = await client.get("/healthz", timeout=patience)
        assert response.status == 503
        assert await response.json() == {"status": "unavailable", "database": "unavailable"}
        response = await client.get("/metrics", timeout=patience)
        assert "tocsin_database_up 0\n" in await response.text()
        assert [r.getMessage() for r in warnings_and_worse(caplog)] == [
            f"/healthz: the database at {url!r} did not answer within 5 s",
            f"/metrics: the database at {url!r} did not answer within 5 s; "
            "database metrics left out",
        ]
    finally:
        await client.close()
        await proxy.cut()
        await core.aclose()


async def test_a_malformed_request_is_one_warning_line_not_a_traceback(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone on the port can send bytes aiohttp cannot parse: one short, escaped line."""
    core = await open_core(Settings(database_url=sqlite_url), {}, worker=False)
    runner = make_runner(make_web_app(core))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    forged = b"\n2026-12-02 00:00:00,000 ERROR tocsin: forged" + b"\x1b" * 4000
    try:
        caplog.set_level(logging.DEBUG)
        for raw in (
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\x1bb" + forged + b"\r\n\r\n",
            b"GET /\x00" + forged + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(raw)
            await writer.drain()
            status = await reader.readline()
            writer.close()
            await writer.wait_closed()
            assert status.split()[1:2] == [b"400"], status
    finally:
        await runner.cleanup()
        await core.aclose()
    said = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert len(said) == 2, [r.getMessage() for r in said]
    for record in said:
        line = record.getMessage()
        assert record.levelno == logging.WARNING and record.exc_info is None
        assert line.startswith("refused a malformed HTTP request from 127.0.0.1: ")
        assert line.isprintable() and len(line) < 250, line
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
