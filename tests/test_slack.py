"""Slack end to end: real slack-bolt behind real HTTP, signed like Slack signs, against a
fake Slack Web API on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.slack.app import SlackAdapter
from adapters.slack.manifest import BOT_SCOPES, manifest
from adapters.slack.platform import SlackPlatform
from adapters.slack.plugin import SlackSettings, mount_slack
from adapters.slack.webapi import make_client
from bot.app import Core, open_core
from bot.commands import default_registry
from bot.errors import ConfigError, UserError
from bot.plugins import Host
from bot.settings import Settings
from bot.web import make_web_app
from tests.cli import spawn, tocsin_env
from tests.fakes.slack_api import APP_TOKEN, BOT_ID, BOT_USER, TOKEN, FakeSlack

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TRIGGERS = count(13345224609)
"""Slack gives every command and click its own trigger_id; one sent again is not run."""


def sign(body: str, timestamp: str, secret: str = SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def test_signing_matches_slacks_documented_example() -> None:
    body = (
        "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
        "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
        "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2F"
        "commands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id="
        "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    assert sign(body, "1531420618") == (
        "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    )


@dataclass
class Rig:
    fake: FakeSlack
    core: Core
    adapter: SlackAdapter
    server: TestServer
    http: aiohttp.ClientSession
    acks: list[dict[str, Any]] = field(default_factory=list)

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        timestamp: str | None = None,
        secret: str = SECRET,
        headers: dict[str, str] | None = None,
    ) -> int:
        ts = timestamp or str(int(time.time()))
        sent = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sign(body, ts, secret),
            **(headers or {}),
        }
        async with self.http.post(
            self.server.make_url("/slack/events"), data=body.encode(), headers=sent
        ) as response:
            status = response.status
            if response.content_type == "application/json":
                self.acks.append(await response.json())
        await self.settle()
        return status

    async def settle(self) -> None:
        """Wait for the answers after acks, and for the effects the requests caused."""
        await self.adapter.drain()
        await self.core.settle()
        await self.adapter.drain()

    async def command(
        self, text: str, user: str = "U1ALICE", channel: str = "C0ANNOUNCE", **extra: str
    ) -> int:
        body = urlencode(
            {
                "token": "x",
                "team_id": "T0001",
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": self.fake.channels[channel]["name"],
                "user_id": user,
                "user_name": self.fake.users[user],
                "command": "/incident",
                "text": text,
                "api_app_id": "A0001",
                "response_url": self.fake.response_url(),
                "trigger_id": f"{next(TRIGGERS)}.738474920.8088930838d88f008e0",
                **extra,
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded")

    async def interact(self, payload: dict[str, Any], **kwargs: Any) -> int:
        base = {
            "team": {"id": "T0001"},
            "api_app_id": "A0001",
            "token": "x",
            "trigger_id": f"{next(TRIGGERS)}.1.i",
            "response_url": self.fake.response_url("i1"),
        }
        body = urlencode({"payload": json.dumps({**base, **payload})})
        return await self.post(body, "application/x-www-form-urlencoded", **kwargs)

    async def click(
        self, action_id: str, user: str = "U1ALICE", channel: str = "C0ANNOUNCE"
    ) -> int:
        """A click on a button in ``channel``: a channel's, or a direct message's (``D…``),
        which Slack names ``directmessage``."""
        name = self.fake.channels[channel]["name"] if channel in self.fake.channels else None
        return await self.interact(
            {
                "type": "block_actions",
                "user": {"id": user, "username": self.fake.users[user], "team_id": "T0001"},
                "channel": {"id": channel, "name": name or "directmessage"},
                "container": {"type": "message", "channel_id": channel},
                "actions": [
                    {
                        "type": "button",
                        "action_id": action_id,
                        "block_id": "tocsin_actions",
                        "value": action_id.rsplit(":", 1)[-1],
                        "action_ts": "1.2",
                    }
                ],
            }
        )

    async def submit(
        self, view: dict[str, Any], values: dict[str, str], user: str = "U1ALICE"
    ) -> int:
        state = {}
        for block in view["blocks"]:
            name, element = block["block_id"], block["element"]
            if name not in values:
                continue
            if element["type"] == "static_select":
                state[name] = {
                    "value": {"type": "static_select", "selected_option": {"value": values[name]}}
                }
            else:
                state[name] = {"value": {"type": "plain_text_input", "value": values[name]}}
        return await self.interact(
            {
                "type": "view_submission",
                "user": {"id": user, "username": self.fake.users[user], "team_id": "T0001"},
                "view": {**view, "id": "V1", "state": {"values": state}},
            }
        )

    async def event(
        self, event: dict[str, Any], event_id: str = "Ev1", headers: dict[str, str] | None = None
    ) -> int:
        body = json.dumps(
            {
                "token": "x",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(time.time()),
                "event": event,
            }
        )
        return await self.post(body, "application/json", headers=headers)

    def responses(self) -> list[str]:
        """Everything the person was answered: in acks, and through response_url."""
        said = [a.get("text", "") for a in self.acks if a.get("text")]
        return said + [r.get("text", "") for r in self.fake.responses]

    def room(self, number: int = 1) -> dict[str, Any]:
        return next(
            c for c in self.fake.channels.values() if c["name"].startswith(f"inc-{number}-")
        )


def slack_settings(database_url: str, fake: FakeSlack, **env: str) -> Settings:
    values = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.url}
    return Settings(database_url=database_url, env={**values, **env})


async def start_tocsin(
    settings: Settings, fake: FakeSlack, **worker: Any
) -> tuple[Core, SlackAdapter, web.Application]:
    """Tocsin's core and Slack adapter on ``settings``, talking to ``fake``."""
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0)
    core = await open_core(settings, {platform.name: platform}, **worker)
    web_app = make_web_app(core)
    slack = SlackSettings.from_env(settings.env)
    assert slack is not None
    mounted = mount_slack(Host(core, web_app, settings), slack, platform)
    return core, mounted.adapter, web_app


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    fake = FakeSlack(scopes=BOT_SCOPES)  # only what the manifest asks for
    await fake.start()
    settings = slack_settings(database_url, fake)
    core, adapter, web_app = await start_tocsin(settings, fake)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        yield Rig(fake, core, adapter, server, http)
    finally:
        await http.close()
        await server.close()
        await core.aclose()
        await fake.close()


async def test_declare_by_command_creates_the_whole_incident(rig: Rig) -> None:
    assert await rig.command("declare Database is down --sev 1") == 200
    room = rig.room()
    assert room["name"] == "inc-1-database-is-down"
    assert room["topic"].startswith("INC-1 · SEV1 critical · triggered · commander: alice")
    assert "U1ALICE" in rig.fake.members[room["id"]]
    (card,) = rig.fake.in_channel(room["id"])
    assert card.ts in rig.fake.pins[room["id"]]
    assert (
        card.blocks[0] == {"type": "header", "emoji": True, "text": "INC-1 · Database is down"}
        or card.blocks[0]["text"]["text"] == "INC-1 · Database is down"
    )
    actions = next(b for b in card.blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "tocsin:ack:1",
        "tocsin:status:1",
        "tocsin:resolve:1",
    ]
    (announcement,) = rig.fake.in_channel("C0ANNOUNCE")
    assert f"<#{room['id']}>" in announcement.text and "<@U1ALICE>" in announcement.text
    assert any(f"<#{room['id']}>" in text for text in rig.responses())


async def test_the_card_is_updated_in_place_by_buttons(rig: Rig) -> None:
    await rig.command("declare Database is down")
    room = rig.room()
    assert await rig.click("tocsin:ack:1", user="U2BOB", channel=room["id"]) == 200
    (card,) = rig.fake.in_channel(room["id"])
    assert card.updates == 1
    assert "<@U2BOB>" in json.dumps(card.blocks)
    await rig.click("tocsin:status:1", channel=room["id"])
    view = rig.fake.views[-1]
    assert view["callback_id"] == "tocsin:form:status:1"
    await rig.submit(view, {"status": "monitoring", "message": "replica promoted"})
    await rig.click("tocsin:resolve:1", channel=room["id"])
    await rig.submit(rig.fake.views[-1], {"summary": "failed over"})
    await rig.click("tocsin:close:1", channel=room["id"])
    cards = [m for m in rig.fake.in_channel(room["id"]) if m.blocks]
    assert len(cards) == 1 and cards[0].updates == 4
    assert not any(b["type"] == "actions" for b in cards[0].blocks)
    assert (await rig.core.wiring.views.full(1)).incident.status == "closed"
    assert any("replica promoted" in m.text for m in rig.fake.in_channel("C0ANNOUNCE"))


async def test_bare_command_opens_the_declare_modal(rig: Rig) -> None:
    await rig.command("")
    view = rig.fake.views[-1]
    assert view["callback_id"] == "tocsin:form:declare:0"
    assert [b["block_id"] for b in view["blocks"]] == [
        "title",
        "severity",
        "service",
        "description",
    ]
    await rig.submit(view, {"title": "Login broken", "severity": "2"})
    assert rig.room()["name"] == "inc-1-login-broken"
    (told,) = rig.fake.ephemeral
    assert told["user"] == "U1ALICE" and "Declared" in told["text"]


async def test_a_refused_action_is_answered_only_to_the_clicker(rig: Rig) -> None:
    await rig.command("declare Database is down")
    room = rig.room()
    await rig.command("resolve failed over", channel=room["id"])
    await rig.click("tocsin:resolve:1", user="U2BOB", channel=room["id"])  # an old card
    last = rig.fake.responses[-1]
    assert last["response_type"] == "ephemeral" and last["replace_original"] is False
    assert "INC-1 is resolved now: the Resolve button no longer applies." in last["text"]
    assert len(rig.fake.views) == 0, "no form for what cannot be done"


async def test_resolve_asks_reopen_announces_and_assign_invites_on_slack(rig: Rig) -> None:
    await rig.command("declare Database is down --sev 2")
    room = rig.room()
    await rig.click("tocsin:resolve:1", channel=room["id"])
    view = rig.fake.views[-1]
    assert view["callback_id"] == "tocsin:form:resolve:1"
    assert view["title"]["text"] == "Resolve INC-1" and view["submit"]["text"] == "Resolve"
    (summary,) = view["blocks"]
    assert summary["block_id"] == "summary" and summary["optional"] is False
    assert (await rig.core.wiring.views.full(1)).incident.status == "triggered", "asked first"
    await rig.submit(view, {"summary": "failed over to the replica"})
    incident = (await rig.core.wiring.views.full(1)).incident
    assert (incident.status, incident.summary) == ("resolved", "failed over to the replica")

    await rig.command("reopen replica lag is back", channel=room["id"])
    assert (await rig.core.wiring.views.full(1)).incident.status == "investigating"
    announced = [m.text for m in rig.fake.in_channel("C0ANNOUNCE")]
    assert any("reopened: back to investigating" in t and "lag is back" in t for t in announced)
    (card,) = [m for m in rig.fake.in_channel(room["id"]) if m.blocks]
    actions = next(b for b in card.blocks if b["type"] == "actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "tocsin:status:1",
        "tocsin:resolve:1",
    ]

    await rig.command("sev 1 customer impact widened", channel=room["id"])
    raised = [m.text for m in rig.fake.in_channel("C0ANNOUNCE") if "raised to SEV1" in m.text]
    assert len(raised) == 1 and "customer impact widened" in raised[0]
    assert f"<#{room['id']}>" in raised[0] and "(was SEV2 major)" in raised[0]

    assert "U2BOB" not in rig.fake.members[room["id"]]
    await rig.command("assign communications <@U2BOB>", channel=room["id"])
    assert "U2BOB" in rig.fake.members[room["id"]]
    assert "is now the communications lead of INC-1" in rig.acks[-1]["text"]
    await rig.command("assign operations <@U2BOB>", channel=room["id"])  # there already
    events = (await rig.core.wiring.views.full(1)).events
    assert [e.kind for e in events].count("role") == 2
    assert "failed" not in [e.kind for e in events], "already in the channel is fine"


async def test_a_taken_name_gets_the_next_free_one(rig: Rig) -> None:
    taken = rig.fake.channel("inc-1-database-is-down")
    await rig.command("declare Database is down")
    assert "conversations.create" in rig.fake.calls
    assert not rig.fake.in_channel(taken)
    assert rig.fake.in_channel(rig.fake.channel_named("inc-1-database-is-down-2")["id"])


async def test_a_title_in_another_script_gets_a_readable_channel_name(rig: Rig) -> None:
    assert await rig.command("declare База данных недоступна") == 200
    assert rig.room()["name"] == "inc-1-baza-dannykh-nedostupna"
    assert await rig.command("declare データベースが落ちた") == 200
    assert rig.room(2)["name"] == "inc-2-detabesugaluochita"


def mrkdwn(node: Any) -> list[str]:
    """Every text Slack parses for mentions: mrkdwn objects (plain_text never pings)."""
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            return [node["text"]]
        return [t for value in node.values() for t in mrkdwn(value)]
    if isinstance(node, list):
        return [t for value in node for t in mrkdwn(value)]
    return []


async def test_mass_mentions_in_user_text_never_ping(rig: Rig) -> None:
    await rig.command("declare <!channel> and <!here> @everyone down")
    parsed = [m.text for m in rig.fake.messages] + mrkdwn([m.blocks for m in rig.fake.messages])
    parsed += [*rig.responses(), rig.room()["topic"]]
    everything = "\n".join(parsed)
    assert "<!channel>" not in everything and "<!here>" not in everything
    assert "&lt;!channel&gt;" in everything


async def test_channel_messages_edits_deletions_and_pins_reach_the_timeline(rig: Rig) -> None:
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    ts = f"{time.time():.6f}"
    assert (
        await rig.event(
            {
                "type": "message",
                "channel": room,
                "user": "U2BOB",
                "text": "replication lag 40s",
                "ts": ts,
            },
            "Ev1",
        )
        == 200
    )
    await rig.event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": room,
            "ts": f"{time.time():.6f}",
            "message": {
                "user": "U2BOB",
                "text": "replication lag 45s",
                "ts": ts,
                "edited": {"user": "U2BOB", "ts": f"{time.time():.6f}"},
            },
        },
        "Ev2",
    )
    await rig.event(
        {
            "type": "reaction_added",
            "user": "U3CAROL",
            "reaction": "pushpin",
            "item": {"type": "message", "channel": room, "ts": ts},
            "event_ts": f"{time.time():.6f}",
        },
        "Ev3",
    )
    await rig.event(
        {
            "type": "message",
            "channel": room,
            "user": "U3CAROL",
            "text": "secret",
            "ts": "1700000000.000100",
        },
        "Ev4",
    )
    await rig.event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": room,
            "deleted_ts": "1700000000.000100",
            "ts": f"{time.time():.6f}",
            "previous_message": {"user": "U3CAROL", "text": "secret"},
        },
        "Ev5",
    )
    await rig.event(
        {
            "type": "message",
            "channel": room,
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "text": "the bot's own",
            "ts": f"{time.time():.6f}",
        },
        "Ev6",
    )
    await rig.event(
        {
            "type": "member_joined_channel",
            "channel": room,
            "user": "U3CAROL",
            "event_ts": f"{time.time():.6f}",
        },
        "Ev7",
    )
    events = (await rig.core.wiring.views.full(1)).events
    texts = {(e.kind, e.actor_name, e.text) for e in events}
    assert ("message", "bob", "replication lag 40s") in texts
    assert ("edit", "bob", "replication lag 45s") in texts
    assert ("pin", "carol", "replication lag 40s") in texts
    assert ("joined", "carol", "") in texts
    assert not any("secret" in e.text or "bot's own" in e.text for e in events)
    assert any(e.kind == "message" and e.deleted_at for e in events)


async def test_a_retried_event_is_processed_once(rig: Rig) -> None:
    await rig.command("declare Database is down")
    event = {
        "type": "message",
        "channel": rig.room()["id"],
        "user": "U2BOB",
        "text": "once",
        "ts": f"{time.time():.6f}",
    }
    await rig.event(event, "EvSame")
    await rig.event(
        event, "EvSame", headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    events = (await rig.core.wiring.views.full(1)).events
    assert [e.text for e in events if e.kind == "message"] == ["once"]


async def test_export_uploads_the_file_to_the_channel(rig: Rig) -> None:
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    await rig.command("export md", channel=room)
    (upload,) = rig.fake.files
    assert upload["filename"] == "inc-1-timeline.md" and upload["channel"] == room
    assert upload["content"].decode().startswith("# INC-1: Database is down")


@pytest.mark.parametrize("tamper", ["signature", "stale"])
async def test_unsigned_or_stale_requests_are_refused_and_change_nothing(
    rig: Rig, tamper: str
) -> None:
    body = urlencode(
        {
            "command": "/incident",
            "text": "declare Nope",
            "user_id": "U1ALICE",
            "channel_id": "C0ANNOUNCE",
            "team_id": "T0001",
        }
    )
    if tamper == "signature":
        status = await rig.post(body, "application/x-www-form-urlencoded", secret="wrong")
    else:
        status = await rig.post(
            body, "application/x-www-form-urlencoded", timestamp=str(int(time.time()) - 600)
        )
    assert status == 401
    assert await rig.core.service.incidents("all") == []
    assert "conversations.create" not in rig.fake.calls


async def test_a_platform_refusal_is_told_to_the_user_and_changes_nothing(rig: Rig) -> None:
    rig.fake.users.pop("U2BOB")  # users.info will fail for bob
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    await rig.command("assign operations <@U2BOB>", channel=room)
    assert rig.acks[-1]["response_type"] == "ephemeral"
    assert "Slack refused users.info: user_not_found" in rig.acks[-1]["text"].replace("\u200b", "")
    assert [r.role for r in (await rig.core.wiring.views.full(1)).roles] == ["commander"]


async def test_a_rate_limit_during_declare_is_waited_out(rig: Rig) -> None:
    rig.fake.limit_next("chat.postMessage", retry_after=1)
    started = asyncio.get_running_loop().time()
    await rig.command("declare Database is down")
    assert asyncio.get_running_loop().time() - started >= 1
    assert rig.fake.in_channel(rig.room()["id"]), "the card was posted after the wait"
    assert rig.fake.in_channel("C0ANNOUNCE")


async def test_socket_mode_runs_the_same_flow_without_http(database_url: str) -> None:
    fake = FakeSlack()
    await fake.start()
    settings = Settings(
        database_url=database_url,
        env={"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_URL": fake.url},
    )
    core, adapter, web_app = await start_tocsin(settings, fake)
    try:
        assert all(
            r.resource.canonical != "/slack/events"
            for r in web_app.router.routes()
            if r.resource is not None
        )
        await adapter.connect()
        await asyncio.wait_for(fake.socket_connected.wait(), timeout=30)
        ack = await fake.send_envelope(
            "slash_commands",
            {
                "command": "/incident",
                "text": "declare Queue stuck --sev 2",
                "user_id": "U1ALICE",
                "user_name": "alice",
                "channel_id": "C0ANNOUNCE",
                "channel_name": "incidents",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "response_url": fake.response_url(),
                "trigger_id": "t-1",
            },
        )
        assert ack["envelope_id"].startswith("env-")
        await adapter.drain()
        await core.settle()
        room = next(c for c in fake.channels.values() if c["name"] == "inc-1-queue-stuck")
        assert fake.in_channel(room["id"])
        await fake.send_envelope(
            "events_api",
            {
                "type": "event_callback",
                "team_id": "T0001",
                "api_app_id": "A0001",
                "event_id": "Ev9",
                "event_time": int(time.time()),
                "event": {
                    "type": "message",
                    "channel": room["id"],
                    "user": "U2BOB",
                    "text": "consumer restarted",
                    "ts": f"{time.time():.6f}",
                },
            },
        )
        events = (await core.wiring.views.full(1)).events
        assert ("message", "consumer restarted") in {(e.kind, e.text) for e in events}
    finally:
        await adapter.close()
        await core.aclose()
        await fake.close()


async def test_posting_keeps_to_one_message_per_interval_per_channel() -> None:
    fake = FakeSlack()
    await fake.start()
    platform = SlackPlatform(make_client(TOKEN, fake.url), per_channel_interval=0.3)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        lobby = await platform.find_channel("incidents")
        await asyncio.gather(*[platform.post_message(lobby, f"m{i}") for i in range(3)])
        assert loop.time() - started >= 0.6, "three posts to one channel span two intervals"
        assert [m.text for m in fake.in_channel("C0ANNOUNCE")] == ["m0", "m1", "m2"]
    finally:
        await fake.close()


def test_the_manifest_names_the_commands_scopes_events_and_urls() -> None:
    app = manifest("https://tocsin.example.com/base/", default_registry())
    url = "https://tocsin.example.com/base/slack/events"
    commands = app["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/incident", "/oncall"]
    assert all(c["url"] == url for c in commands)
    assert "declare" in commands[0]["usage_hint"] and "escalate" in commands[0]["usage_hint"]
    assert app["settings"]["event_subscriptions"]["request_url"] == url
    assert app["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert {"commands", "chat:write", "channels:manage", "pins:write", "files:write"} <= set(
        app["oauth_config"]["scopes"]["bot"]
    )
    assert {"im:write", "im:history"} <= set(app["oauth_config"]["scopes"]["bot"]), "pages"
    socket = manifest(None, default_registry(), socket_mode=True)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "url" not in socket["features"]["slash_commands"][0]
    with pytest.raises(UserError, match="must be the public https://"):
        manifest("http://localhost:3000", default_registry())
    with pytest.raises(UserError, match="and none was given"):
        manifest(None, default_registry())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SLACK_BOT_TOKEN": TOKEN}, "SLACK_SIGNING_SECRET is not"),
        ({"SLACK_SIGNING_SECRET": SECRET}, "need SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user", "SLACK_SIGNING_SECRET": SECRET}, "starting with xoxb-"),
        ({"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": "nope"}, "starting with xapp-"),
        (
            {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": "ftp://x"},
            "SLACK_API_URL must be an http",
        ),
    ],
)
def test_slack_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SlackSettings.from_env(env)


def test_secrets_never_appear_in_the_settings_repr() -> None:
    env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET}
    slack = SlackSettings.from_env(env)
    settings = Settings.from_env(env, dotenv=False)
    assert TOKEN not in repr(settings) + repr(slack) and SECRET not in repr(settings) + repr(slack)


async def test_the_app_runs_from_its_environment_as_a_user_would(
    sqlite_url: str, tmp_path: Path
) -> None:
    fake = FakeSlack()
    await fake.start()
    env = tocsin_env(
        sqlite_url,
        TOCSIN_HTTP_PORT="0",
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.url,
    )
    process = await spawn("run", cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL)
    assert process.stderr is not None
    try:
        port = None
        while port is None:
            line = (await asyncio.wait_for(process.stderr.readline(), timeout=60)).decode()
            assert line, "tocsin run ended before listening"
            if match := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                port = int(match.group(1))
        body = urlencode(
            {
                "command": "/incident",
                "text": "declare From a real process",
                "user_id": "U1ALICE",
                "user_name": "alice",
                "channel_id": "C0ANNOUNCE",
                "channel_name": "incidents",
                "team_id": "T0001",
                "response_url": fake.response_url(),
                "trigger_id": "t",
            }
        )
        ts = str(int(time.time()))
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/slack/events",
                data=body.encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Request-Timestamp": ts,
                    "X-Slack-Signature": sign(body, ts),
                },
            ) as response,
        ):
            assert response.status == 200
        await fake.answered.wait()
        assert "Declared" in fake.responses[0]["text"]
        assert any(c["name"] == "inc-1-from-a-real-process" for c in fake.channels.values())
    finally:
        process.terminate()
        rest = (await process.stderr.read()).decode()
        assert await process.wait() == 0
        await fake.close()
    assert TOKEN not in rest and SECRET not in rest
    assert "Traceback" not in rest


async def test_check_config_proves_the_slack_token(sqlite_url: str, tmp_path: Path) -> None:
    fake = FakeSlack()
    await fake.start()
    try:
        for token, expected in (
            (TOKEN, "✓ Slack: bot @tocsin in Fake, HTTP mode"),
            ("xoxb-wrong", "✗ Slack: the token was refused: invalid_auth"),
        ):
            env = tocsin_env(
                sqlite_url,
                SLACK_BOT_TOKEN=token,
                SLACK_SIGNING_SECRET=SECRET,
                SLACK_API_URL=fake.url,
            )
            process = await spawn(
                "check-config", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
            assert expected in out.decode()
            assert process.returncode == (0 if token == TOKEN else 1)
    finally:
        await fake.close()


async def test_buttons_posted_before_a_restart_still_work(rig: Rig) -> None:
    await rig.command("declare Database is down")
    room = rig.room()["id"]
    await rig.core.aclose()
    core, adapter, web_app = await start_tocsin(rig.core.settings, rig.fake)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    restarted = Rig(rig.fake, core, adapter, server, rig.http)
    try:
        assert await restarted.click("tocsin:ack:1", user="U2BOB", channel=room) == 200
        (card,) = rig.fake.in_channel(room)
        assert card.updates == 1 and "acknowledged" in json.dumps(card.blocks)
    finally:
        await server.close()
        await core.aclose()
