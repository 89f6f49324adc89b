"""Slack as a :class:`~bot.platform.ChatPlatform`, over slack-sdk's AsyncWebClient.

A 429 with a short ``Retry-After`` is waited out in place; a longer one, a 5xx, a reply
that is not Slack's JSON, a timeout or a lost connection becomes a retryable
:class:`PlatformError`, so the worker tries again later. Posting keeps to Slack's one
message per second per channel. What the platform remembers (names, users, pacing) is
bounded.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import card_blocks, card_text, modal
from adapters.slack.dialect import SlackDialect, unescape_text
from adapters.slack.translate import EPHEMERAL
from adapters.slack.webapi import WAIT_IN_PLACE, refusal
from bot.cache import Bounded
from bot.errors import ChannelNameTaken, Later, PlatformError, Unsupported
from bot.platform import ChannelRef, ChannelRules, MessageRef, Post, UserRef
from bot.ui import Card, Form

log = logging.getLogger(__name__)
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
IGNORED_ERRORS = {"already_in_channel", "cant_invite_self", "already_pinned"}
HISTORY_PAGES = 10
"""How many pages of a conversation's history (15 messages each) a look-up reads at most."""
DM_REFUSALS = {
    "user_not_found": "no such person in this workspace: check their slack id in tocsin.toml",
    "user_disabled": "their Slack account is deactivated",
    "cannot_dm_bot": "that id is a bot's, which cannot be sent direct messages",
    "user_not_visible": "the bot is not allowed to see that person",
    "missing_scope": "the app lacks the im:write scope: reinstall it with `tocsin slack-manifest`",
}
"""Why Slack will not open a direct message with someone, in words."""


class SlackPlatform:
    name = "slack"
    dialect = SlackDialect()
    channel_rules = ChannelRules(max_length=80)

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        per_channel_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
        remember: int = 2000,
    ) -> None:
        self.client = client
        self._interval = per_channel_interval
        self._monotonic = monotonic
        self._last_post: Bounded[str, float] = Bounded(remember)
        self._channel_locks: Bounded[str, asyncio.Lock] = Bounded(remember)
        self._queued: Bounded[str, int] = Bounded(remember)
        self._names: Bounded[str, ChannelRef] = Bounded(remember)
        self._users: Bounded[str, UserRef] = Bounded(remember)
        self._ims: Bounded[str, ChannelRef] = Bounded(remember)
        self._me: dict[str, str] | None = None

    async def _call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a Web API method; Slack's refusal becomes a :class:`PlatformError`."""
        try:
            response = await getattr(self.client, method.replace(".", "_"))(**params)
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            error = data.get("error") if isinstance(data, dict) else None
            if error in IGNORED_ERRORS:
                return dict(data) if isinstance(data, dict) else {}
            if error == "name_taken":
                raise ChannelNameTaken(params.get("name", "")) from exc
            raise refusal(method, exc) from exc
        except (TimeoutError, OSError, aiohttp.ClientError, SlackClientError) as exc:
            raise PlatformError(
                f"Slack did not answer {method}: {exc or type(exc).__name__}", retryable=True
            ) from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _paced(self, channel_id: str, method: str, **params: Any) -> dict[str, Any]:
        """Post to ``channel_id`` no faster than Slack's one message per second. A turn
        further off than :data:`WAIT_IN_PLACE` is not waited for here: the call is refused
        as retryable, so the worker's slot goes to other work until then."""
        lock = self._channel_locks.setdefault(channel_id, asyncio.Lock)
        queued = self._queued.get(channel_id) or 0
        if lock.locked() and queued * self._interval > WAIT_IN_PLACE:
            raise Later(
                f"posting in {channel_id} waits its turn (Slack takes one a second)",
                retry_after=queued * self._interval,
            )
        self._queued.put(channel_id, queued + 1)
        try:
            async with lock:
                last = self._last_post.get(channel_id)
                wait = (last if last is not None else -1e9) + self._interval - self._monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                try:
                    return await self._call(method, channel=channel_id, **params)
                finally:
                    self._last_post.put(channel_id, self._monotonic())
        finally:
            self._queued.put(channel_id, max(0, (self._queued.get(channel_id) or 1) - 1))

    async def me(self) -> dict[str, str]:
        """Who the bot is (``user_id``, ``bot_id``), asked of Slack once."""
        if self._me is None:
            who = await self._call("auth.test")
            self._me = {
                "user_id": str(who.get("user_id", "")),
                "bot_id": str(who.get("bot_id", "")),
            }
        return self._me

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        created = await self._call("conversations.create", name=name, is_private=False)
        ref = ChannelRef(created["channel"]["id"], created["channel"]["name"])
        self._names.put(ref.name, ref)
        await self.set_topic(ref, topic)
        return ref

    async def own_channel(
        self, names: Sequence[str], marker: str, near: ChannelRef | None = None
    ) -> ChannelRef | None:
        """Slack says who created a channel: it is ours if the bot did."""
        me = (await self.me())["user_id"]
        ours = {c["name"]: c for c in await self._channels() if c.get("creator") == me}
        found = next((ours[name] for name in names if name in ours), None)
        return ChannelRef(found["id"], found["name"]) if found else None

    async def _channels(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = await self._call(
                "conversations.list",
                limit=1000,
                cursor=cursor,
                exclude_archived=True,
                types="public_channel",
            )
            found += page.get("channels", [])
            cursor = page.get("response_metadata", {}).get("next_cursor")
            if not cursor:
                return found

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        """By id (``C0123ABCD``, best) or by name (``#incidents``, looked up once)."""
        name = name.removeprefix("#")
        if _CHANNEL_ID.match(name):
            return ChannelRef(name, name)
        known = self._names.get(name)
        if known is not None:
            return known
        for channel in await self._channels():
            if channel.get("name") == name:
                return self._names.put(name, ChannelRef(channel["id"], channel["name"]))
        raise PlatformError(f"there is no Slack channel #{name} (or the bot cannot see it)")

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        if user_ids:
            await self._call("conversations.invite", channel=channel.id, users=",".join(user_ids))

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        await self._call("conversations.setTopic", channel=channel.id, topic=topic[:250])

    async def post_card(self, channel: ChannelRef, card: Card) -> MessageRef:
        posted = await self._paced(
            channel.id, "chat.postMessage", text=card_text(card), blocks=card_blocks(card)
        )
        return MessageRef(posted["channel"], posted["ts"])

    async def pin(self, message: MessageRef) -> None:
        await self._call("pins.add", channel=message.channel_id, timestamp=message.id)

    async def update_card(self, message: MessageRef, card: Card) -> None:
        await self._call(
            "chat.update",
            channel=message.channel_id,
            ts=message.id,
            text=card_text(card),
            blocks=card_blocks(card),
        )

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        posted = await self._paced(
            channel.id,
            "chat.postMessage",
            text=text[:40000],
            unfurl_links=False,
            unfurl_media=False,
        )
        return MessageRef(posted["channel"], posted["ts"])

    async def recent_posts(self, channel: ChannelRef, since: datetime) -> list[Post]:
        """The bot's messages since ``since`` (``conversations.history``: only on a retry,
        since Slack limits it closely); a card by its title. Page after page, up to
        :data:`HISTORY_PAGES`: a retry's own post may lie under more than a page of newer
        ones (a conversation paged by many incidents at once)."""
        me = await self.me()
        ask: dict[str, Any] = {"channel": channel.id, "oldest": f"{since.timestamp():.6f}"}
        messages: list[dict[str, Any]] = []
        for _ in range(HISTORY_PAGES):
            page = await self._history(channel, {**ask, "limit": 15})
            messages += page.get("messages", [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
            ask["cursor"] = cursor
        return [
            Post(MessageRef(channel.id, str(m.get("ts", ""))), _posted_text(m))
            for m in messages
            if m.get("bot_id") == me["bot_id"] or m.get("user") == me["user_id"]
        ]

    async def _history(self, channel: ChannelRef, ask: dict[str, Any]) -> dict[str, Any]:
        """One page of ``conversations.history``."""
        try:
            return await self._call("conversations.history", **ask)
        except PlatformError as exc:
            if exc.code == "missing_scope" and channel.id.startswith("D"):
                raise Unsupported(
                    f"cannot read the direct messages with {channel.name}: give the app the "
                    "im:history scope (`tocsin slack-manifest` has it) and reinstall it"
                ) from exc
            if exc.code != "not_in_channel":
                raise
            # A public channel it posts to without joining (chat:write.public), such as
            # the announce channel: join it to read it (channels:join).
            try:
                await self._call("conversations.join", channel=channel.id)
            except PlatformError as refused:
                if refused.retryable:
                    raise
                raise Unsupported(
                    f"cannot read #{channel.name}: invite the bot to it "
                    f"(Slack refused conversations.join: {refused.code or refused})"
                ) from refused
            return await self._call("conversations.history", **ask)

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        return await self.post_message(await self.open_dm(user_id), text)

    async def open_dm(self, user_id: str) -> ChannelRef:
        """The direct-message conversation with ``user_id`` (``conversations.open``, which
        needs ``im:write``; its id never changes, so it is asked for once). A person Slack
        will not have messaged (unknown, deactivated, a bot) is a refusal for good that
        quotes Slack's error."""
        known = self._ims.get(user_id)
        if known is not None:
            return known
        try:
            opened = await self._call("conversations.open", users=user_id)
        except PlatformError as exc:
            if exc.retryable:
                raise
            why = DM_REFUSALS.get(exc.code, "")
            raise PlatformError(
                f"Slack refused a direct message to {user_id}: {exc.code or exc}"
                + (f" ({why})" if why else ""),
                code=exc.code,
            ) from exc
        return self._ims.put(user_id, ChannelRef(opened["channel"]["id"], f"@{user_id}"))

    async def answer(self, reply_to: str, text: str, *, public: bool) -> None:
        """Through a request's ``response_url``, or as an ephemeral message in the channel
        a form was opened from (``ephemeral:<channel>:<user>``)."""
        if reply_to.startswith(EPHEMERAL):
            channel_id, _, user_id = reply_to.removeprefix(EPHEMERAL).partition(":")
            await self.post_ephemeral(channel_id, user_id, text)
            return
        body = {
            "text": text,
            "response_type": "in_channel" if public else "ephemeral",
            "replace_original": False,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
                http.post(reply_to, json=body) as response,
            ):
                answer = await response.text()
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            raise PlatformError(
                f"Slack's response_url did not answer: {exc}", retryable=True
            ) from exc
        if response.status >= 500:
            raise PlatformError(
                f"Slack's response_url failed: HTTP {response.status}", retryable=True
            )
        if response.status != 200:
            raise PlatformError(f"Slack refused the answer: HTTP {response.status} {answer[:100]}")

    async def post_ephemeral(self, channel_id: str, user_id: str, text: str) -> None:
        await self._call("chat.postEphemeral", channel=channel_id, user=user_id, text=text)

    async def open_form(self, trigger_id: str, form: Form, channel_id: str) -> None:
        """A modal for ``form``, on the trigger of the request that asked for it."""
        await self._call("views.open", trigger_id=trigger_id, view=modal(form, channel_id))

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None:
        try:
            await self.client.files_upload_v2(
                channel=channel.id, filename=filename, content=content, initial_comment=comment
            )
        except SlackApiError as exc:
            raise refusal("files.upload", exc) from exc
        except (TimeoutError, OSError, aiohttp.ClientError, SlackClientError) as exc:
            raise PlatformError(f"Slack did not take the upload: {exc}", retryable=True) from exc

    async def resolve_user(self, user_id: str) -> UserRef:
        known = self._users.get(user_id)
        if known is not None:
            return known
        info = (await self._call("users.info", user=user_id)).get("user", {})
        profile = info.get("profile", {})
        name = profile.get("display_name") or profile.get("real_name") or info.get("name")
        return self._users.put(user_id, UserRef(user_id, name or user_id))

    def parse_mention(self, token: str) -> str | None:
        match = _MENTION.match(token)
        return match.group(1) if match else None


def _posted_text(message: dict[str, Any]) -> str:
    """What :meth:`SlackPlatform.recent_posts` says a message was: a card's title as it was
    given (its text is the title, escaped; a card begins with its header), else the text as
    Slack keeps it."""
    text = str(message.get("text", ""))
    blocks = message.get("blocks") or [{}]
    if isinstance(blocks[0], dict) and blocks[0].get("type") == "header":
        return unescape_text(text)
    return text
