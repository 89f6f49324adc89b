"""The bolt app: slash commands, buttons, modals and channel events → the core's dispatcher.

A command is acknowledged once its facts are saved (the transaction is quick; its effects
run after, in the worker), so an acknowledged command is never lost: the answer is the
acknowledgement itself, or, for a declare, the worker's answer through ``response_url``
once the channel exists. A button or a form is answered through ``response_url`` or an
ephemeral message after its acknowledgement.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from adapters.slack import translate
from adapters.slack.blocks import FORM_PREFIX
from adapters.slack.platform import SlackPlatform
from bot.background import Background
from bot.dispatcher import Dispatcher
from bot.errors import PlatformError
from bot.inbound import ChannelEvent
from bot.platform import UserRef
from bot.ui import Form, Reply

log = logging.getLogger(__name__)
EVENTS = ("message", "pin_added", "reaction_added", "member_joined_channel")


class SlackAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: SlackPlatform,
        signing_secret: str,
        *,
        roots: Sequence[str] = ("incident",),
        app_token: str | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self.platform = platform
        self._background = Background("Slack")
        # Listeners finish before bolt answers: a command's facts are saved before its ack.
        self.bolt = AsyncApp(
            client=platform.client,
            signing_secret=signing_secret or None,
            process_before_response=True,
            request_verification_enabled=app_token is None,
            logger=logging.getLogger("tocsin.slack.bolt"),
        )
        names = "|".join(re.escape(root) for root in roots)
        self.bolt.command(re.compile(f"^/({names})$"))(self._on_command)
        self.bolt.action({"action_id": re.compile(r"^tocsin:")})(self._on_button)
        forms = re.compile("^" + re.escape(FORM_PREFIX))
        self.bolt.view({"callback_id": forms, "type": "view_submission"})(self._on_submit)
        for name in EVENTS:
            self.bolt.event(name)(self._on_event)
        # Socket Mode has no HTTP request to sign: bolt skips the signature check there.
        self._socket = AsyncSocketModeHandler(self.bolt, app_token) if app_token else None

    async def connect(self) -> None:
        """Open the Socket Mode connection, when configured (HTTP mode needs nothing)."""
        if self._socket is not None:
            await self._socket.connect_async()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Stop taking requests, then finish the answers already under way."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        await self.drain()

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: commands, interactivity and events on one URL."""
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def drain(self) -> None:
        """Wait for the answers still being sent after their ack (shutdown, tests)."""
        await self._background.drain()

    async def _on_command(self, ack: Any, body: dict[str, Any]) -> None:
        reply = await self._dispatcher.command(translate.command(body))
        if reply.form is not None:
            await ack()
            self._open(reply.form, body)
        elif reply.interim or not reply.text:
            await ack()  # the final answer comes through response_url once it is ready
        else:
            await ack(text=reply.text, response_type=_visibility(reply))

    async def _on_button(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        action = translate.button(body)
        if action is None:
            await ack()
            return
        reply = await self._dispatcher.action(action)
        await ack()
        if reply.form is not None:
            self._open(reply.form, body)
        elif reply.text and not reply.interim:
            self._background.spawn(
                respond(text=reply.text, replace_original=False, response_type=_visibility(reply)),
                "answer",
            )

    async def _on_submit(self, ack: Any, body: dict[str, Any]) -> None:
        action = translate.submission(body)
        reply = await self._dispatcher.action(action)
        await ack()
        if reply.text and not reply.interim and action.reply_to:
            self._background.spawn(self._tell(action.reply_to, reply), "answer")

    def _open(self, form: Form, body: dict[str, Any]) -> None:
        channel = body.get("channel_id") or (body.get("channel") or {}).get("id", "")
        trigger = str(body.get("trigger_id", ""))
        self._background.spawn(self.platform.open_form(trigger, form, channel), "form")

    async def _tell(self, reply_to: str, reply: Reply) -> None:
        """An ephemeral message where the form was opened, or a DM when that fails."""
        try:
            await self.platform.answer(reply_to, reply.text, public=False)
        except PlatformError:
            user_id = reply_to.rpartition(":")[2]
            log.info("could not answer a form in its channel; sending a DM instead")
            await self.platform.post_dm(user_id, reply.text)

    async def _on_event(self, event: dict[str, Any], context: Any) -> None:
        captured = translate.channel_event(event, context.get("bot_user_id"))
        if captured is not None:
            await self._dispatcher.channel_event(await self._named(captured))

    async def _named(self, event: ChannelEvent) -> ChannelEvent:
        """The same event, with the author's display name rather than their id."""
        try:
            user = await self.platform.resolve_user(event.actor.id)
        except PlatformError:
            user = UserRef(event.actor.id, event.actor.id)
        return ChannelEvent(
            event.platform,
            event.channel_id,
            event.kind,
            event.message_id,
            user,
            event.at,
            event.text,
        )


def _visibility(reply: Reply) -> str:
    return "ephemeral" if reply.ephemeral else "in_channel"
