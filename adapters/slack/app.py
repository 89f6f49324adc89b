"""The bolt app: slash commands, buttons, modals and channel events → the core's dispatcher.

A command is acknowledged once its facts are saved (the transaction is quick; its effects
run after, in the worker), so an acknowledged command is never lost: the answer is the
acknowledgement itself, or, for a declare, the worker's answer through ``response_url``
once the channel exists. A button or a form is answered through ``response_url`` or an
ephemeral message after its acknowledgement; one Tocsin does not know (an old card, a
removed action, a stale modal) is answered that it is no longer valid, in the dispatcher's
words: a button's answer as an ephemeral message, a form's inside the form.

Over HTTP, :mod:`adapters.slack.ingress` checks the signature before anything reads the
request, and the payload's shape before bolt sees it; a request carrying a ``trigger_id``
already taken (a replay) is acknowledged and not run again. A channel event the database
does not take in time is answered 503, so that Slack sends it again; one it refuses is not.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from adapters.slack import ingress, translate
from adapters.slack.blocks import notice
from adapters.slack.platform import SlackPlatform
from bot.background import Background
from bot.dispatcher import Dispatcher
from bot.errors import PlatformError
from bot.inbound import ChannelEvent
from bot.platform import UserRef
from bot.seen import Seen
from bot.ui import Form, Reply
from storage.engine import reason
from storage.errors import refused, unavailable

log = logging.getLogger(__name__)
EVENTS = ("message", "pin_added", "reaction_added", "member_joined_channel")


class _DropTokenWarning(logging.Filter):
    """bolt reads ``SLACK_BOT_TOKEN`` from the environment by itself, then warns that the
    client given to it (which carries that same token) wins: true, and nothing to act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


class SlackAdapter:
    def __init__(
        self,
        dispatcher: Dispatcher,
        platform: SlackPlatform,
        signing_secret: str,
        *,
        roots: Sequence[str] = ("incident",),
        app_token: str | None = None,
        seen: Seen | None = None,
    ) -> None:
        self._dispatcher = dispatcher
        self.platform = platform
        self._secret = signing_secret
        self._seen = seen
        self.store_within = 2.5
        """Seconds a channel event's store is waited for before Slack is answered 503."""
        self._background = Background("Slack")
        bolt_log = logging.getLogger("tocsin.slack.bolt")
        if not any(isinstance(f, _DropTokenWarning) for f in bolt_log.filters):
            bolt_log.addFilter(_DropTokenWarning())
        # Listeners finish before bolt answers: a command's facts are saved before its ack.
        # bolt's own signature check is off: :meth:`handle` checks first, and bolt's would
        # log the whole body of every request it refuses.
        self.bolt = AsyncApp(
            client=platform.client,
            signing_secret=signing_secret or None,
            process_before_response=True,
            request_verification_enabled=False,
            raise_error_for_unhandled_request=True,
            logger=bolt_log,
        )
        self.bolt.error(self._on_error)
        names = "|".join(re.escape(root) for root in roots)
        self.bolt.command(re.compile(f"^/({names})$"))(self._on_command)
        self.bolt.action(re.compile(".*"))(self._on_button)
        self.bolt.view({"callback_id": re.compile(".*"), "type": "view_submission"})(
            self._on_submit
        )
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
        """``POST /slack/events``: commands, interactivity and events on one URL. A request
        without a signature or a fresh timestamp is refused before its body is read (it
        can be a megabyte); the signature is checked before anything reads the body; a
        signed body that cannot be read is answered 400; a ``trigger_id`` already taken is
        acknowledged, not run."""
        now = time.time()
        why = ingress.unsigned(request.headers, now)
        if why is not None:
            return _refused(why)
        raw = await request.read()
        why = ingress.refusal(self._secret, request.headers, raw, now)
        if why is not None:
            return _refused(why)
        try:
            body = ingress.read(raw, request.content_type)
        except ingress.Malformed as exc:
            log.warning("a signed request to /slack/events could not be read: %s", exc)
            return web.json_response({"error": f"malformed request: {exc}"}, status=400)
        trigger = body.get("trigger_id")
        key = f"slack:trigger:{trigger}" if isinstance(trigger, str) and trigger else None
        replayed = self._seen is not None and key is not None and not await self._seen.first(key)
        if replayed:
            log.info("a request whose trigger_id was taken already was not run again")
            return web.Response(status=200)
        # bolt gets the body as JSON, which it reads whatever the request's form: bolt's own
        # reading takes any form containing the word "payload" for an interaction.
        headers: dict[str, str | Sequence[str]] = {
            key.lower(): value for key, value in request.headers.items()
        }
        headers["content-type"] = "application/json"
        try:
            response = await self.bolt.async_dispatch(
                AsyncBoltRequest(body=json.dumps(body), query=request.query_string, headers=headers)
            )
        except BaseException:
            await self._forget(key)
            raise
        if response.status >= 500:  # not carried out: a copy sent again must run
            await self._forget(key)
        return await to_aiohttp_response(response)

    async def _forget(self, key: str | None) -> None:
        if self._seen is not None and key is not None:
            await self._seen.forget(key)

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

    async def _on_button(self, ack: Any, body: dict[str, Any]) -> None:
        action = translate.button(body)
        if action is None:  # not a button of Tocsin's (an app's older buttons)
            reply = self._dispatcher.no_longer_valid(translate.PLATFORM, "button")
        else:
            reply = await self._dispatcher.action(action)
        await ack()
        if reply.form is not None:
            self._open(reply.form, body)
        elif reply.text and not reply.interim:
            self._background.spawn(self._answer_click(body, reply), "answer")

    async def _on_submit(self, ack: Any, body: dict[str, Any]) -> None:
        action = translate.submission(body)
        reply = await self._dispatcher.action(action)
        if reply.stale:  # said in the form itself, where the person is looking
            await ack(response_action="update", view=notice("Tocsin", reply.text))
            return
        await ack()
        if reply.text and not reply.interim and action.reply_to:
            self._background.spawn(self._tell(action.reply_to, reply), "answer")

    async def _answer_click(self, body: dict[str, Any], reply: Reply) -> None:
        """Through the click's ``response_url`` (a new message, the card left as it is),
        or, without one, as an ephemeral message to whoever clicked."""
        reply_to = body.get("response_url")
        if reply_to:
            await self.platform.answer(reply_to, reply.text, public=not reply.ephemeral)
            return
        channel = (body.get("channel") or {}).get("id") or body.get("container", {}).get(
            "channel_id"
        )
        user = (body.get("user") or {}).get("id")
        if channel and user:
            await self.platform.post_ephemeral(channel, user, reply.text)

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

    async def _on_error(self, error: Exception, body: dict[str, Any]) -> None:
        """A signed request no listener takes is answered 404 in one line (bolt's own
        warning quotes parts of the body); a listener that fails is a bug: a traceback."""
        if isinstance(error, BoltUnhandledRequestError):
            kind = ascii(body.get("type") or body.get("command"))[:60]
            log.info("a Slack request Tocsin has no use for (type %s) was answered 404", kind)
            return
        if isinstance(error, aiohttp.ClientConnectionError | TimeoutError):
            # Slack's API did not answer (bolt asks it who the app is first): not a bug.
            log.warning("a Slack request failed: Slack's API did not answer (%s)", reason(error))
            return
        log.error("a Slack listener failed: %s", error, exc_info=error)

    async def _on_event(self, event: dict[str, Any], context: Any) -> BoltResponse | None:
        """Capture the event. When the database does not answer, or not within
        :attr:`store_within` (Slack waits 3 s), answer 503: Slack sends an event again (up
        to three times) when it was not taken, and capture is idempotent, so a late store
        (left to finish) and the copy sent again are recorded once. An event the database
        refuses would be refused again: it is logged and answered 200."""
        captured = translate.channel_event(event, context.get("bot_user_id"))
        if captured is None:
            return None
        storing = asyncio.ensure_future(self._store(captured))
        done, _ = await asyncio.wait({storing}, timeout=self.store_within)
        if not done:
            log.warning(
                "could not store a %s event within %.1f s, so Slack will send it again",
                captured.kind,
                self.store_within,
            )
            self._background.spawn(self._finish(storing, captured.kind), "event")
            return BoltResponse(status=503, body="")
        failure = storing.exception()
        if failure is None:
            return None
        if unavailable(failure):
            log.warning(
                "could not store a %s event, so Slack will send it again: %s",
                captured.kind,
                reason(failure),
            )
            return BoltResponse(status=503, body="")
        _not_stored(captured.kind, failure)
        return None

    async def _store(self, event: ChannelEvent) -> None:
        await self._dispatcher.store_channel_event(await self._named(event))

    async def _finish(self, storing: asyncio.Future[None], kind: str) -> None:
        """A store that took longer than Slack waits: its outcome, once it is known."""
        try:
            await storing
        except Exception as exc:
            if not unavailable(exc):
                _not_stored(kind, exc)

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


def _refused(why: str) -> web.Response:
    log.warning("refused a request to /slack/events: %s", why)
    return web.json_response({"error": "invalid request"}, status=401)


def _not_stored(kind: str, exc: BaseException) -> None:
    """An event that will not be stored however often Slack sends it: the database
    refused it (one line), or a bug (a traceback)."""
    if refused(exc):
        log.error(
            "the database refused a %s event from Slack, which is not recorded: %s",
            kind,
            reason(exc),
        )
    else:
        log.error("could not capture a %s event from Slack", kind, exc_info=exc)


def _visibility(reply: Reply) -> str:
    return "ephemeral" if reply.ephemeral else "in_channel"
