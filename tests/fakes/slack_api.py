"""A fake of Slack's Web API on 127.0.0.1, strict where Tocsin could go wrong.

It keeps channels, direct messages, members, messages, pins, modals, files and response_url
answers; enforces channel-name rules and ``name_taken``; validates the Block Kit limits
Tocsin could break; refuses what Slack refuses a direct message to (an unknown user, a
deactivated one, a bot); given ``scopes``, refuses a call whose scope the app lacks
(``missing_scope``); and can answer 429 with ``Retry-After``. Arguments are read from the query
string, a form body or a JSON body alike, as slack-sdk uses all three.

:meth:`FakeSlack.fault` makes chosen calls fail the ways a real platform does: a 5xx whose
body is not JSON, a call that never answers (``stall``), or one carried out whose answer
never comes (``lost``). Each fault is driven by a predicate the test passes in.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.fakes.faults import Fault, Faults

TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-1-test-app-token"
BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")


class Refused(Exception):
    def __init__(self, error: str, **more: str) -> None:
        self.error = error
        self.more = more


Predicate = Callable[[str, dict[str, Any]], bool]
"""(method, arguments) → whether a fault applies; response_url answers are the method
``response_url`` with their key as ``key``."""


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    user: str = BOT_USER
    updates: int = 0


SCOPE_OF = {"conversations.open": "im:write"}
"""The scope a method needs whatever it is called on (only those Tocsin must ask for)."""
HISTORY_SCOPE = {"im": "im:history", "channel": "channels:history"}
"""``conversations.history`` needs the scope of the kind of conversation it reads."""


class FakeSlack:
    def __init__(self, scopes: Iterable[str] | None = None) -> None:
        self.scopes = set(scopes) if scopes is not None else None
        """The bot token's scopes; ``None``: every scope (nothing refused for want of one)."""
        self.channels: dict[str, dict[str, Any]] = {}
        self.ims: dict[str, dict[str, Any]] = {}
        """Direct-message conversations (``D…``) by id: one per person, opened by
        ``conversations.open``; ``conversations.list`` of channels never shows them."""
        self.bots = {BOT_USER, "UOTHERBOT"}
        self.disabled: set[str] = set()
        """Deactivated people: Slack refuses to open a direct message with them."""
        self.members: dict[str, set[str]] = defaultdict(set)
        self.messages: list[Message] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.pins: dict[str, set[str]] = defaultdict(set)
        self.views: list[dict[str, Any]] = []
        self.files: list[dict[str, Any]] = []
        self.responses: list[dict[str, Any]] = []
        self.calls: list[str] = []
        self.users = {
            "U1ALICE": "alice",
            "U2BOB": "bob",
            "U3CAROL": "carol",
            "UOTHERBOT": "otherbot",
            BOT_USER: "tocsin",
        }
        self.rate_limited: dict[str, int] = {}
        self._ids = count(1)
        self._uploads: dict[str, dict[str, Any]] = {}
        self.server: TestServer | None = None
        self.socket: web.WebSocketResponse | None = None
        self.socket_connected = asyncio.Event()
        self.socket_acks: dict[str, dict[str, Any]] = {}
        self.faults = Faults()
        self.answered = asyncio.Event()
        """Set when something is posted to a response_url."""
        self._acked = asyncio.Condition()
        self.channel("incidents", "C0ANNOUNCE")

    # test helpers
    def channel(self, name: str, channel_id: str | None = None, creator: str = "U1ALICE") -> str:
        channel_id = channel_id or f"C{next(self._ids):08d}"
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "topic": "",
            "purpose": "",
            "is_archived": False,
            "creator": creator,
        }
        return channel_id

    def fault(self, when: Predicate, mode: str, times: int = 1) -> Fault:
        """Make the next ``times`` calls that ``when`` picks fail as ``mode`` says."""
        return self.faults.add(when, mode, times)

    def named(self, suffix: str) -> Callable[[str], bool]:
        """Whether a channel id is that of a channel whose name ends with ``suffix``."""
        return lambda channel_id: str(self.channels.get(channel_id, {}).get("name", "")).endswith(
            suffix
        )

    async def _faulted(self, method: str, args: dict[str, Any], work: Any) -> web.StreamResponse:
        """Run ``work`` (the call), unless a fault says otherwise: a 5xx is an HTML page."""

        def failure() -> web.Response:
            return web.Response(
                status=502, text="<html>502 Bad Gateway</html>", content_type="text/html"
            )

        return await self.faults.around((method, args), work, failure)

    def channel_named(self, name: str) -> dict[str, Any]:
        return next(c for c in self.channels.values() if c["name"] == name)

    def in_channel(self, channel_id: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel_id]

    def im_with(self, user: str) -> str | None:
        """The id of the direct-message conversation with ``user``, once opened."""
        return next((c["id"] for c in self.ims.values() if c["user"] == user), None)

    def limit_next(self, method: str, retry_after: int = 1) -> None:
        """Answer the next call of ``method`` with 429 and ``Retry-After``."""
        self.rate_limited[method] = retry_after

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/api/"))

    def response_url(self, key: str = "r1") -> str:
        assert self.server is not None
        return str(self.server.make_url(f"/response/{key}"))

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{key}", self._response)
        app.router.add_get("/socket", self._socket)
        self.server = TestServer(app, host="127.0.0.1", port=0)
        await self.server.start_server()

    async def close(self) -> None:
        self.faults.release()
        if self.server is not None:
            await self.server.close()

    # the HTTP side
    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        elif request.can_read_body:
            args.update(dict(await request.post()))
        for key in ("blocks", "view", "files"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    async def send_envelope(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Push a Socket Mode envelope to the connected app; return its acknowledgement."""
        assert self.socket is not None, "no Socket Mode connection"
        envelope_id = f"env-{next(self._ids)}"
        await self.socket.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": True,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        async with self._acked:
            await self._acked.wait_for(lambda: envelope_id in self.socket_acks)
        return self.socket_acks[envelope_id]

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.socket = socket
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0001"}}
        )
        self.socket_connected.set()
        async for message in socket:
            if message.type == web.WSMsgType.TEXT:
                data = json.loads(message.data)
                async with self._acked:
                    self.socket_acks[data.get("envelope_id", "")] = data
                    self._acked.notify_all()
        return socket

    def m_apps_connections_open(self, _args: dict[str, Any]) -> dict[str, Any]:
        assert self.server is not None
        return {"url": str(self.server.make_url("/socket")).replace("http://", "ws://")}

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls.append(method)
        expected = APP_TOKEN if method == "apps.connections.open" else TOKEN
        if request.headers.get("Authorization") != f"Bearer {expected}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self.rate_limited:
            retry = self.rate_limited.pop(method)
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry)},
            )
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        args = await self._args(request)

        async def work() -> web.Response:
            try:
                self._scoped(method, args)
                result = handler(args)
            except Refused as refused:
                return web.json_response({"ok": False, "error": refused.error, **refused.more})
            return web.json_response({"ok": True, **result})

        return await self._faulted(method, args, work)

    async def _upload(self, request: web.Request) -> web.Response:
        upload = self._uploads[request.match_info["file_id"]]
        upload["content"] = await request.read()
        return web.Response(text="OK")

    async def _response(self, request: web.Request) -> web.Response:
        answer = {"key": request.match_info["key"], **await request.json(), "at": time.time()}

        async def work() -> web.Response:
            self.responses.append(answer)
            self.answered.set()
            return web.json_response({"ok": True})

        return await self._faulted("response_url", answer, work)

    def _scoped(self, method: str, args: dict[str, Any]) -> None:
        """Refuse a call whose scope the token lacks, as Slack does (``missing_scope``,
        saying which scope was ``needed``)."""
        needed = SCOPE_OF.get(method)
        if method == "conversations.history":
            kind = "im" if str(args.get("channel", "")) in self.ims else "channel"
            needed = HISTORY_SCOPE[kind]
        if self.scopes is not None and needed is not None and needed not in self.scopes:
            raise Refused("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))

    # methods
    def _existing(self, channel_id: str) -> dict[str, Any]:
        """A channel or a direct-message conversation, by id."""
        found = self.channels.get(channel_id) or self.ims.get(channel_id)
        if found is None:
            raise Refused("channel_not_found")
        return found

    def m_auth_test(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.test/",
            "team": "Fake",
            "user": "tocsin",
            "team_id": "T0001",
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
        }

    def m_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name", ""))
        if len(name) > 80:
            raise Refused("invalid_name_maxlength")
        if not _NAME.match(name):
            raise Refused("invalid_name_specials")
        if any(c["name"] == name for c in self.channels.values()):
            raise Refused("name_taken")
        channel_id = self.channel(name, creator=BOT_USER)
        self.members[channel_id].add(BOT_USER)
        return {"channel": self.channels[channel_id]}

    def m_conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        if len(args.get("topic", "")) > 250:
            raise Refused("too_long")
        self._existing(args["channel"])["topic"] = args["topic"]
        return {}

    def m_conversations_setPurpose(self, args: dict[str, Any]) -> dict[str, Any]:
        self._existing(args["channel"])["purpose"] = args["purpose"]
        return {}

    def m_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        users = set(str(args["users"]).split(","))
        if BOT_USER in users:
            raise Refused("cant_invite_self")
        members = self.members[self._existing(args["channel"])["id"]]
        if users & members:  # as Slack does, without force=true
            raise Refused("already_in_channel")
        members.update(users)
        return {}

    def m_conversations_list(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {"channels": list(self.channels.values()), "response_metadata": {"next_cursor": ""}}

    def m_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._existing(args["channel"])
        if channel.get("is_private"):
            raise Refused("method_not_supported_for_channel_type")
        self.members[channel["id"]].add(BOT_USER)
        return {"channel": channel}

    def m_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Newest first, after ``oldest``, at most ``limit`` (Slack now allows 15), the
        next page by ``cursor``; only where the bot is a member (direct messages aside)."""
        channel = self._existing(args["channel"])["id"]
        if channel not in self.ims and BOT_USER not in self.members[channel]:
            raise Refused("not_in_channel")
        oldest = float(args.get("oldest") or 0)
        limit = min(int(args.get("limit") or 15), 15)
        found = [m for m in self.in_channel(channel) if float(m.ts) > oldest]
        found.sort(key=lambda m: float(m.ts), reverse=True)
        skip = int(args.get("cursor") or 0)  # paging: the messages already given
        found, more = found[skip:], len(found) > skip + limit
        return {
            **({"response_metadata": {"next_cursor": str(skip + limit)}} if more else {}),
            "messages": [
                {
                    "type": "message",
                    "ts": m.ts,
                    "text": m.text,
                    "user": m.user,
                    **({"bot_id": BOT_ID} if m.user == BOT_USER else {}),
                    "blocks": m.blocks,
                }
                for m in found[:limit]
            ],
            "has_more": more,
        }

    def m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """The one direct-message conversation with a person: the same id every time."""
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            raise Refused("users_list_not_supplied")
        if len(users) > 1:
            raise Refused("invalid_arguments")  # a group DM: Tocsin never opens one
        (user,) = users
        if user not in self.users:
            raise Refused("user_not_found")
        if user in self.bots:
            raise Refused("cannot_dm_bot")
        if user in self.disabled:
            raise Refused("user_disabled")
        channel_id = self.im_with(user)
        if channel_id is None:
            channel_id = f"D{next(self._ids):08d}"
            self.ims[channel_id] = {"id": channel_id, "is_im": True, "user": user}
        return {"channel": {"id": channel_id}}

    def m_conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        self._existing(args["channel"])["is_archived"] = True
        return {}

    def m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args["user"]
        if user not in self.users:
            raise Refused("user_not_found")
        return {
            "user": {
                "id": user,
                "name": self.users[user],
                "profile": {"display_name": self.users[user]},
            }
        }

    def m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._existing(args["channel"])
        text, blocks = str(args.get("text", "")), args.get("blocks") or []
        _check_message(text, blocks)
        ts = f"{time.time():.6f}"
        self.messages.append(Message(channel["id"], ts, text, blocks))
        return {"channel": channel["id"], "ts": ts}

    def m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = next(
            (m for m in self.messages if m.channel == args["channel"] and m.ts == args["ts"]), None
        )
        if message is None:
            raise Refused("message_not_found")
        _check_message(str(args.get("text", "")), args.get("blocks") or [])
        message.text, message.blocks = str(args.get("text", "")), args.get("blocks") or []
        message.updates += 1
        return {"channel": message.channel, "ts": message.ts}

    def m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        self._existing(args["channel"])
        self.ephemeral.append(args)
        return {"message_ts": f"{time.time():.6f}"}

    def m_pins_add(self, args: dict[str, Any]) -> dict[str, Any]:
        if args["timestamp"] in self.pins[args["channel"]]:
            raise Refused("already_pinned")
        self.pins[args["channel"]].add(args["timestamp"])
        return {}

    def m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args["view"]
        if not args.get("trigger_id"):
            raise Refused("invalid_trigger_id")
        if len(view["title"]["text"]) > 24 or len(view.get("blocks", [])) > 100:
            raise Refused("invalid_arguments")
        self.views.append(view)
        return {"view": {"id": f"V{len(self.views)}", **view}}

    def m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        self._uploads[file_id] = {"filename": args["filename"], "length": int(args["length"])}
        assert self.server is not None
        return {"upload_url": str(self.server.make_url(f"/upload/{file_id}")), "file_id": file_id}

    def m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        done = []
        for entry in args["files"]:
            upload = self._uploads.pop(entry["id"])
            if len(upload.get("content", b"")) != upload["length"]:
                raise Refused("invalid_upload")
            self.files.append(
                {
                    **upload,
                    "channel": args.get("channel_id"),
                    "comment": args.get("initial_comment"),
                }
            )
            done.append({"id": entry["id"], "title": entry.get("title")})
        return {"files": done}


def _check_message(text: str, blocks: list[dict[str, Any]]) -> None:
    """Block Kit limits the way Slack enforces them (invalid_blocks, msg_too_long)."""
    if len(text) > 40000:
        raise Refused("msg_too_long")
    if not text and not blocks:
        raise Refused("no_text")
    if len(blocks) > 50:
        raise Refused("invalid_blocks")
    for block in blocks:
        kind = block.get("type")
        if kind == "header" and len(block["text"]["text"]) > 150:
            raise Refused("invalid_blocks")
        if kind == "section":
            if len(block.get("text", {}).get("text", "")) > 3000:
                raise Refused("invalid_blocks")
            fields = block.get("fields", [])
            if len(fields) > 10 or any(len(f["text"]) > 2000 for f in fields):
                raise Refused("invalid_blocks")
        if kind == "actions":
            elements = block.get("elements", [])
            if len(elements) > 25:
                raise Refused("invalid_blocks")
            for element in elements:
                if (
                    len(element["text"]["text"]) > 75
                    or len(element["action_id"]) > 255
                    or len(element.get("value", "")) > 2000
                ):
                    raise Refused("invalid_blocks")
