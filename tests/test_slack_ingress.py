# ruff: noqa: F811  (the rig fixture, imported from test_slack, is every test's argument)
"""What reaches ``/slack/events`` from outside: refused, malformed, replayed, stale or
escaped requests, and events that arrive while the database is down. Real slack-bolt
behind real HTTP, against the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url
from sqlmodel import select

from bot.clock import ManualClock
from bot.seen import KEEP, Seen
from storage.models import SeenRequest
from tests.fakes.slack_api import TOKEN
from tests.test_capture import refuse_inserts
from tests.test_slack import (
    SECRET,
    Rig,
    mrkdwn,
    rig,  # noqa: F401  (the fixture)
    start_tocsin,
)

FORM = "application/x-www-form-urlencoded"


def sign_bytes(data: bytes, timestamp: str, secret: str = SECRET) -> str:
    base = b"v0:" + timestamp.encode() + b":" + data
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


async def send(
    rig: Rig,
    data: bytes,
    content_type: str = FORM,
    *,
    timestamp: str | None = None,
    secret: str = SECRET,
    signed: bool = True,
    headers: dict[str, str] | None = None,
    server: TestServer | None = None,
) -> tuple[int, str]:
    """POST raw bytes to /slack/events; (status, body). Waits for nothing after."""
    ts = timestamp if timestamp is not None else str(int(time.time()))
    sent = {"Content-Type": content_type, **(headers or {})}
    if signed:
        sent |= {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sign_bytes(data, ts, secret)}
    url = (server or rig.server).make_url("/slack/events")
    async with rig.http.post(url, data=data, headers=sent) as response:
        return response.status, await response.text()


def slash(rig: Rig, text: str, trigger_id: str, **extra: str) -> bytes:
    return urlencode(
        {
            "token": "x",
            "team_id": "T0001",
            "channel_id": "C0ANNOUNCE",
            "channel_name": "incidents",
            "user_id": "U1ALICE",
            "user_name": "alice",
            "command": "/incident",
            "text": text,
            "api_app_id": "A0001",
            "response_url": rig.fake.response_url(),
            "trigger_id": trigger_id,
            **extra,
        }
    ).encode()


def event_body(event: Any, event_id: str = "Ev1") -> bytes:
    return json.dumps(
        {
            "token": "x",
            "team_id": "T0001",
            "api_app_id": "A0001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    ).encode()


def interaction(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def lines_are_tame(caplog: pytest.LogCaptureFixture, limit: int = 300) -> None:
    """Every log line is one short line of printable text, without a traceback."""
    for record in caplog.records:
        message = record.getMessage()
        assert len(message) <= limit, message[:200]
        assert message.isprintable(), repr(message[:200])
        assert record.exc_info is None, message
    assert "Traceback" not in caplog.text


# 1. refusals are logged in one short line, never with the body


async def test_refusals_log_one_short_line_each_and_never_the_body(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    flood = b"text=" + b"A" * 1_000_000
    for _ in range(10):
        assert (await send(rig, flood, secret="wrong"))[0] == 401
    forged = b"text=x\n2026-12-02 00:00:00,000 ERROR tocsin: FORGED\x1b[31m\x07"
    assert (await send(rig, forged, secret="wrong"))[0] == 401
    assert (await send(rig, forged, signed=False))[0] == 401
    # A real command whose clock is ten minutes off: refused, without its secrets.
    skewed = slash(rig, "declare Late", "4242.1234.skewedtrigger")
    assert (await send(rig, skewed, timestamp=str(int(time.time()) - 600)))[0] == 401

    for secret_part in ("AAAA", "FORGED", "skewedtrigger", "/response/", "Late"):
        assert secret_part not in caplog.text
    assert len(caplog.text) < 13 * 400
    lines_are_tame(caplog)
    refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 13, refusals
    assert any("clock" in line for line in refusals), refusals
    assert await rig.core.service.incidents("all") == []


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "{now}"},
        {"X-Slack-Signature": "v0=" + "0" * 64, "X-Slack-Request-Timestamp": "{stale}"},
    ],
    ids=["neither", "no-timestamp", "no-signature", "stale"],
)
async def test_an_unsigned_request_is_refused_before_its_body_is_read(
    rig: Rig, headers: dict[str, str]
) -> None:
    """A request that says it carries a megabyte, and sends only its first kilobyte: an
    answer can come only from a server that does not wait for the rest."""
    now = int(time.time())
    lines = [
        "POST /slack/events HTTP/1.1",
        f"Host: 127.0.0.1:{rig.server.port}",
        "Content-Type: application/x-www-form-urlencoded",
        "Content-Length: 1000000",
        *(f"{k}: {v.format(now=now, stale=now - 600)}" for k, v in headers.items()),
    ]
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.server.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + b"text=" + b"A" * 1000)
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    assert status.startswith(b"HTTP/1.1 401 "), status


# 5. malformed requests: 401 unsigned, before any parsing; 400 signed; never a traceback

MALFORMED = {
    "payload-not-json": (b"payload={bad", FORM),
    "payload-cut-short": (b"payload=" + quote('{"type": "block_actions", ').encode(), FORM),
    "json-cut-short": (b'{"type": "event_callback", "event": ', "application/json"),
    "not-utf-8": (b"text=\xff\xfe\xfd&command=%2Fincident", FORM),
    "payload-a-list": (b"payload=" + quote("[1, 2]").encode(), FORM),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_unsigned_malformed_requests_are_refused_before_parsing(
    rig: Rig, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.INFO)
    data, content_type = MALFORMED[case]
    assert (await send(rig, data, content_type, secret="wrong"))[0] == 401
    assert (await send(rig, data, content_type, signed=False))[0] == 401
    lines_are_tame(caplog)


async def test_a_timestamp_that_is_not_a_number_is_refused(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    data = slash(rig, "declare Nope", "1.2.3")
    assert (await send(rig, data, timestamp="abc"))[0] == 401
    assert (await send(rig, data, timestamp="1e3"))[0] == 401
    assert (await send(rig, data, timestamp="99999999999999999999999"))[0] == 401
    lines_are_tame(caplog)
    assert await rig.core.service.incidents("all") == []


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_signed_requests_that_cannot_be_read_get_400(
    rig: Rig, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    caplog.set_level(logging.INFO)
    data, content_type = MALFORMED[case]
    status, body = await send(rig, data, content_type)
    assert status == 400, body
    assert "malformed" in body
    lines_are_tame(caplog)


def _click(user: Any, action: Any = None) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T0001"},
        "user": user,
        "channel": {"id": "C0ANNOUNCE", "name": "incidents"},
        "response_url": "http://127.0.0.1:9/r",
        "trigger_id": "77.88.click",
        "actions": [action or {"type": "button", "action_id": "tocsin:ack:1", "value": "1"}],
    }


def _message(**fields: Any) -> dict[str, Any]:
    return {"type": "message", "channel": "C0ANNOUNCE", "user": "U2BOB", "ts": "1.2", **fields}


SHAPES = {
    "user-a-string": interaction(_click("U1ALICE")),
    "user-id-a-number": interaction(_click({"id": 7})),
    "actions-not-a-list": interaction({**_click({"id": "U1ALICE"}), "actions": "tocsin:ack:1"}),
    "action-id-a-dict": interaction(_click({"id": "U1ALICE"}, {"action_id": {"x": 1}})),
    "view-state-a-list": interaction(
        {
            "type": "view_submission",
            "user": {"id": "U1ALICE"},
            "view": {
                "type": "modal",
                "callback_id": "tocsin:form:declare:0",
                "state": {"values": []},
            },
        }
    ),
    "actions-empty": interaction({**_click({"id": "U1ALICE"}), "actions": []}),
    "view-without-type": interaction(
        {
            "type": "view_submission",
            "user": {"id": "U1ALICE"},
            "view": {"callback_id": "tocsin:form:declare:0", "state": {"values": {}}},
        }
    ),
    "event-without-type": event_body({"channel": "C0ANNOUNCE", "user": "U2BOB"}),
    "text-a-dict": event_body(_message(text={"a": 1})),
    "ts-not-a-time": event_body(_message(text="hi", ts="abc")),
    "event-a-string": event_body("message"),
    "event-user-a-dict": event_body(_message(text="hi", user={"id": "U2BOB"})),
    "edit-message-a-list": event_body(_message(subtype="message_changed", message=["x"], ts="1.3")),
    "pin-item-a-string": event_body(
        {"type": "reaction_added", "user": "U2BOB", "reaction": "pushpin", "item": "C0ANNOUNCE"}
    ),
}


@pytest.mark.parametrize("case", sorted(SHAPES))
async def test_signed_payloads_of_the_wrong_shape_get_400_and_change_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    before = len((await rig.core.wiring.views.full(1)).events)
    calls = len(rig.fake.calls)
    caplog.set_level(logging.INFO)
    data = SHAPES[case].replace(b"C0ANNOUNCE", room.encode())
    content_type = "application/json" if data.startswith(b"{") else FORM
    status, body = await send(rig, data, content_type)
    await rig.settle()
    assert status == 400, body
    lines_are_tame(caplog)
    assert len((await rig.core.wiring.views.full(1)).events) == before
    assert rig.fake.calls[calls:] == []


async def test_a_command_that_says_payload_is_a_command(rig: Rig) -> None:
    """bolt reads any form with the word "payload" in it as an interaction, and so
    dropped this command; Tocsin reads the body itself."""
    assert await rig.command("declare payload service down") == 200
    assert [i.title for i in await rig.core.service.incidents("all")] == ["payload service down"]


async def test_a_form_whose_metadata_is_not_ours_is_still_taken(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.command("")
    view = {**rig.fake.views[-1], "private_metadata": "[1]"}
    caplog.set_level(logging.INFO)
    assert await rig.submit(view, {"title": "Login broken"}) == 200
    assert [i.title for i in await rig.core.service.incidents("all")] == ["Login broken"]
    lines_are_tame(caplog)


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [path] + [p for k, v in node.items() for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [path] + [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def _replaced(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = json.loads(json.dumps(node))
    inner = copy
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return copy


async def test_every_field_of_every_payload_given_the_wrong_type_is_400_or_taken(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Each field Slack sends, in turn, replaced by a value of another type: the answer is
    400 or the request is taken, and nothing is logged with a traceback."""
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    url = rig.fake.response_url("m")
    click = {
        **_click({"id": "U2BOB", "username": "bob"}),
        "channel": {"id": room, "name": "inc-1"},
        "container": {"type": "message", "channel_id": room},
        "response_url": url,
    }
    view = {
        "type": "view_submission",
        "team": {"id": "T0001"},
        "user": {"id": "U1ALICE", "username": "alice"},
        "view": {
            "id": "V1",
            "type": "modal",
            "callback_id": "tocsin:form:note:1",
            "private_metadata": json.dumps({"channel": room}),
            "state": {"values": {"text": {"value": {"type": "plain_text_input", "value": "n"}}}},
        },
    }
    message = _message(channel=room, text="hi", ts="1.5", event_ts="1.5")
    edit = _message(
        channel=room,
        subtype="message_changed",
        ts="1.7",
        message={"user": "U2BOB", "text": "hey", "ts": "1.5", "edited": {"ts": "1.7"}},
    )
    pin = {
        "type": "reaction_added",
        "user": "U3CAROL",
        "reaction": "pushpin",
        "item": {"type": "message", "channel": room, "ts": "1.5"},
        "event_ts": "1.8",
    }
    payloads: list[tuple[str, Any]] = [("form", click), ("form", view)]
    payloads += [("json", json.loads(event_body(e))) for e in (message, edit, pin)]
    caplog.set_level(logging.INFO)
    statuses = set()
    for kind, payload in payloads:
        for path in _leaves(payload)[1:]:
            for wrong in (None, 7, "x", [], {"x": 1}):
                changed = _replaced(payload, path, wrong)
                if kind == "form":
                    data, content_type = interaction(changed), FORM
                else:
                    data, content_type = json.dumps(changed).encode(), "application/json"
                status, body = await send(rig, data, content_type)
                # 404: a payload type no listener takes ("type": "x")
                assert status in (200, 400, 404), (path, wrong, status, body)
                statuses.add(status)
    await rig.settle()
    assert {200, 400} <= statuses
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [r.getMessage() for r in errors]
    assert "Traceback" not in caplog.text
    lines_are_tame(caplog)


# 4. a replayed command runs once


async def test_a_command_sent_again_with_the_same_trigger_runs_once(rig: Rig) -> None:
    data = slash(rig, "declare Replayed", "5151.6262.replayed")
    for _ in range(3):
        assert (await send(rig, data))[0] == 200
        await rig.settle()
    assert [i.title for i in await rig.core.service.incidents("all")] == ["Replayed"]
    assert sum("Declared" in text for text in rig.responses()) == 1
    # another trigger is another command
    assert (await send(rig, slash(rig, "declare Again", "5151.6262.other")))[0] == 200
    await rig.settle()
    assert len(await rig.core.service.incidents("all")) == 2


async def test_a_command_that_failed_runs_when_it_is_sent_again(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its trigger is taken back: a request that failed (Slack's API unreachable, a bug)
    was not carried out, so the copy sent again is run, not refused as a replay."""
    command = rig.adapter._dispatcher.command
    calls = 0

    async def unreachable_once(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise aiohttp.ClientConnectionError("Cannot connect to host slack.com:443")
        return await command(*args, **kwargs)

    monkeypatch.setattr(rig.adapter._dispatcher, "command", unreachable_once)
    data = slash(rig, "declare Failed once", "5151.6262.failed")
    assert (await send(rig, data))[0] == 500
    assert await rig.core.service.incidents("all") == []
    failed = [r for r in caplog.records if r.name == "adapters.slack.app" and "API" in r.message]
    assert [(r.levelname, r.exc_info) for r in failed] == [("WARNING", None)]  # one line
    assert (await send(rig, data))[0] == 200
    await rig.settle()
    assert [i.title for i in await rig.core.service.incidents("all")] == ["Failed once"]
    assert (await send(rig, data))[0] == 200  # and now it is taken: a replay is not run
    await rig.settle()
    assert len(await rig.core.service.incidents("all")) == 1


async def test_a_command_replayed_to_another_replica_runs_once(rig: Rig) -> None:
    data = slash(rig, "declare Replayed", "5151.6262.replica")
    assert (await send(rig, data))[0] == 200
    await rig.settle()
    core, adapter, web_app = await start_tocsin(rig.core.settings, rig.fake)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        assert (await send(rig, data, server=server))[0] == 200
        await adapter.drain()
        await core.settle()
    finally:
        await server.close()
        await core.aclose()
    assert len(await rig.core.service.incidents("all")) == 1


async def test_when_the_replay_check_fails_its_log_line_carries_no_sql_and_no_trigger(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """A SQLAlchemy error's text holds the statement and its parameters (here the
    trigger_id, which a replay could use): the log gets the database's reason only."""
    await refuse_inserts(rig.core.engine, "seen_requests", constraint=False)
    caplog.set_level(logging.INFO)
    assert (await send(rig, slash(rig, "declare Unchecked", "5151.6262.s3cr3ttr1gger")))[0] == 200
    await rig.settle()
    assert [i.title for i in await rig.core.service.incidents("all")] == ["Unchecked"]
    (line,) = [r for r in caplog.records if "seen before" in r.getMessage()]
    said = line.getMessage()
    assert "s3cr3ttr1gger" not in caplog.text and "slack:trigger" not in caplog.text
    assert "[SQL" not in said and "parameters" not in said and "\n" not in said, said
    assert said.endswith(("no such table: main.gone", "refused by a trigger")), said
    lines_are_tame(caplog)


async def test_a_form_submitted_again_with_the_same_trigger_runs_once(rig: Rig) -> None:
    await rig.command("")
    view = rig.fake.views[-1]
    payload = {
        "type": "view_submission",
        "team": {"id": "T0001"},
        "user": {"id": "U1ALICE", "username": "alice"},
        "trigger_id": "9191.9292.form",
        "view": {
            **view,
            "id": "V1",
            "state": {"values": {"title": {"value": {"type": "plain_text_input", "value": "X"}}}},
        },
    }
    for _ in range(2):
        assert (await send(rig, interaction(payload)))[0] == 200
        await rig.settle()
    assert len(await rig.core.service.incidents("all")) == 1


async def test_request_keys_are_forgotten_once_no_copy_could_be_accepted(
    rig: Rig, clock: ManualClock
) -> None:
    seen = Seen(rig.core.sessions, clock)
    assert await seen.first("a") and not await seen.first("a")
    clock.advance(KEEP - timedelta(seconds=1))
    assert not await seen.first("a")
    clock.advance(timedelta(seconds=2))
    assert await seen.first("b")  # and forgets "a", which no valid request can carry now
    async with rig.core.sessions() as session:
        keys = (await session.exec(select(SeenRequest.key))).all()
    assert sorted(keys) == ["b"]
    assert await seen.first("a")


# 3. Slack's entities: decoded on the way in, escaped on the way out


async def test_slacks_escapes_are_decoded_on_the_way_in_and_made_again_on_the_way_out(
    rig: Rig,
) -> None:
    await rig.command("declare p99 &gt; 2s &amp; rising")
    room = rig.room()
    assert room["name"] == "inc-1-p99-2s-rising"
    assert (await rig.core.wiring.views.full(1)).incident.title == "p99 > 2s & rising"
    (announcement,) = rig.fake.in_channel("C0ANNOUNCE")
    said = "\n".join([announcement.text, *mrkdwn(announcement.blocks), *rig.responses()])
    assert "p99 &gt; 2s &amp; rising" in said
    assert "&amp;gt;" not in said and "&amp;amp;" not in said
    (card,) = rig.fake.in_channel(room["id"])
    assert card.blocks[0]["text"]["text"] == "INC-1 · p99 > 2s & rising"

    # Typed entities stay what was typed; Slack's own markup (mentions, links) is untouched.
    await rig.command("note literally &amp;lt; and &lt;!channel&gt;", channel=room["id"])
    await rig.command("assign operations <@U2BOB|bob>", channel=room["id"])
    await rig.command(
        "note see <https://grafana.example/d?a=1&amp;b=2|the graph>", channel=room["id"]
    )
    await rig.event(
        {
            "type": "message",
            "channel": room["id"],
            "user": "U2BOB",
            "text": "a &lt; b &amp;&amp; c &gt; d",
            "ts": f"{time.time():.6f}",
        }
    )
    full = await rig.core.wiring.views.full(1)
    texts = [e.text for e in full.events]
    assert "literally &lt; and <!channel>" in texts
    assert "see <https://grafana.example/d?a=1&b=2|the graph>" in texts
    assert "a < b && c > d" in texts
    assert [r.role for r in full.roles] == ["commander", "operations"]
    everything = "\n".join(
        [m.text for m in rig.fake.messages] + mrkdwn([m.blocks for m in rig.fake.messages])
    )
    assert "<!channel>" not in everything + "\n".join(rig.responses())


# 2. an event that cannot be stored is answered 5xx, so Slack sends it again


def _move_away(path: Path) -> None:
    for here in path.parent.glob(path.name + "*"):
        here.rename(here.with_name(here.name + ".away"))
    path.mkdir()  # where the database was, a directory SQLite cannot open


def _move_back(path: Path) -> None:
    path.rmdir()
    for there in path.parent.glob(path.name + "*.away"):
        there.rename(there.with_name(there.name.removesuffix(".away")))


@asynccontextmanager
async def database_down(rig: Rig) -> AsyncIterator[None]:
    """The database stops answering (PostgreSQL refuses connections; SQLite's file is
    gone), then comes back."""
    engine = rig.core.engine
    url = make_url(str(engine.url))
    await engine.dispose()
    if url.get_backend_name() == "postgresql":
        import asyncpg

        admin = await asyncpg.connect(
            url.set(drivername="postgresql", database="postgres").render_as_string(False)
        )
        try:
            await admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false')
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                url.database,
            )
            yield
        finally:
            await admin.execute(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true')
            await admin.close()
    else:
        path = Path(str(url.database))
        _move_away(path)
        try:
            yield
        finally:
            _move_back(path)
    await engine.dispose()


async def test_an_event_that_cannot_be_stored_is_answered_5xx_and_stored_once_on_retry(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    data = event_body(
        {"type": "message", "channel": room, "user": "U2BOB", "text": "kept", "ts": "1.000100"},
        "EvDown",
    )
    caplog.set_level(logging.INFO)
    async with database_down(rig):
        status, _body = await send(rig, data, "application/json")
    assert status == 503
    stored = [r.getMessage() for r in caplog.records if r.name.startswith("adapters.slack")]
    assert any("Slack will send it again" in line for line in stored), stored
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
    for _ in range(2):
        status, _body = await send(rig, data, "application/json", headers=retry)
        assert status == 200
    events = (await rig.core.wiring.views.full(1)).events
    assert [e.text for e in events if e.kind == "message"] == ["kept"]


async def test_an_event_the_database_refuses_is_answered_200_and_holds_nothing_up(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Sent again, it would be refused again: not 503 (on SQLite, whose errors carry no
    SQLSTATE, as on PostgreSQL)."""
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    await refuse_inserts(rig.core.engine, "timeline_events")
    caplog.set_level(logging.INFO)
    for n, text in enumerate(["refused", "kept"]):
        data = event_body(
            {"type": "message", "channel": room, "user": "U2BOB", "text": text, "ts": f"1.{n}"},
            f"EvRefused{n}",
        )
        assert (await send(rig, data, "application/json"))[0] == 200, text
    events = (await rig.core.wiring.views.full(1)).events
    assert [e.text for e in events if e.kind == "message"] == ["kept"]
    (line,) = [r for r in caplog.records if "refused a message event" in r.getMessage()]
    assert line.getMessage().endswith("refused by a trigger"), line.getMessage()
    lines_are_tame(caplog)


@asynccontextmanager
async def incident_locked(rig: Rig) -> AsyncIterator[None]:
    """Another process holds what storing an event needs, until the block ends: on
    PostgreSQL the incident's row, on SQLite the write lock."""
    url = make_url(str(rig.core.engine.url))
    if url.get_backend_name() == "postgresql":
        import asyncpg

        other = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))
        try:
            async with other.transaction():
                await other.execute("SELECT id FROM incidents WHERE id = 1 FOR UPDATE")
                yield
        finally:
            await other.close()
    else:
        other = sqlite3.connect(str(url.database), isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            yield
        finally:
            other.close()


async def test_an_event_the_database_is_too_slow_for_is_answered_503_in_time(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """Slack waits 3 s: a store that takes longer is answered 503 before that (left to
    finish on its own), and the copy Slack sends again is recorded once."""
    await rig.command("declare Database is slow")
    room = rig.room()["id"]
    data = event_body(
        {"type": "message", "channel": room, "user": "U2BOB", "text": "slow", "ts": "1.5"},
        "EvSlow",
    )
    rig.adapter.store_within = 0.2
    caplog.set_level(logging.INFO)
    async with incident_locked(rig):
        status, _body = await asyncio.wait_for(send(rig, data, "application/json"), 10)
    assert status == 503
    assert any("within 0.2 s" in r.getMessage() for r in caplog.records)
    await rig.adapter.drain()
    retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    assert (await send(rig, data, "application/json", headers=retry))[0] == 200
    events = (await rig.core.wiring.views.full(1)).events
    assert [e.text for e in events if e.kind == "message"] == ["slow"]
    lines_are_tame(caplog)


# 8. an action or a form Tocsin does not know is answered


@pytest.mark.parametrize("action_id", ["legacy_ack_button", "tocsin:nope:999", "tocsin:ack"])
async def test_an_unknown_button_is_answered_that_it_is_no_longer_valid(
    rig: Rig, action_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert await rig.click(action_id) == 200
    (answer,) = rig.fake.responses
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert answer["text"] == rig.core.dispatcher.no_longer_valid("slack", "button").text
    assert answer["text"].startswith("⚠️ this button is no longer valid: ")
    lines_are_tame(caplog)


@pytest.mark.parametrize("callback_id", ["old_declare_form", "tocsin:form:nope:3"])
async def test_a_stale_form_is_answered_in_the_form(
    rig: Rig, callback_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    assert (
        await rig.interact(
            {
                "type": "view_submission",
                "user": {"id": "U1ALICE", "username": "alice"},
                "view": {
                    "id": "V9",
                    "type": "modal",
                    "callback_id": callback_id,
                    "state": {"values": {}},
                },
            }
        )
        == 200
    )
    (ack,) = rig.acks
    assert ack["response_action"] == "update"
    (shown,) = ack["view"]["blocks"]
    assert shown["text"]["text"] == rig.core.dispatcher.no_longer_valid("slack", "form").text
    assert shown["text"]["text"].startswith("⚠️ this form is no longer valid: ")
    assert await rig.core.service.incidents("all") == []
    lines_are_tame(caplog)


# 17. no warning a user cannot act on


async def test_starting_with_slack_tokens_in_the_environment_warns_of_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    caplog.set_level(logging.INFO)
    core, _adapter, _web_app = await start_tocsin(rig.core.settings, rig.fake)
    await core.aclose()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
