"""Shared fixtures: a database on SQLite and on PostgreSQL, and a core wired to a recording
platform with a manual clock."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.app import Core, open_core
from bot.clock import ManualClock
from bot.inbound import Action, Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from bot.ui import Reply
from storage.engine import create_engine
from storage.migrate import upgrade

POSTGRES_URL = os.environ.get(
    "TOCSIN_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@cache
def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it answers."""

    async def probe() -> None:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except ImportError:
        return "asyncpg is not installed (pip install 'tocsin[postgres]')"
    except (OSError, TimeoutError, Exception) as exc:
        return f"no PostgreSQL answers at {POSTGRES_URL}: {exc}"
    return None


def _admin(sql: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _postgres_database(name: str, template: str | None = None) -> str:
    problem = postgres_problem()
    if problem and os.environ.get("TOCSIN_REQUIRE_POSTGRES"):
        pytest.fail(f"TOCSIN_REQUIRE_POSTGRES is set but {problem}")
    if problem:
        pytest.skip(problem)
    _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


def _drop(name: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database for one test: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'tocsin.db'}"
        return
    name = f"tocsin_t_{uuid.uuid4().hex[:12]}"
    try:
        yield _postgres_database(name)
    finally:
        _drop(name)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "tocsin.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def _migrated_postgres() -> Iterator[str]:
    name = f"tocsin_tpl_{uuid.uuid4().hex[:12]}"
    url = _postgres_database(name)
    try:
        asyncio.run(_migrate(url))
        yield name
    finally:
        _drop(name)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path, _migrated_sqlite: Path) -> str:
    """A SQLite database at the current schema, for tests where the backend makes no
    difference (a real process talking to a platform's fake): the backends are compared
    everywhere else."""
    path = tmp_path / "tocsin.db"
    shutil.copyfile(_migrated_sqlite, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the current schema: a copy of one migrated once per session."""
    if request.param == "sqlite":
        path = tmp_path / "tocsin.db"
        shutil.copyfile(request.getfixturevalue("_migrated_sqlite"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("_migrated_postgres")
    name = f"tocsin_t_{uuid.uuid4().hex[:12]}"
    try:
        yield _postgres_database(name, template)
    finally:
        _drop(name)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def platform(clock: ManualClock) -> RecordingPlatform:
    return RecordingPlatform(clock=clock)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
async def core(
    settings: Settings, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Core]:
    core = await open_core(settings, {platform.name: platform}, clock=clock)
    try:
        yield core
    finally:
        await core.aclose()


class Chat:
    """Drives the core the way an adapter would: as people typing in channels."""

    def __init__(self, core: Core, platform: RecordingPlatform, clock: ManualClock) -> None:
        self.core, self.platform, self.clock = core, platform, clock
        self.lobby = ChannelRef("incidents", "incidents")

    async def run(
        self,
        text: str,
        who: str = "alice",
        channel: ChannelRef | None = None,
        root: str = "incident",
    ) -> Reply:
        """``/<root> <text>`` typed by ``who``; returns once its effects have run."""
        self.clock.advance(timedelta(seconds=30))
        command = Command(
            self.platform.name,
            UserRef(who, who.title()),
            channel or self.lobby,
            text,
            root=root,
            reply_to=f"reply:{who}",
        )
        reply = await self.core.dispatcher.command(command)
        await self.core.settle()
        return reply

    async def click(
        self,
        name: str,
        incident: int | None,
        who: str = "alice",
        values: dict[str, str] | None = None,
        channel: ChannelRef | None = None,
    ) -> Reply:
        self.clock.advance(timedelta(seconds=30))
        action = Action(
            self.platform.name,
            UserRef(who, who.title()),
            channel or self.lobby,
            name,
            incident,
            values or {},
            reply_to=f"reply:{who}",
        )
        reply = await self.core.dispatcher.action(action)
        await self.core.settle()
        return reply

    def answers(self, who: str = "alice") -> list[str]:
        """What the worker answered ``who`` later (a declare's channel link)."""
        return [text for to, text, _public in self.platform.answers if to == f"reply:{who}"]

    def channel(self, number: int) -> ChannelRef:
        return next(
            c
            for c in self.platform.channels.values()
            if c.name.startswith(f"inc-{number}-") or c.name == f"inc-{number}"
        )


@asynccontextmanager
async def configured(
    config: str, database_url: str, tmp_path: Path, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[Chat]:
    """A core whose ``tocsin.toml`` is ``config``, driven as chat; closed after."""
    (tmp_path / "tocsin.toml").write_text(config)
    settings = Settings(database_url=database_url, config_path=tmp_path / "tocsin.toml")
    core = await open_core(settings, {platform.name: platform}, clock=clock)
    try:
        yield Chat(core, platform, clock)
    finally:
        await core.aclose()


@pytest.fixture
def chat(core: Core, platform: RecordingPlatform, clock: ManualClock) -> Chat:
    return Chat(core, platform, clock)
