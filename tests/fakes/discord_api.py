"""A fake of Discord on loopback: the REST API and the gateway websocket, in aiohttp.

It keeps servers, channels, messages, pins, synced commands and interactions, and refuses
what Discord refuses: channel names over 100 characters, a topic over 1,024, content over
2,000, embed limits (title 256, description 4,096, 25 fields, field value 1,024, 6,000 in
all), more than 5 rows or 5 buttons a row, a ``custom_id`` over 100, an interaction answered
twice (40060) or later than 3 seconds (10062). Direct messages are one channel (type 1) per
person, as Discord keeps them; a DM Discord would refuse is refused the same way (an unknown
recipient 50033; the bot itself, or someone who accepts no DMs from the bot, 50007). Every
refusal is also kept in ``rejections``, so a test can say that nothing was refused.

The gateway speaks HELLO → heartbeat ACK → IDENTIFY → READY → GUILD_CREATE → dispatches,
honours the intents and shards of each IDENTIFY (events of DMs go to shard 0, their
messages only with the Direct Messages intent), closes with 4014 when the Message Content
intent is asked for but not granted, and withholds message content without it, as Discord
does. discord.py reads a REST body as JSON only when its Content-Type is exactly
``application/json``, so every answer sets it so.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import WSMsgType, web

from bot.settings import Settings
from tests.fakes.faults import Fault, Faults

TOKEN = "fake.discord.token"
APP_ID = 900000000000000001
BOT_ID = APP_ID
GUILD_ID = 700000000000000001
ANNOUNCE_ID = 710000000000000001
GENERAL_ID = 710000000000000002
ALICE = 800000000000000001
BOB = 800000000000000002
USERS = {BOT_ID: "Tocsin", ALICE: "alice", BOB: "bob"}
EPHEMERAL = 1 << 6
MESSAGE_CONTENT = 1 << 15
INTENT_GUILDS, INTENT_MESSAGES, INTENT_REACTIONS = 1 << 0, 1 << 9, 1 << 10
INTENT_DM_MESSAGES = 1 << 12
DM_PERMISSIONS = (1 << 14) | (1 << 15) | (1 << 17) | (1 << 18)
"""What an interaction in the bot's DM says the app may do: Embed Links, Attach Files,
Mention Everyone, Use External Emojis."""
CANNOT_DM = (50007, "Cannot send messages to this user")
FLAG_MESSAGE_CONTENT = 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED: verified bots have 1 << 18
DISCORD_EPOCH_MS = 1420070400000
_serial = itertools.count(1)


def snowflake() -> int:
    """A snowflake that carries the time, as discord.py reads ``created_at`` from it."""
    return ((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_serial) & 0x3FFFFF)


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user(user_id: int) -> dict[str, Any]:
    name = USERS[user_id]
    return {
        "id": str(user_id),
        "username": name.lower(),
        "global_name": name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": user_id == BOT_ID,
        "public_flags": 0,
    }


def member(user_id: int) -> dict[str, Any]:
    return {
        "user": user(user_id),
        "roles": [],
        "joined_at": now_iso(),
        "deaf": False,
        "mute": False,
        "nick": None,
        "flags": 0,
        "permissions": str((1 << 53) - 1),
    }


class Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _check(ok: bool, message: str, code: int = 50035) -> None:
    if not ok:
        raise Refused(400, code, f"Invalid Form Body: {message}")


@dataclass
class Interaction:
    id: int
    token: str
    payload: dict[str, Any]
    sent_at: float
    responses: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    original: dict[str, Any] | None = None
    deleted: bool = False
    first_answer_at: float | None = None
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    edited: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the first answer is edited (a declare's, with its channel)."""

    @property
    def kind(self) -> int | None:
        """The first answer's callback type: 4 message, 5 deferred, 6 deferred update,
        7 update, 8 autocomplete, 9 modal."""
        return self.responses[0]["type"] if self.responses else None

    @property
    def data(self) -> dict[str, Any]:
        return self.responses[0].get("data") or {} if self.responses else {}

    def texts(self) -> list[str]:
        """Everything the person was shown, in order."""
        shown = [self.data.get("content") or ""] if self.kind == 4 else []
        if self.original is not None and not self.deleted:
            shown.append(self.original.get("content") or "")
        return [*shown, *(f.get("content") or "" for f in self.followups)]

    @property
    def ephemeral(self) -> bool:
        first = self.data if self.kind == 4 else (self.original or self.data)
        return bool((first.get("flags") or 0) & EPHEMERAL) or bool(
            (self.data.get("flags") or 0) & EPHEMERAL
        )


Predicate = Callable[[str, str, dict[str, Any] | None], bool]
"""(HTTP method, path after /api/v10, JSON body or None) → whether a fault applies."""


@dataclass
class Session:
    ws: web.WebSocketResponse
    intents: int = 0
    shard: tuple[int, int] = (0, 1)


class FakeDiscord:
    def __init__(self, *, message_content: bool = True) -> None:
        self.app_flags = FLAG_MESSAGE_CONTENT if message_content else 0
        self.guild_ids = [GUILD_ID]
        self.channels: dict[int, dict[str, Any]] = {}
        self.closed_dms: set[int] = set()
        """People who accept no direct messages from the bot (they share no server with it,
        or turned DMs from server members off): Discord refuses to post to them."""
        self.messages: dict[int, dict[str, Any]] = {}
        self.pins: dict[int, list[int]] = {}
        self.overwrites: dict[int, dict[int, dict[str, Any]]] = {}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.calls: list[str] = []
        self.rejections: list[str] = []
        self.identified: list[dict[str, Any]] = []
        self.sessions: list[Session] = []
        self.create_delay = 0.0
        self.faults = Faults()
        self.url = self.gateway_url = ""
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        for channel_id, name in ((ANNOUNCE_ID, "incidents"), (GENERAL_ID, "general")):
            self.channels[channel_id] = self._channel(channel_id, name, 0, None, "")

    # Serving.

    async def start(self) -> None:
        app = web.Application(middlewares=[self._errors])
        api = "/api/v10"
        routes = [
            ("GET", "/users/@me", self._me),
            ("GET", "/users/{user_id}", self._user),
            ("POST", "/users/@me/channels", self._dm),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/gateway", self._gateway_info),
            ("GET", "/gateway/bot", self._gateway_info),
            ("PUT", "/applications/{app}/commands", self._sync),
            ("PUT", "/applications/{app}/guilds/{guild}/commands", self._sync),
            ("GET", "/guilds/{guild}/channels", self._guild_channels),
            ("GET", "/guilds/{guild}/members/{user_id}", self._member),
            ("POST", "/guilds/{guild}/channels", self._create_channel),
            ("GET", "/channels/{channel}", self._get_channel),
            ("PATCH", "/channels/{channel}", self._edit_channel),
            ("PUT", "/channels/{channel}/permissions/{target}", self._overwrite),
            ("POST", "/channels/{channel}/messages", self._post),
            ("GET", "/channels/{channel}/messages", self._history),
            ("PATCH", "/channels/{channel}/messages/{message}", self._edit),
            ("PUT", "/channels/{channel}/messages/pins/{message}", self._pin),
            ("POST", "/interactions/{id}/{token}/callback", self._callback),
            ("PATCH", "/webhooks/{app}/{token}/messages/@original", self._edit_original),
            ("DELETE", "/webhooks/{app}/{token}/messages/@original", self._delete_original),
            ("POST", "/webhooks/{app}/{token}", self._followup),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, api + path, handler)
        app.router.add_get("/gateway", self._gateway)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{api}"
        self.gateway_url = f"ws://127.0.0.1:{port}/gateway"

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a bot on this fake, its commands synced to the fake server."""
        return {
            "DISCORD_TOKEN": TOKEN,
            "DISCORD_API_URL": self.url,
            "DISCORD_GATEWAY_URL": self.gateway_url,
            "DISCORD_GUILD_IDS": str(GUILD_ID),
            **extra,
        }

    def settings(self, database_url: str, config_path: Any = None, **extra: str) -> Settings:
        """Tocsin's settings for a bot on this fake."""
        return Settings(database_url=database_url, config_path=config_path, env=self.env(**extra))

    async def close(self) -> None:
        self.faults.release()
        for session in list(self.sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def fault(self, when: Predicate, mode: str, times: int = 1) -> Fault:
        """Make the next ``times`` REST calls that ``when`` picks fail as ``mode`` says."""
        return self.faults.add(when, mode, times)

    async def _faulted(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.json() if request.content_type == "application/json" else None
        path = request.path.removeprefix("/api/v10")

        def failure() -> web.Response:
            return _json({"message": "Internal Server Error", "code": 0}, 500)

        return await self.faults.around(
            (request.method, path, body), lambda: handler(request), failure
        )

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls.append(f"{request.method} {request.path}")
        response: web.StreamResponse
        try:
            public = request.path.startswith(("/api/v10/interactions", "/api/v10/webhooks"))
            authorized = request.headers.get("Authorization") == f"Bot {TOKEN}"
            if not (public or authorized or request.path == "/gateway"):
                raise Refused(401, 0, "401: Unauthorized")
            if self.faults.armed and request.path.startswith("/api/"):
                response = await self._faulted(request, handler)
            else:
                response = await handler(request)
            if request.path.startswith("/api/") and not response.prepared:
                rate_limit(request, response)
            return response
        except Refused as exc:
            self.rejections.append(f"{request.method} {request.path}: {exc.message}")
            return _json({"code": exc.code, "message": exc.message}, exc.status)

    # The gateway.

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = Session(ws)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            message = json.loads(frame.data)
            if message["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif message["op"] == 2:
                await self._identify(session, message["d"])
            elif message["op"] == 6:
                await ws.send_json({"op": 9, "d": False, "s": None, "t": None})
        if session in self.sessions:
            self.sessions.remove(session)
        return ws

    async def _identify(self, session: Session, data: dict[str, Any]) -> None:
        self.identified.append(data)
        if data.get("token") != TOKEN:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        if data.get("intents", 0) & MESSAGE_CONTENT and not self.app_flags:
            await session.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session.intents = data.get("intents", 0)
        session.shard = tuple(data.get("shard") or (0, 1))  # type: ignore[assignment]
        guilds = [g for g in self.guild_ids if self._on_shard(session, g)]
        ready = {
            "v": 10,
            "user": user(BOT_ID),
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": f"session-{len(self.identified)}",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": self.app_flags},
            "shard": list(session.shard),
        }
        self.sessions.append(session)
        await self._send(session, "READY", ready)
        for guild_id in guilds:
            await self._send(session, "GUILD_CREATE", self._guild(guild_id))

    async def kick(self, code: int) -> None:
        """Close every gateway connection with ``code`` (4004: authentication failed)."""
        for session in list(self.sessions):
            await session.ws.close(code=code)

    def _on_shard(self, session: Session, guild_id: int) -> bool:
        shard_id, count = session.shard
        return (guild_id >> 22) % count == shard_id

    async def _send(self, session: Session, event: str, data: dict[str, Any]) -> None:
        await session.ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    async def dispatch(self, event: str, data: dict[str, Any], intent: int = 0) -> None:
        """Send ``event`` to each session on the guild's shard that has ``intent``; an event
        of a DM (no guild) to shard 0, as Discord does."""
        guild_id = int(data["guild_id"]) if data.get("guild_id") else None
        for session in list(self.sessions):
            if intent and not session.intents & intent:
                continue
            on_shard = self._on_shard(session, guild_id) if guild_id else session.shard[0] == 0
            if on_shard and not session.ws.closed:
                sent = data
                if event.startswith("MESSAGE_") and not session.intents & MESSAGE_CONTENT:
                    sent = self._without_content(data)
                await self._send(session, event, sent)

    def _without_content(self, data: dict[str, Any]) -> dict[str, Any]:
        if data.get("author", {}).get("id") == str(BOT_ID) or "content" not in data:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    def _guild(self, guild_id: int) -> dict[str, Any]:
        return {
            "id": str(guild_id),
            "name": "Fake Ops",
            "icon": None,
            "owner_id": str(ALICE),
            "roles": [
                {
                    "id": str(guild_id),
                    "name": "@everyone",
                    "permissions": "1071698660929",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [c for c in self.channels.values() if c.get("guild_id") == str(guild_id)],
            "threads": [],
            "members": [member(BOT_ID)],
            "member_count": len(USERS),
            "large": False,
            "unavailable": False,
            "joined_at": now_iso(),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "afk_timeout": 300,
            "premium_progress_bar_enabled": False,
        }

    # REST: who, where.

    async def _me(self, _r: web.Request) -> web.Response:
        return _json(user(BOT_ID))

    async def _user(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["user_id"])
        if user_id not in USERS:
            raise Refused(404, 10013, "Unknown User")
        return _json(user(user_id))

    async def _member(self, request: web.Request) -> web.Response:
        user_id = int(request.match_info["user_id"])
        if user_id not in USERS:
            raise Refused(404, 10007, "Unknown Member")
        return _json(member(user_id))

    async def _application(self, _r: web.Request) -> web.Response:
        return _json(
            {
                "id": str(APP_ID),
                "name": "Tocsin",
                "icon": None,
                "description": "",
                "bot_public": False,
                "bot_require_code_grant": False,
                "verify_key": "0" * 64,
                "owner": user(ALICE),
                "team": None,
                "flags": self.app_flags,
                "bot": user(BOT_ID),
            }
        )

    async def _gateway_info(self, _r: web.Request) -> web.Response:
        limits = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limits})

    async def _dm(self, request: web.Request) -> web.Response:
        """Open the DM with a person: the same channel every time, as Discord keeps one."""
        recipient = int((await request.json())["recipient_id"])
        if recipient not in USERS:
            raise Refused(400, 50033, "Invalid Recipient(s)")
        if recipient == BOT_ID:
            raise Refused(400, *CANNOT_DM)
        found = self.dm_with(recipient)
        if found is None:
            channel_id = snowflake()
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "recipients": [user(recipient)],
                "last_message_id": None,
                "flags": 0,
            }
            found = channel_id
        return _json(self.channels[found])

    def dm_with(self, recipient: int) -> int | None:
        """The id of the DM channel with ``recipient``, once opened."""
        return next(
            (
                int(c["id"])
                for c in self.channels.values()
                if c["type"] == 1 and int(c["recipients"][0]["id"]) == recipient
            ),
            None,
        )

    async def _sync(self, request: web.Request) -> web.Response:
        body = await request.json()
        _check(isinstance(body, list) and len(body) <= 100, "at most 100 commands")
        synced = []
        for command in body:
            _check_command(command)
            synced.append(
                {
                    **command,
                    "id": str(snowflake()),
                    "application_id": str(APP_ID),
                    "version": "1",
                    "default_member_permissions": None,
                    "nsfw": False,
                }
            )
        self.commands[request.match_info.get("guild", "global")] = synced
        return _json(synced)

    # REST: channels.

    def _channel(
        self, channel_id: int, name: str, kind: int, parent: int | None, topic: str
    ) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": kind,
            "guild_id": str(GUILD_ID),
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "parent_id": str(parent) if parent else None,
            "topic": topic or None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }

    def channel(self, channel_id: int) -> dict[str, Any]:
        if channel_id not in self.channels:
            raise Refused(404, 10003, "Unknown Channel")
        return self.channels[channel_id]

    def channels_named(self, name: str) -> list[dict[str, Any]]:
        return [c for c in self.channels.values() if c.get("name") == name]

    def named(self, name: str) -> dict[str, Any]:
        return next(c for c in self.channels.values() if c.get("name") == name)

    def add_channel(self, name: str, kind: int = 0, *, private: bool = False) -> int:
        """A channel (or, ``kind`` 4, a category) made by a person, before the bot connects;
        ``private``: @everyone may not see it."""
        channel_id = snowflake()
        self.channels[channel_id] = self._channel(channel_id, name, kind, None, "")
        if private:
            deny = {"id": str(GUILD_ID), "type": 0, "allow": "0", "deny": str(1 << 10)}
            self.channels[channel_id]["permission_overwrites"] = [deny]
        return channel_id

    async def _guild_channels(self, _r: web.Request) -> web.Response:
        return _json([c for c in self.channels.values() if c.get("guild_id")])

    async def _create_channel(self, request: web.Request) -> web.Response:
        body = await request.json()
        name, kind = str(body.get("name", "")), int(body.get("type", 0))
        _check(1 <= len(name) <= 100, f"name: must be 1-100 characters, not {len(name)}")
        _check(kind in (0, 4), f"type {kind}")
        topic = body.get("topic") or ""
        _check(len(topic) <= 1024, "topic: must be 1024 or fewer in length")
        parent = int(body["parent_id"]) if body.get("parent_id") else None
        if parent is not None:
            _check(self.channel(parent)["type"] == 4, "parent_id: not a category")
        if kind == 0:
            # Discord's own clean-up of text channel names.
            name = "-".join(name.lower().split())
        if self.create_delay:
            await asyncio.sleep(self.create_delay)
        channel_id = snowflake()
        self.channels[channel_id] = self._channel(channel_id, name, kind, parent, topic)
        if parent is not None and not body.get("permission_overwrites"):
            # A channel made in a category starts with the category's permissions.
            inherited = [dict(o) for o in self.channels[parent]["permission_overwrites"]]
            self.channels[channel_id]["permission_overwrites"] = inherited
        await self.dispatch("CHANNEL_CREATE", self.channels[channel_id], INTENT_GUILDS)
        return _json(self.channels[channel_id], 201)

    async def _get_channel(self, request: web.Request) -> web.Response:
        return _json(self.channel(int(request.match_info["channel"])))

    async def _edit_channel(self, request: web.Request) -> web.Response:
        channel = self.channel(int(request.match_info["channel"]))
        body = await request.json()
        if "topic" in body:
            _check(len(body["topic"] or "") <= 1024, "topic: must be 1024 or fewer in length")
            channel["topic"] = body["topic"]
        if "name" in body:
            _check(1 <= len(body["name"]) <= 100, "name: must be 1-100 characters")
            channel["name"] = body["name"]
        await self.dispatch("CHANNEL_UPDATE", channel, INTENT_GUILDS)
        return _json(channel)

    async def _overwrite(self, request: web.Request) -> web.Response:
        channel = self.channel(int(request.match_info["channel"]))
        target = int(request.match_info["target"])
        body = await request.json()
        _check(body.get("type") in (0, 1), "type: 0 (role) or 1 (member)")
        self.overwrites.setdefault(int(channel["id"]), {})[target] = body
        kept = [o for o in channel["permission_overwrites"] if o["id"] != str(target)]
        channel["permission_overwrites"] = [*kept, {"id": str(target), **body}]
        await self.dispatch("CHANNEL_UPDATE", channel, INTENT_GUILDS)
        return web.Response(status=204)

    # REST: messages.

    def in_channel(self, channel_id: int) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if m["channel_id"] == str(channel_id)]

    def _message(
        self, channel_id: int, author: int, body: dict[str, Any], kind: int = 0
    ) -> dict[str, Any]:
        message_id = snowflake()
        message = {
            "id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD_ID),
            "author": user(author),
            "member": {k: v for k, v in member(author).items() if k != "user"},
            "content": body.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": body.get("attachments", []),
            "embeds": body.get("embeds") or [],
            "components": body.get("components") or [],
            "pinned": False,
            "type": kind,
            "flags": body.get("flags") or 0,
            "allowed_mentions": body.get("allowed_mentions"),
        }
        if self._is_dm(channel_id):  # a DM belongs to no server
            del message["guild_id"], message["member"]
        self.messages[message_id] = message
        return message

    def _is_dm(self, channel_id: int) -> bool:
        return self.channels.get(channel_id, {}).get("type") == 1

    def _messages_intent(self, channel_id: int) -> int:
        return INTENT_DM_MESSAGES if self._is_dm(channel_id) else INTENT_MESSAGES

    async def _body(self, request: web.Request) -> dict[str, Any]:
        """JSON, or multipart with ``payload_json`` and ``files[n]``."""
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            body: dict[str, Any] = json.loads(str(form["payload_json"]))
            files = [v for k, v in form.items() if k.startswith("files[")]
            body["attachments"] = [
                {
                    "id": str(snowflake()),
                    "filename": f.filename,
                    "size": len(data := f.file.read()),
                    "url": f"https://cdn.fake/{f.filename}",
                    "proxy_url": f"https://cdn.fake/{f.filename}",
                    "content": data.decode(),
                }
                for f in files
                if isinstance(f, web.FileField)
            ]
            return body
        return dict(await request.json())

    async def _post(self, request: web.Request) -> web.Response:
        channel_id = int(request.match_info["channel"])
        channel = self.channel(channel_id)
        if channel["type"] == 1 and int(channel["recipients"][0]["id"]) in self.closed_dms:
            raise Refused(403, *CANNOT_DM)
        body = await self._body(request)
        _check_message(body)
        message = self._message(channel_id, BOT_ID, body)
        await self.dispatch("MESSAGE_CREATE", message, self._messages_intent(channel_id))
        return _json(message)

    async def _edit(self, request: web.Request) -> web.Response:
        message = self.messages.get(int(request.match_info["message"]))
        if message is None:
            raise Refused(404, 10008, "Unknown Message")
        body = await self._body(request)
        _check_message(body)
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                message[key] = body[key]
        message["edited_timestamp"] = now_iso()
        message["updates"] = message.get("updates", 0) + 1
        intent = self._messages_intent(int(message["channel_id"]))
        await self.dispatch("MESSAGE_UPDATE", message, intent)
        return _json(message)

    async def _pin(self, request: web.Request) -> web.Response:
        channel_id, message_id = (
            int(request.match_info["channel"]),
            int(request.match_info["message"]),
        )
        await self.pin(channel_id, message_id, BOT_ID)
        return web.Response(status=204)

    async def _history(self, request: web.Request) -> web.Response:
        """A channel's messages, newest first, as Discord returns them."""
        channel_id = int(request.match_info["channel"])
        self.channel(channel_id)
        limit = min(int(request.query.get("limit", "50")), 100)
        after = int(request.query.get("after", "0"))
        before = int(request.query.get("before", str(1 << 63)))
        found = [
            m
            for m in self.in_channel(channel_id)
            if after < int(m["id"]) < before and m["type"] == 0
        ]
        found.sort(key=lambda m: int(m["id"]), reverse=True)
        return _json(found[:limit])

    async def pin(self, channel_id: int, message_id: int, by: int) -> None:
        if message_id not in self.messages:
            raise Refused(404, 10008, "Unknown Message")
        if message_id in self.pins.get(channel_id, []):
            return  # pinned already: Discord says nothing more
        self.pins.setdefault(channel_id, []).append(message_id)
        self.messages[message_id]["pinned"] = True
        notice = self._message(channel_id, by, {}, kind=6)
        notice["message_reference"] = {
            "message_id": str(message_id),
            "channel_id": str(channel_id),
            "guild_id": str(GUILD_ID),
        }
        await self.dispatch("MESSAGE_CREATE", notice, INTENT_MESSAGES)

    # People in channels.

    async def say(self, author: int, channel_id: int, text: str) -> int:
        message = self._message(channel_id, author, {"content": text})
        await self.dispatch("MESSAGE_CREATE", message, INTENT_MESSAGES)
        return int(message["id"])

    async def edit(self, message_id: int, text: str) -> None:
        message = self.messages[message_id]
        message["content"], message["edited_timestamp"] = text, now_iso()
        await self.dispatch("MESSAGE_UPDATE", message, INTENT_MESSAGES)

    async def delete(self, message_id: int) -> None:
        message = self.messages.pop(message_id)
        data = {"id": str(message_id), "channel_id": message["channel_id"]}
        await self.dispatch("MESSAGE_DELETE", {**data, "guild_id": str(GUILD_ID)}, INTENT_MESSAGES)

    async def react(self, who: int, message_id: int, emoji: str) -> None:
        message = self.messages[message_id]
        event = {
            "user_id": str(who),
            "channel_id": message["channel_id"],
            "message_id": str(message_id),
            "guild_id": str(GUILD_ID),
            "member": member(who),
            "emoji": {"id": None, "name": emoji},
            "burst": False,
            "type": 0,
        }
        await self.dispatch("MESSAGE_REACTION_ADD", event, INTENT_REACTIONS)

    # Interactions.

    async def interact(
        self,
        kind: int,
        data: dict[str, Any],
        who: int,
        channel_id: int,
        message: dict[str, Any] | None = None,
    ) -> Interaction:
        interaction_id = snowflake()
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "guild_id": str(GUILD_ID),
            "channel_id": str(channel_id),
            "channel": {
                k: v for k, v in self.channels[channel_id].items() if k != "permission_overwrites"
            },
            "member": member(who),
            "token": f"token-{interaction_id}",
            "version": 1,
            "app_permissions": str((1 << 53) - 1),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0,
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        if self._is_dm(channel_id):
            # In the bot's DM: no server, the person as a user (not a member), the channel
            # partial (no recipients), context 1 (BOT_DM), a guild install's owner "0".
            for key in ("guild_id", "member", "guild_locale"):
                del payload[key]
            dm = self.channels[channel_id]
            payload["channel"] = {k: dm[k] for k in ("id", "type", "last_message_id", "flags")}
            payload["user"] = user(who)
            payload["app_permissions"] = str(DM_PERMISSIONS)
            payload["authorizing_integration_owners"] = {"0": "0"}
            payload["context"] = 1
        if message is not None:
            payload["message"] = message
        record = Interaction(interaction_id, payload["token"], payload, time.monotonic())
        self.interactions[interaction_id] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    def command(self, path: list[str], root: str = "incident") -> dict[str, Any]:
        """The synced definition of ``/<root> <path…>`` (guild commands first)."""
        synced = self.commands.get(str(GUILD_ID)) or self.commands.get("global") or []
        node = next(c for c in synced if c["name"] == root)
        for name in path:
            node = next(o for o in node.get("options", []) if o["name"] == name)
        return node

    def options(
        self, path: list[str], values: dict[str, Any], root: str = "incident"
    ) -> list[dict[str, Any]]:
        """Typed options as Discord sends them, checked against the synced definition: an
        unknown option, a missing required one or a value not among the choices fails."""
        definition = {o["name"]: o for o in self.command(path, root).get("options", [])}
        unknown = set(values) - set(definition)
        assert not unknown, f"/{root} {' '.join(path)} has no option {unknown}"
        for name, option in definition.items():
            assert name in values or not option.get("required"), f"{name} is required"
        sent = []
        for name, value in values.items():
            option = definition[name]
            if option.get("choices"):
                assert value in [c["value"] for c in option["choices"]], f"{name}={value!r}"
            if option["type"] == 3:
                assert len(value) <= option.get("max_length", 6000), f"{name} is too long"
            sent.append({"type": option["type"], "name": name, "value": value})
        return sent

    async def slash(
        self, who: int, channel_id: int, *path: str, root: str = "incident", **values: Any
    ) -> Interaction:
        """``/<root> <path…> option:value…`` typed by ``who`` in ``channel_id``."""
        typed: list[dict[str, Any]] = self.options(list(path), values, root)
        resolved: dict[str, Any] = {"users": {}, "members": {}}
        for option in typed:
            if option["type"] == 6:
                uid = int(option["value"])
                option["value"] = str(uid)
                resolved["users"][str(uid)] = user(uid)
                resolved["members"][str(uid)] = {
                    k: v for k, v in member(uid).items() if k != "user"
                }
        for depth, name in reversed(list(enumerate(path))):
            kind = 1 if depth == len(path) - 1 else 2
            typed = [{"type": kind, "name": name, "options": typed}]
        data = {
            "id": self.command([], root)["id"],
            "name": root,
            "type": 1,
            "guild_id": str(GUILD_ID),
            "options": typed,
            "resolved": resolved,
        }
        return await self.interact(2, data, who, channel_id)

    async def autocomplete(
        self,
        who: int,
        channel_id: int,
        path: list[str],
        name: str,
        current: str,
        root: str = "incident",
    ) -> list[dict[str, Any]]:
        definition = next(o for o in self.command(path, root)["options"] if o["name"] == name)
        assert definition.get("autocomplete"), f"{name} does not autocomplete"
        typed: list[dict[str, Any]] = [{"type": 3, "name": name, "value": current, "focused": True}]
        for depth, part in reversed(list(enumerate(path))):
            typed = [{"type": 1 if depth == len(path) - 1 else 2, "name": part, "options": typed}]
        data = {"id": self.command([], root)["id"], "name": root, "type": 1, "options": typed}
        record = await self.interact(4, data, who, channel_id)
        await asyncio.wait_for(record.answered.wait(), 10)
        assert record.kind == 8
        return list(record.data["choices"])

    def old_message(self, channel_id: int, custom_ids: list[str]) -> int:
        """A message the bot posted long ago (a card of an older version), with these
        buttons: what Discord still shows, whatever the bot knows today."""
        buttons = [{"type": 2, "style": 2, "label": i[:80], "custom_id": i} for i in custom_ids]
        body = {"content": "an old card", "components": [{"type": 1, "components": buttons}]}
        return int(self._message(channel_id, BOT_ID, body)["id"])

    async def click(self, who: int, message_id: int, custom_id: str) -> Interaction:
        message = self.messages[message_id]
        ids = [c["custom_id"] for row in message["components"] for c in row["components"]]
        assert custom_id in ids, f"no button {custom_id} on the message (it has {ids})"
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.interact(3, data, who, int(message["channel_id"]), message)

    async def submit(
        self, who: int, channel_id: int, modal: dict[str, Any], values: dict[str, str]
    ) -> Interaction:
        components = []
        for label in modal["components"]:
            inner = label["component"]
            name = inner["custom_id"]
            if inner["type"] == 3:
                options = [o["value"] for o in inner["options"]]
                assert values.get(name, options[0]) in options, f"{name}={values.get(name)!r}"
                picked = [values[name]] if name in values else []
                sent = {"type": 3, "custom_id": name, "values": picked}
            else:
                sent = {"type": 4, "custom_id": name, "value": values.get(name, "")}
            components.append({"type": 18, "id": len(components) + 1, "component": sent})
        data = {"custom_id": modal["custom_id"], "components": components}
        return await self.interact(5, data, who, channel_id)

    def _interaction(self, request: web.Request) -> Interaction:
        token = request.match_info["token"]
        found = next((i for i in self.interactions.values() if i.token == token), None)
        if found is None:
            raise Refused(404, 10062, "Unknown interaction")
        return found

    async def _callback(self, request: web.Request) -> web.Response:
        record = self._interaction(request)
        if record.responses:
            raise Refused(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - record.sent_at > 3.0:
            raise Refused(404, 10062, "Unknown interaction")
        body = await self._body(request)
        kind, data = int(body["type"]), body.get("data") or {}
        _check(kind in (4, 5, 6, 7, 8, 9), f"callback type {kind}")
        if kind in (4, 7):
            _check_message(data)
        if kind == 8:
            _check(len(data.get("choices", [])) <= 25, "choices: at most 25")
        if kind == 9:
            _check_modal(data)
        record.responses.append(body)
        record.first_answer_at = time.monotonic()
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(record.id),
                "type": record.payload["type"],
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool((data.get("flags") or 0) & EPHEMERAL),
            }
        }
        if kind in (4, 5):
            message = self._message(int(record.payload["channel_id"]), BOT_ID, data)
            self.messages.pop(int(message["id"]))
            record.original = None if kind == 5 else message
            answer["resource"] = {"type": kind, "message": message}
        if kind not in (5, 6):
            record.answered.set()
        return _json(answer)

    async def _edit_original(self, request: web.Request) -> web.Response:
        record = self._interaction(request)
        _check(bool(record.responses), "the interaction has no response to edit")
        body = await self._body(request)
        _check_message(body)
        flags = (record.data.get("flags") or 0) if record.kind == 5 else 0
        record.original = {**(record.original or {}), **body, "flags": flags}
        record.answered.set()
        record.edited.set()
        message = self._message(int(record.payload["channel_id"]), BOT_ID, record.original)
        self.messages.pop(int(message["id"]))
        return _json(message)

    async def _delete_original(self, request: web.Request) -> web.Response:
        record = self._interaction(request)
        record.deleted = True
        record.answered.set()
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        record = self._interaction(request)
        _check(bool(record.responses), "a follow-up needs an initial response")
        body = await self._body(request)
        _check_message(body)
        record.followups.append(body)
        record.answered.set()
        message = self._message(int(record.payload["channel_id"]), BOT_ID, body)
        if (body.get("flags") or 0) & EPHEMERAL:
            self.messages.pop(int(message["id"]))
        return _json(message)

    def everything_said(self) -> list[str]:
        """Every text Discord would parse for mentions: contents, embed texts, answers."""
        texts = []
        for message in self.messages.values():
            texts.append(message["content"])
            for embed in message["embeds"]:
                texts += [embed.get("title", ""), embed.get("description", "")]
                texts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
        for record in self.interactions.values():
            texts += record.texts()
        return texts


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def rate_limit(request: web.Request, response: web.StreamResponse) -> None:
    """Discord's rate-limit headers, as on every answer: many calls of a route may be under
    way at once (a client not told so sends them one at a time), each route its own bucket."""
    route = request.match_info.route.resource
    name = f"{request.method} {route.canonical if route else request.path}"
    response.headers.update(
        {
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset-After": "1.0",
            "X-RateLimit-Bucket": hashlib.sha1(name.encode()).hexdigest()[:16],
        }
    )


def _check_message(body: dict[str, Any]) -> None:
    content = body.get("content") or ""
    _check(len(content) <= 2000, f"content: must be 2000 or fewer in length, not {len(content)}")
    embeds = body.get("embeds") or []
    _check(len(embeds) <= 10, "embeds: at most 10")
    for embed in embeds:
        title, text = embed.get("title") or "", embed.get("description") or ""
        fields = embed.get("fields") or []
        footer = (embed.get("footer") or {}).get("text") or ""
        _check(len(title) <= 256, f"embeds.title: at most 256, not {len(title)}")
        _check(len(text) <= 4096, f"embeds.description: at most 4096, not {len(text)}")
        _check(len(fields) <= 25, "embeds.fields: at most 25")
        for f in fields:
            _check(0 < len(f["name"]) <= 256, "embeds.fields.name: 1-256")
            _check(
                0 < len(f["value"]) <= 1024, f"embeds.fields.value: 1-1024, not {len(f['value'])}"
            )
        total = (
            len(title)
            + len(text)
            + len(footer)
            + sum(len(f["name"]) + len(f["value"]) for f in fields)
        )
        _check(total <= 6000, f"embeds: 6000 characters in all, not {total}")
    rows = body.get("components") or []
    _check(len(rows) <= 5, "components: at most 5 rows")
    for row in rows:
        _check(row.get("type") == 1, "components: top level must be action rows")
        buttons = row.get("components") or []
        _check(1 <= len(buttons) <= 5, "components: 1-5 buttons a row")
        for button in buttons:
            _check(len(button.get("custom_id", "")) <= 100, "custom_id: at most 100")
            _check(len(button.get("label", "")) <= 80, "label: at most 80")


def _check_modal(data: dict[str, Any]) -> None:
    _check(0 < len(data.get("title", "")) <= 45, "title: 1-45")
    _check(0 < len(data.get("custom_id", "")) <= 100, "custom_id: 1-100")
    labels = data.get("components") or []
    _check(1 <= len(labels) <= 5, "components: 1-5")
    for label in labels:
        _check(label.get("type") == 18, "modal components must be labels")
        _check(0 < len(label.get("label", "")) <= 45, "label: 1-45")
        inner = label["component"]
        _check(len(inner.get("custom_id", "")) <= 100, "custom_id: at most 100")
        if inner["type"] == 3:
            _check(1 <= len(inner.get("options", [])) <= 25, "select options: 1-25")


def _check_command(command: dict[str, Any], depth: int = 0) -> None:
    name = command.get("name", "")
    _check(1 <= len(name) <= 32 and name == name.lower(), f"name {name!r}: 1-32, lowercase")
    _check(1 <= len(command.get("description", "")) <= 100, f"{name}: description 1-100")
    options = command.get("options") or []
    _check(len(options) <= 25, f"{name}: at most 25 options")
    for option in options:
        _check(len(option.get("choices") or []) <= 25, f"{option['name']}: at most 25 choices")
        if option["type"] in (1, 2):
            _check(depth < 2, "subcommands nest two deep at most")
            _check_command(option, depth + 1)
        else:
            _check(1 <= len(option.get("description", "")) <= 100, f"{option['name']}: description")
