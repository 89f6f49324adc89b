"""Slack as a :class:`~bot.platform.ChatPlatform`, over slack-sdk's AsyncWebClient.

429s are retried after ``Retry-After`` (slack-sdk's retry handler), and posting keeps to
Slack's one message per second per channel.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.blocks import card_blocks, card_text
from adapters.slack.dialect import SlackDialect
from bot.errors import ChannelNameTaken, PlatformError
from bot.platform import ChannelRef, ChannelRules, MessageRef, UserRef
from bot.ui import Card

_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{6,}$")
IGNORED_ERRORS = {"already_in_channel", "cant_invite_self", "already_pinned"}


def make_client(token: str, base_url: str | None) -> AsyncWebClient:
    client = AsyncWebClient(token=token, base_url=base_url or AsyncWebClient.BASE_URL)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=3))
    return client


async def check_token(token: str, base_url: str | None, *, socket_mode: bool) -> tuple[bool, str]:
    """Ask Slack who the token belongs to: proves the token and the API URL. Returns
    (ok, a line for ``tocsin check-config``)."""
    client = make_client(token, base_url)
    try:
        who = await client.auth_test()
    except SlackApiError as exc:
        return False, f"✗ Slack: the token was refused: {exc.response.get('error')}"
    except (OSError, SlackClientError) as exc:
        return False, f"✗ Slack: cannot reach {client.base_url}: {exc}"
    mode = "Socket Mode" if socket_mode else "HTTP mode at /slack/events"
    return True, f"✓ Slack: bot @{who.get('user')} in {who.get('team')}, {mode}"


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
    ) -> None:
        self.client = client
        self._interval = per_channel_interval
        self._monotonic = monotonic
        self._last_post: dict[str, float] = {}
        self._channel_locks: dict[str, asyncio.Lock] = {}
        self._names: dict[str, ChannelRef] = {}
        self._users: dict[str, UserRef] = {}

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call a Web API method; Slack's refusal becomes a :class:`PlatformError`."""
        try:
            response = await getattr(self.client, method.replace(".", "_"))(**params)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown_error"))
            if error in IGNORED_ERRORS:
                return dict(exc.response.data) if isinstance(exc.response.data, dict) else {}
            if error == "name_taken":
                raise ChannelNameTaken(params.get("name", "")) from exc
            raise PlatformError(f"Slack refused {method}: {error}") from exc
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _paced(self, channel_id: str, method: str, **params: Any) -> dict[str, Any]:
        """Post to ``channel_id`` no faster than Slack's one message per second."""
        lock = self._channel_locks.setdefault(channel_id, asyncio.Lock())
        async with lock:
            wait = self._last_post.get(channel_id, -1e9) + self._interval - self._monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self.call(method, channel=channel_id, **params)
            finally:
                self._last_post[channel_id] = self._monotonic()

    async def create_channel(
        self, name: str, topic: str, near: ChannelRef | None = None
    ) -> ChannelRef:
        created = await self.call("conversations.create", name=name, is_private=False)
        ref = ChannelRef(created["channel"]["id"], created["channel"]["name"])
        self._names[ref.name] = ref
        await self.set_topic(ref, topic)
        await self.call("conversations.setPurpose", channel=ref.id, purpose=topic[:250])
        return ref

    async def find_channel(self, name: str, near: ChannelRef | None = None) -> ChannelRef:
        """By id (``C0123ABCD``, best) or by name (``#incidents``, looked up once)."""
        name = name.removeprefix("#")
        if _CHANNEL_ID.match(name):
            return ChannelRef(name, name)
        if name not in self._names:
            cursor = None
            while name not in self._names:
                page = await self.call(
                    "conversations.list",
                    limit=1000,
                    cursor=cursor,
                    exclude_archived=True,
                    types="public_channel",
                )
                for channel in page.get("channels", []):
                    self._names[channel["name"]] = ChannelRef(channel["id"], channel["name"])
                cursor = page.get("response_metadata", {}).get("next_cursor")
                if not cursor:
                    break
        if name not in self._names:
            raise PlatformError(f"there is no Slack channel #{name} (or the bot cannot see it)")
        return self._names[name]

    async def invite(self, channel: ChannelRef, user_ids: list[str]) -> None:
        if user_ids:
            await self.call("conversations.invite", channel=channel.id, users=",".join(user_ids))

    async def set_topic(self, channel: ChannelRef, topic: str) -> None:
        await self.call("conversations.setTopic", channel=channel.id, topic=topic[:250])

    async def post_card(self, channel: ChannelRef, card: Card, *, pin: bool = False) -> MessageRef:
        posted = await self._paced(
            channel.id, "chat.postMessage", text=card_text(card), blocks=card_blocks(card)
        )
        ref = MessageRef(posted["channel"], posted["ts"])
        if pin:
            await self.call("pins.add", channel=ref.channel_id, timestamp=ref.id)
        return ref

    async def update_card(self, message: MessageRef, card: Card) -> None:
        await self.call(
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

    async def post_ephemeral(self, channel_id: str, user_id: str, text: str) -> None:
        await self.call("chat.postEphemeral", channel=channel_id, user=user_id, text=text)

    async def post_dm(self, user_id: str, text: str) -> MessageRef:
        opened = await self.call("conversations.open", users=user_id)
        return await self.post_message(ChannelRef(opened["channel"]["id"], user_id), text)

    async def upload_file(
        self, channel: ChannelRef, filename: str, content: bytes, comment: str
    ) -> None:
        try:
            await self.client.files_upload_v2(
                channel=channel.id, filename=filename, content=content, initial_comment=comment
            )
        except SlackApiError as exc:
            raise PlatformError(f"Slack refused the upload: {exc.response.get('error')}") from exc

    async def archive_channel(self, channel: ChannelRef) -> None:
        await self.call("conversations.archive", channel=channel.id)

    async def resolve_user(self, user_id: str) -> UserRef:
        if user_id not in self._users:
            info = (await self.call("users.info", user=user_id)).get("user", {})
            profile = info.get("profile", {})
            name = profile.get("display_name") or profile.get("real_name") or info.get("name")
            self._users[user_id] = UserRef(user_id, name or user_id)
        return self._users[user_id]

    def parse_mention(self, token: str) -> str | None:
        match = _MENTION.match(token)
        return match.group(1) if match else None
