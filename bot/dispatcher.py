"""One door in: adapters hand over :class:`Command`/:class:`Action` objects and get a
:class:`Reply` back. The registry says which command it is; the parser checks it; its
handler writes the facts (the effects follow through the worker) and says what to answer.
:class:`UserError` becomes a friendly message; anything else is logged with a traceback
and the person gets a short apology with an error id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot.capture import ChannelCapture, HeldEvents
from bot.commands.call import Call, Services
from bot.commands.help import help_reply
from bot.commands.parse import Invocation, Parser, UnknownCommand
from bot.commands.registry import CommandSpec
from bot.commands.values import mentions_incident
from bot.errors import PlatformError, UserError
from bot.identity import Actor, Person
from bot.inbound import Action, ChannelEvent, Command
from bot.incidents import IncidentService, saved
from bot.lifecycle import WORKING
from bot.platform import ChannelRef, ChatPlatform, UserRef
from bot.ui import Card, Choice, Form, FormField, Reply
from bot.wiring import Wiring

log = logging.getLogger(__name__)


_WHY_NO_LONGER_VALID = {
    "button": "it is from an older card or version of Tocsin.",
    "form": (
        "Tocsin can no longer read it (it restarted or changed since the form was opened, "
        "or the form was left open too long). Close it and start again from a command or "
        "the incident's card."
    ),
    "command": "it is from an older version of Tocsin's commands.",
}
"""Why a button, form or command is no longer valid: the one wording of every platform."""


class Dispatcher:
    def __init__(self, wiring: Wiring, service: IncidentService) -> None:
        self._w = wiring
        self.parser = Parser(wiring.registry, wiring.config)
        self.services = Services(wiring, service, self.parser)
        self._capture = ChannelCapture(wiring)
        self.held_events = HeldEvents(self._capture.capture)
        """Channel events of platforms that never send one again, held while the database
        does not answer (the Discord adapter captures through it)."""

    async def command(self, command: Command) -> Reply:
        platform = self._w.platforms[command.platform]
        actor = self._actor(command.platform, command.actor, command.channel, command.reply_to)

        async def run() -> Reply:
            is_mention = self._is_mention(platform)
            try:
                if command.options is None:
                    here = None
                    if mentions_incident(command.text) and command.channel is not None:
                        here = await self.services.incidents.incident_in(
                            platform.name, command.channel.id
                        )
                    invocation = self.parser.parse(command.root, command.text, is_mention, here)
                else:
                    invocation = self.parser.build(
                        command.root, command.text, command.options, is_mention
                    )
            except UnknownCommand as exc:
                call = self._call_for_help(exc.root, actor, platform)
                return help_reply(call, exc.root, unknown=exc.word, suggestion=exc.suggestion)
            return await self._invoke(invocation, actor, platform)

        return await self._guard(platform, run)

    async def action(self, action: Action) -> Reply:
        """A button click (run its command, or show its form) or a form submission."""
        platform = self._w.platforms[action.platform]
        actor = self._actor(action.platform, action.actor, action.channel, action.reply_to)

        async def run() -> Reply:
            spec = self._w.registry.by_key(action.name)
            if spec is None:
                what = "form" if action.submitted or action.values else "button"
                return self.no_longer_valid(platform.name, what)
            if action.values:
                fields = dict(action.values)
                if action.incident_id is not None:
                    fields["incident"] = str(action.incident_id)
                invocation = self.parser.build(
                    spec.root, spec.name, fields, self._is_mention(platform)
                )
            elif spec.button is not None and spec.button.form:
                if action.incident_id is not None:  # a card drawn before the last change
                    incident = (await self._w.views.summary(action.incident_id)).incident
                    if incident.status not in spec.button.when:
                        raise UserError(
                            f"INC-{incident.id} is {incident.status} now: the "
                            f"{spec.button.label} button no longer applies."
                        )
                return Reply(form=self.form(spec, action.incident_id))
            else:
                invocation = Invocation(spec, incident=action.incident_id)
                missing = next((a for a in spec.args if a.required), None)
                if missing is not None:
                    raise UserError(self.parser.missing(spec, missing))
            return await self._invoke(invocation, actor, platform)

        return await self._guard(platform, run)

    def no_longer_valid(self, platform_name: str, what: str) -> Reply:
        """The answer to a ``what`` (``button``, ``form``, ``command``) that Tocsin does not
        know (an old card, a removed action, a form from before a restart): every
        interaction gets one, so that the platform never says it failed. The dispatcher
        says so itself for an action it does not know; an adapter asks here for what only
        it can tell (a form it no longer holds, a command its platform still shows)."""
        message = f"this {what} is no longer valid: {_WHY_NO_LONGER_VALID[what]}"
        return Reply(self.refusal(platform_name, message), ok=False, stale=True)

    def failed(
        self, platform_name: str, error: BaseException, what: str, *, saved: bool = False
    ) -> Reply:
        """The answer to a request that failed on our side (a bug, here or in an adapter):
        logged with its traceback and an error id, which the answer quotes, saying whether
        what was asked was ``saved``."""
        error_id = uuid.uuid4().hex[:8]
        log.error(
            "error %s while handling a %s on %s", error_id, what, platform_name, exc_info=error
        )
        platform = self._w.platforms[platform_name]
        text = self._w.presenter.render(
            platform, "error", message="", error_id=error_id, saved=saved
        )
        return Reply(text, ok=False)

    def refusal(self, platform_name: str, message: str) -> str:
        """``message`` as the error template shows it on the platform (a refusal: no
        error id, nothing logged)."""
        platform = self._w.platforms[platform_name]
        return self._w.presenter.render(platform, "error", message=message, error_id=None)

    async def channel_event(self, event: ChannelEvent) -> bool:
        """Capture a message, edit, deletion, pin or arrival in an incident's channel onto
        its timeline; ``False`` if there was nothing to record. Never raises: a failure is
        logged, since there is nobody to answer."""
        try:
            return await self._capture.capture(event)
        except Exception:
            log.exception("could not capture a %s event from %s", event.kind, event.platform)
            return False

    async def store_channel_event(self, event: ChannelEvent) -> bool:
        """:meth:`channel_event` for a platform that sends an event again when told it was
        not taken (Slack): a failure to store it is raised, for the adapter to say so.
        Capture is idempotent, so the event sent again is recorded once."""
        return await self._capture.capture(event)

    async def open_incidents(self) -> list[tuple[int, str]]:
        """(number, title) of the open incidents, newest first: for pickers and autocomplete."""
        return [(i.id or 0, i.title) for i in await self.services.incidents.incidents("open")]

    async def card_for_channel(self, platform_name: str, channel_id: str) -> Card | None:
        """The card of the incident whose channel this is (to show it again), if any."""
        number = await self.services.incidents.incident_in(platform_name, channel_id)
        if number is None:
            return None
        view = await self._w.views.summary(number)
        return self._w.presenter.card(view, self._w.platforms[platform_name])

    def form(self, spec: CommandSpec, incident: int | None) -> Form:
        """The command's form, its fields drawn from its arguments."""
        config = self._w.config
        fields = []
        for arg in spec.args:
            choices: tuple[Choice, ...] = ()
            initial = ""
            if arg.kind == "severity":
                choices = tuple(
                    Choice(key[3:], f"{key} · {sev.label}")
                    for key, sev in config.severities.items()
                )
                initial = str(config.default_level)
            elif arg.kind == "status":
                choices = tuple(Choice(s.value, s.value) for s in WORKING)
            elif arg.kind == "role":
                choices = tuple(Choice(r, r) for r in config.roles)
            elif arg.kind == "service":
                choices = tuple(Choice(name, name) for name in config.services)
            elif arg.kind == "choice":
                choices = tuple(Choice(c, c) for c in arg.choices)
            elif arg.kind == "switch":
                choices = (Choice("no", "no"), Choice("yes", "yes"))
            fields.append(
                FormField(
                    arg.name,
                    arg.label or arg.help.capitalize(),
                    required=arg.required or arg.form_required,
                    max_length=arg.max_length if arg.kind == "text" else 100,
                    multiline=arg.multiline,
                    choices=choices,
                    initial=initial,
                )
            )
        ref = f"INC-{incident}" if incident is not None else ""
        return Form(
            title=spec.form_title.format(ref=ref) or spec.summary.capitalize(),
            action=spec.key,
            fields=tuple(fields),
            submit_label=spec.submit_label,
            incident_id=incident,
        )

    def check_answer(self, platform_name: str, form: Form, field: str, answer: str) -> str | None:
        """What is wrong with ``answer`` to one field of ``form``, checked as the form's
        submission will be (rendered for the platform), or ``None``: for a platform that
        asks one field at a time and can ask it again (the shell)."""
        spec = self._w.registry.by_key(form.action)
        arg = next((a for a in spec.args if a.name == field), None) if spec else None
        if spec is None or arg is None:
            return None  # the submission says what is wrong
        platform = self._w.platforms[platform_name]
        try:
            self.parser.value(spec, arg, answer, self._is_mention(platform))
        except UserError as exc:
            return self._w.presenter.render(platform, "error", message=str(exc), error_id=None)
        return None

    # inside

    def _actor(
        self, platform: str, user: UserRef, channel: ChannelRef, reply_to: str | None
    ) -> Actor:
        person = self._w.directory.person(platform, user)
        return Actor(platform, person, channel, user_id=user.id, reply_to=reply_to)

    @staticmethod
    def _is_mention(platform: ChatPlatform) -> Callable[[str], bool]:
        return lambda token: platform.parse_mention(token) is not None

    def _call_for_help(self, root: str, actor: Actor, platform: ChatPlatform) -> Call:
        spec = self._w.registry.get(root, ("help",))
        assert spec is not None, f"/{root} has no help command"
        return Call(spec, actor, platform, self.services)

    async def _invoke(self, invocation: Invocation, actor: Actor, platform: ChatPlatform) -> Reply:
        spec = invocation.spec
        if invocation.form:
            return Reply(form=self.form(spec, invocation.incident))
        number = None
        if spec.on_incident:
            number = invocation.incident
            if number is None and actor.channel is not None:
                number = await self.services.incidents.incident_in(platform.name, actor.channel.id)
            if number is None:
                raise UserError(
                    f"'{spec.name}' acts on an incident: run it in the incident's channel, or "
                    f"name it, e.g. /{spec.root} {spec.name} INC-7."
                )
        values: dict[str, Any] = dict(invocation.values)
        for arg in spec.args:
            if arg.kind == "person" and arg.name in values:
                values[arg.name] = await self._person(platform, values[arg.name])
        call = Call(spec, actor, platform, self.services, number, values)
        return await spec.handler(call)

    async def _person(self, platform: ChatPlatform, token: str) -> Person:
        user_id = platform.parse_mention(token)
        if user_id is None:
            raise UserError(f"'{token}' is not a person; mention them, like @name.")
        return self._w.directory.person(platform.name, await platform.resolve_user(user_id))

    async def _guard(self, platform: ChatPlatform, run: Callable[[], Awaitable[Reply]]) -> Reply:
        token = saved.set(False)
        try:
            return await run()
        except (UserError, PlatformError) as exc:
            # A PlatformError that gets this far came before anything was saved (a user
            # lookup): the platform's refusal is the answer.
            return Reply(
                self._w.presenter.render(platform, "error", message=str(exc), error_id=None),
                ok=False,
            )
        except Exception as exc:
            return self.failed(platform.name, exc, "request", saved=saved.get())
        finally:
            saved.reset(token)
