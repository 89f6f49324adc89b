"""Channel capture onto the timeline: messages, edits, deletions, pins, arrivals."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.app import open_core
from bot.clock import ManualClock
from bot.inbound import ChannelEvent, ChannelEventKind
from bot.platform import UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage.engine import create_engine, sqlite_file
from storage.errors import DatabaseUnreachable, unavailable
from tests.conftest import Chat
from tests.fakes.tcp_proxy import Proxy


async def happened(
    chat: Chat,
    kind: ChannelEventKind,
    message_id: str,
    text: str = "",
    who: str = "bob",
    channel_id: str | None = None,
    after: int = 60,
) -> bool:
    event = ChannelEvent(
        chat.platform.name,
        channel_id or chat.channel(1).id,
        kind,
        message_id,
        UserRef(who, who.title()),
        chat.clock.now() + timedelta(seconds=after),
        text,
    )
    return await chat.core.dispatcher.channel_event(event)


async def test_messages_edits_deletions_pins_and_arrivals_reach_the_timeline(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    assert await happened(chat, "joined", "join-bob")
    assert await happened(chat, "message", "m1", "card processor returns 502", after=70)
    assert await happened(chat, "edit", "m1", "card processor returns 503", after=80)
    assert await happened(chat, "pin", "m1", after=90)
    assert await happened(chat, "message", "m2", "my password is hunter2", who="carol", after=95)
    assert await happened(chat, "delete", "m2", who="carol", after=99)

    timeline = (await chat.run("timeline", channel=chat.channel(1))).text
    assert "Bob joined the channel" in timeline
    assert "Bob said: card processor returns 502 *(edited)*" in timeline
    assert "Bob edited their message: card processor returns 503" in timeline
    assert "Bob pinned: card processor returns 502" in timeline
    assert "Carol *(deleted a message)*" in timeline
    assert "hunter2" not in timeline
    export = await chat.core.wiring.views.full(1)
    assert [e.at for e in export.events] == sorted(e.at for e in export.events)


async def test_an_event_delivered_twice_is_recorded_once(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    assert await happened(chat, "message", "m1", "hello")
    assert not await happened(chat, "message", "m1", "hello")
    assert await happened(chat, "edit", "m1", "hello!", after=61)
    assert not await happened(chat, "edit", "m1", "hello!", after=61)
    kinds = [e.kind for e in (await chat.core.wiring.views.full(1)).events]
    assert kinds.count("message") == 1 and kinds.count("edit") == 1


async def test_copies_of_an_event_arriving_together_are_recorded_once(chat: Chat) -> None:
    """Slack sends an event again when the first copy is not answered within 3 s: the two
    copies can be stored at the same moment, by one process or two replicas."""
    await chat.run("declare Payments failing")
    for kind, after in (("message", 60), ("edit", 61), ("pin", 62)):
        copies = [happened(chat, kind, "m1", "hello", after=after) for _ in range(6)]
        assert sorted(await asyncio.gather(*copies)) == [False] * 5 + [True], kind
    kinds = [e.kind for e in (await chat.core.wiring.views.full(1)).events]
    assert (kinds.count("message"), kinds.count("edit"), kinds.count("pin")) == (1, 1, 1)


async def test_chat_outside_incident_channels_and_unknown_messages_are_ignored(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    assert not await happened(chat, "message", "x1", "lunch?", channel_id="random")
    assert not await happened(chat, "edit", "never-seen", "edited")
    assert not await happened(chat, "delete", "never-seen")
    assert [e.kind for e in (await chat.core.wiring.views.full(1)).events] == [
        "declared",
        "channel",
    ]


async def test_user_text_in_captured_messages_cannot_ping_or_format(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    await happened(chat, "message", "m1", "@everyone **look** <!channel>")
    timeline = (await chat.run("timeline", channel=chat.channel(1))).text
    assert "@everyone" not in timeline
    assert r"\*\*look\*\* \<!channel\>" in timeline


async def test_an_event_the_database_refuses_is_not_held_and_holds_nothing_up(
    chat: Chat,
) -> None:
    """Only the database not answering holds events; one it refuses (here a key longer
    than its column, which PostgreSQL refuses) is logged and the next goes through."""
    await chat.run("declare Payments failing")
    held = chat.core.dispatcher.held_events
    refused = ChannelEvent(
        chat.platform.name,
        chat.channel(1).id,
        "message",
        "m1",
        UserRef("u" * 300, "Someone"),
        chat.clock.now(),
        "refused on PostgreSQL",
    )
    held.put(refused)
    await held.settled()
    assert held.held == 0
    assert await happened(chat, "message", "m2", "after it")
    held.put(
        ChannelEvent(
            chat.platform.name,
            chat.channel(1).id,
            "message",
            "m3",
            UserRef("bob", "Bob"),
            chat.clock.now(),
            "and this",
        )
    )
    await held.settled()
    assert held.held == 0 and held.dropped == 0
    texts = [e.text for e in (await chat.core.wiring.views.full(1)).events]
    assert "after it" in texts and "and this" in texts


def said(chat: Chat, message_id: str, text: str, who: str = "bob") -> ChannelEvent:
    return ChannelEvent(
        chat.platform.name,
        chat.channel(1).id,
        "message",
        message_id,
        UserRef(who, who.title()),
        chat.clock.now(),
        text,
    )


async def refuse_inserts(engine: AsyncEngine, table: str, *, constraint: bool = True) -> None:
    """A trigger that has the database refuse rows put into ``table``: those whose text is
    'refused' as a constraint violation (``constraint``), else every row, by another error
    (SQLite: a table the trigger writes to is gone; PostgreSQL: a raised exception)."""
    if engine.dialect.name == "sqlite":
        if constraint:
            sql = [
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} WHEN NEW.text = 'refused' "
                "BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END"
            ]
        else:
            sql = [
                "CREATE TABLE gone (x INTEGER)",
                f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
                "BEGIN INSERT INTO gone VALUES (1); END",
                "DROP TABLE gone",
            ]
    else:
        check = "NEW.text = 'refused'" if constraint else "TRUE"
        code = "check_violation" if constraint else "raise_exception"
        sql = [
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF {check} THEN RAISE EXCEPTION 'refused by a trigger' USING ERRCODE = '{code}'; "
            "END IF; RETURN NEW; END $$",
            f"CREATE TRIGGER refuse BEFORE INSERT ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse()",
        ]
    async with engine.begin() as conn:
        for statement in sql:
            await conn.exec_driver_sql(statement)


async def test_a_refused_event_is_skipped_on_sqlite_and_postgresql_alike(
    chat: Chat, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's errors carry no SQLSTATE: its constraint errors are refusals all the same."""
    await chat.run("declare Payments failing")
    await refuse_inserts(chat.core.engine, "timeline_events")
    held = chat.core.dispatcher.held_events
    for n, words in enumerate(["before", "refused", "after"]):
        held.put(said(chat, f"m{n}", words))
    await held.settled()
    assert held.held == 0 and held.dropped == 0
    texts = [e.text for e in (await chat.core.wiring.views.full(1)).events]
    assert "before" in texts and "after" in texts and "refused" not in texts
    (line,) = [r for r in caplog.records if "refused a message event" in r.getMessage()]
    assert "refused by a trigger" in line.getMessage() and line.exc_info is None
    assert "[SQL" not in caplog.text and "parameters" not in caplog.text


@asynccontextmanager
async def stalling(
    database_url: str, platform: RecordingPlatform, clock: ManualClock
) -> AsyncIterator[tuple[Chat, Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]]:
    """A core whose database can be made to hang and then answer again: PostgreSQL behind
    a proxy that takes connections and never answers; SQLite whose write lock another
    process holds."""
    url = make_url(database_url)
    proxy: Proxy | None = None
    locker: list[sqlite3.Connection] = []
    if url.get_backend_name() == "postgresql":
        proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
        await proxy.start()
        url = url.set(host="127.0.0.1", port=proxy.port)

    async def hang() -> None:
        if proxy is not None:
            await proxy.hang()
            return
        path = sqlite_file(database_url)
        assert path is not None
        locker.append(sqlite3.connect(path, isolation_level=None))
        locker[0].execute("BEGIN IMMEDIATE")

    async def answer() -> None:
        if proxy is not None:
            await proxy.restore()
        while locker:
            locker.pop().close()

    settings = Settings(database_url=url.render_as_string(hide_password=False))
    core = await open_core(settings, {platform.name: platform}, clock=clock)
    try:
        yield Chat(core, platform, clock), hang, answer
    finally:
        await answer()
        await core.aclose()
        if proxy is not None:
            await proxy.cut()


async def test_while_the_database_hangs_each_event_is_held_at_once_and_the_excess_dropped(
    database_url: str, platform: RecordingPlatform, clock: ManualClock
) -> None:
    """Handing an event in never waits for the database, however long it hangs (here it
    would be waited on for an hour): the first ``limit`` are held, the rest dropped."""
    async with stalling(database_url, platform, clock) as (chat, hang, answer):
        await chat.run("declare Payments failing")
        held = chat.core.dispatcher.held_events
        held.limit, held.wait = 5, 3600.0
        held.retry_after = held.retry_most = 0.05
        await hang()
        for n in range(5 + 3):
            held.put(said(chat, f"m{n}", f"said {n}"))
        assert (held.held, held.dropped) == (5, 3)
        await answer()
        deadline = asyncio.get_running_loop().time() + 60
        while held.held:
            assert asyncio.get_running_loop().time() < deadline, "never stored"
            await asyncio.sleep(0.02)
        events = (await chat.core.wiring.views.full(1)).events
        assert [e.text for e in events if e.kind == "message"] == [f"said {n}" for n in range(5)]


async def test_what_was_handed_in_is_stored_before_shutdown(chat: Chat) -> None:
    await chat.run("declare Payments failing")
    held = chat.core.dispatcher.held_events
    held.put(said(chat, "m1", "said just before the end"))
    await held.close()
    texts = [e.text for e in (await chat.core.wiring.views.full(1)).events]
    assert "said just before the end" in texts


async def _error_of(engine: AsyncEngine, sql: str) -> Exception:
    try:
        async with engine.begin() as conn:
            await conn.execute(text(sql))
    except Exception as exc:
        return exc
    raise AssertionError(f"{sql} did not fail")


async def test_refusals_and_outages_are_told_apart_on_sqlite_and_postgresql(
    chat: Chat, database_url: str
) -> None:
    """One classifier (storage.errors.unavailable) for capture, Slack and the seen check:
    the database refusing a statement is not the database being away."""
    engine = chat.core.engine
    await chat.run("declare Payments failing")
    await refuse_inserts(engine, "timeline_events")
    refused = {
        "constraint": "INSERT INTO incidents (id) VALUES (1)",
        "trigger": "INSERT INTO timeline_events (incident_id, kind, text) "
        "VALUES (1, 'x', 'refused')",
        "no such table": "SELECT * FROM no_such_table",
        "no such column": "SELECT no_such_column FROM incidents",
    }
    for what, sql in refused.items():
        exc = await _error_of(engine, sql)
        assert not unavailable(exc), (what, exc)

    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        # Nothing listens there: connection refused.
        gone = url.set(port=1)
    else:
        away = sqlite_file(database_url)
        assert away is not None
        gone = url.set(database=str(away.parent / "a-directory"))
        (away.parent / "a-directory").mkdir()
    elsewhere = create_engine(gone.render_as_string(hide_password=False))
    try:
        assert unavailable(await _error_of(elsewhere, "SELECT 1"))
    finally:
        await elsewhere.dispose()
    assert unavailable(TimeoutError()) and unavailable(DatabaseUnreachable("down"))
