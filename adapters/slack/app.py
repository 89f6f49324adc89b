"""The bolt app: slash commands, buttons, modals and channel events → the core's dispatcher.

Every request is acknowledged first (Slack allows 3 seconds) and the work runs in a task;
what the core answers reaches the person through ``response_url``, a modal, or an
ephemeral message, so a failure after the ack is told, never lost.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp

from adapters.slack import translate
from adapters.slack.blocks import FORM_PREFIX, modal
from adapters.slack.platform import SlackPlatform
from bot.background import Background
from bot.dispatcher import Dispatcher
from bot.errors import PlatformError
from bot.inbound import Action, ChannelEvent
from bot.platform import UserRef
from bot.ui import Reply

log = logging.getLogger(__name__)
EVENTS = ("message", "pin_added", "reaction_added", "member_joined_channel")


class SlackAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: SlackPlatform,
        signing_secret: str,
        *,
        app_token: str | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self.platform = platform
        self._background = Background("Slack")
        # Listeners finish before bolt answers: ours only ack and hand the work to a task,
        # except channel events, which are quick and must be recorded in the order sent.
        self.bolt = AsyncApp(
            client=platform.client,
            signing_secret=signing_secret or None,
            process_before_response=True,
            request_verification_enabled=app_token is None,
            logger=logging.getLogger("tocsin.slack.bolt"),
        )
        self.bolt.command("/incident")(self._on_command)
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
        """Stop taking requests, then finish the work already acknowledged."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
        await self.drain()

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: commands, interactivity and events on one URL."""
        response = await self.bolt.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def drain(self) -> None:
        """Wait for the work still running after its ack (on shutdown, and in tests)."""
        await self._background.drain()

    async def _on_command(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        self._background.spawn(self._command(body, respond), "command")

    async def _command(self, body: dict[str, Any], respond: Any) -> None:
        reply = await self._dispatcher.command(translate.command(body))
        await self._answer(reply, body, respond)

    async def _on_button(self, ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        action = translate.button(body)
        if action is not None:
            self._background.spawn(self._action(action, body, respond), "button")

    async def _action(self, action: Action, body: dict[str, Any], respond: Any) -> None:
        await self._answer(await self._dispatcher.action(action), body, respond)

    async def _on_submit(self, ack: Any, body: dict[str, Any]) -> None:
        await ack()
        action = translate.submission(body)
        self._background.spawn(self._submitted(action), "form")

    async def _submitted(self, action: Action) -> None:
        reply = await self._dispatcher.action(action)
        if reply.text:
            await self._tell(action.channel.id, action.actor.id, reply.text)

    async def _answer(self, reply: Reply, body: dict[str, Any], respond: Any) -> None:
        """Show ``reply`` to whoever asked: a modal, or text through ``response_url``."""
        if reply.form is not None:
            channel = body.get("channel_id") or (body.get("channel") or {}).get("id", "")
            await self.platform.call(
                "views.open", trigger_id=body.get("trigger_id", ""), view=modal(reply.form, channel)
            )
        if reply.text:
            await respond(
                text=reply.text,
                replace_original=False,
                response_type="ephemeral" if reply.ephemeral else "in_channel",
            )

    async def _tell(self, channel_id: str, user_id: str, text: str) -> None:
        """An ephemeral message in the channel, or a DM when that is not possible."""
        try:
            if channel_id:
                await self.platform.post_ephemeral(channel_id, user_id, text)
                return
        except PlatformError:
            log.info("could not answer in %s; sending a DM instead", channel_id)
        await self.platform.post_dm(user_id, text)

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
