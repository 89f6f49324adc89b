"""One door in: adapters hand over :class:`Command`/:class:`Action` objects and get a
:class:`Reply` back. :class:`UserError` becomes a friendly message; anything else is logged
with a traceback and the person gets a short apology with an error id."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from bot.capture import ChannelCapture
from bot.errors import PlatformError, UserError
from bot.grammar import COMMANDS, Grammar, Request, UnknownCommand, check_text
from bot.identity import Actor, Person
from bot.inbound import Action, ChannelEvent, Command
from bot.incidents import IncidentService, Outcome
from bot.lifecycle import WORKING, Status
from bot.platform import ChatPlatform
from bot.ui import Card, Choice, Form, FormField, Reply
from bot.wiring import Wiring

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(self, wiring: Wiring, service: IncidentService) -> None:
        self._w = wiring
        self._service = service
        self._grammar = Grammar(wiring.config)
        self._capture = ChannelCapture(wiring)

    async def command(self, command: Command) -> Reply:
        platform = self._w.platforms[command.platform]
        actor = self._actor(command.platform, command.actor, command.channel)

        async def run() -> Reply:
            if command.root != "incident":
                raise UserError(f"/{command.root} is not a Tocsin command; try /incident help.")

            def is_mention(token: str) -> bool:
                return platform.parse_mention(token) is not None

            try:
                if command.options is None:
                    request = self._grammar.parse(command.text, is_mention)
                else:
                    request = self._grammar.build(command.text, command.options, is_mention)
            except UnknownCommand as exc:
                return self._help(platform, exc.word, exc.suggestion)
            return await self._run(request, actor, platform)

        return await self._guard(platform, run)

    async def action(self, action: Action) -> Reply:
        platform = self._w.platforms[action.platform]
        actor = self._actor(action.platform, action.actor, action.channel)

        async def run() -> Reply:
            return await self._run(self._request_for(action, platform), actor, platform)

        return await self._guard(platform, run)

    async def channel_event(self, event: ChannelEvent) -> bool:
        """Capture a message, edit, deletion, pin or arrival in an incident's channel onto
        its timeline; ``False`` if there was nothing to record. Never raises: a failure is
        logged, since there is nobody to answer."""
        try:
            return await self._capture.capture(event)
        except Exception:
            log.exception("could not capture a %s event from %s", event.kind, event.platform)
            return False

    async def open_incidents(self) -> list[tuple[int, str]]:
        """(number, title) of the open incidents, newest first: for pickers and autocomplete."""
        return [(i.id or 0, i.title) for i in await self._service.incidents("open")]

    async def card_for_channel(self, platform_name: str, channel_id: str) -> Card | None:
        """The card of the incident whose channel this is (to show it again), if any."""
        number = await self._service.incident_in(platform_name, channel_id)
        if number is None:
            return None
        return self._w.presenter.card(
            await self._service.view(number), self._w.platforms[platform_name]
        )

    def _actor(self, platform: str, user: Any, channel: Any) -> Actor:
        return Actor(platform, self._w.directory.person(platform, user), channel)

    def _request_for(self, action: Action, platform: ChatPlatform) -> Request:
        """A button click or form submission, as the command it stands for."""
        name, number = action.name, action.incident_id
        values = dict(action.values)
        if number is not None:
            values["incident"] = str(number)
        if name in ("declare", "status") and action.values:
            return self._grammar.build(
                name, values, lambda token: platform.parse_mention(token) is not None
            )
        if name == "status":
            return Request("status", incident=number, form=True)
        if name in ("ack", "resolve", "close"):
            return Request(name, incident=number)
        raise UserError(
            f"that button ({name}) is not one Tocsin knows; it may be from an older version."
        )

    async def _guard(self, platform: ChatPlatform, run: Callable[[], Awaitable[Reply]]) -> Reply:
        try:
            return await run()
        except (UserError, PlatformError) as exc:
            # A PlatformError that gets this far came before anything was saved (a user
            # lookup, an upload): the platform's refusal is the answer.
            return Reply(
                self._w.presenter.render(platform, "error", message=str(exc), error_id=None),
                ok=False,
            )
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("error %s while handling a request on %s", error_id, platform.name)
            return Reply(
                self._w.presenter.render(platform, "error", message="", error_id=error_id), ok=False
            )

    def _help(
        self, platform: ChatPlatform, unknown: str | None = None, suggestion: str | None = None
    ) -> Reply:
        text = self._w.presenter.render(
            platform, "help", commands=COMMANDS, unknown=unknown, suggestion=suggestion
        )
        return Reply(text, ok=unknown is None)

    async def _run(self, request: Request, actor: Actor, platform: ChatPlatform) -> Reply:
        if request.name == "help":
            return self._help(platform)
        if request.name == "declare":
            return await self._declare(request, actor, platform)
        if request.name == "list":
            incidents = await self._service.incidents(request.scope)
            text = self._w.presenter.render(
                platform, "list", incidents=incidents, scope=request.scope
            )
            return Reply(text)
        number = request.incident or await self._service.incident_in(
            platform.name, actor.channel.id
        )
        if number is None:
            raise UserError(
                f"'{request.name}' acts on an incident: run it in the incident's channel, or "
                f"name it, e.g. /incident {request.name} INC-7."
            )
        return await self._on_incident(request, number, actor, platform)

    async def _on_incident(
        self, request: Request, number: int, actor: Actor, platform: ChatPlatform
    ) -> Reply:
        service, name = self._service, request.name
        if name in ("roles", "tasks", "timeline"):
            view = await service.view(number)
            return Reply(self._w.presenter.render(platform, name, view=view))
        if name == "export":
            return await self._export(number, actor, platform)
        if name == "status" and request.form:
            return Reply(form=self._status_form(number))
        kind, outcome, context = await self._change(request, number, actor, platform)
        return self._reply(platform, kind, outcome, **context)

    async def _change(
        self, request: Request, number: int, actor: Actor, platform: ChatPlatform
    ) -> tuple[str, Outcome, dict[str, object]]:
        """Run a command that changes the incident: (reply kind, outcome, reply context)."""
        service, text = self._service, request.text
        match request:
            case Request(name="ack"):
                return "acknowledged", await service.acknowledge(number, actor), {}
            case Request(name="status", status=str(status)):
                return "status", await service.set_status(number, actor, Status(status), text), {}
            case Request(name="update"):
                return "update", await service.update(number, actor, text), {}
            case Request(name="sev", severity=int(level)):
                return "severity", await service.set_severity(number, actor, level), {}
            case Request(name="assign", role=str(role), person=str(token)):
                person = await self._person(platform, token)
                outcome = await service.assign(number, actor, role, person)
                return "role", outcome, {"person": person, "role": role}
            case Request(name="note"):
                return "note", await service.note(number, actor, text), {}
            case Request(name="task", scope="add"):
                owner = await self._person(platform, request.person) if request.person else None
                outcome = await service.add_task(number, actor, text, owner)
                return "task_added", outcome, {"task": outcome.view.tasks[-1]}
            case Request(name="task", number=int(task)):
                return (
                    "task_done",
                    await service.complete_task(number, actor, task),
                    {"number": task},
                )
            case Request(name="resolve" | "close" | "cancel" as name):
                status = _END_STATUS[name]
                return status.value, await service.end(number, actor, status, text), {}
        raise AssertionError(f"no handler for {request!r}")

    def _reply(self, platform: ChatPlatform, kind: str, outcome: Outcome, **context: Any) -> Reply:
        text = self._w.presenter.render(
            platform, "reply", kind=kind, view=outcome.view, warnings=outcome.warnings, **context
        )
        return Reply(text, ephemeral=False)

    async def _declare(self, request: Request, actor: Actor, platform: ChatPlatform) -> Reply:
        if request.form:
            return Reply(form=self._declare_form())
        outcome = await self._service.declare(
            actor,
            title=request.text,
            severity=request.severity,
            service=request.service,
            description=check_text(request.description),
        )
        return self._reply(platform, "declared", outcome)

    async def _export(self, number: int, actor: Actor, platform: ChatPlatform) -> Reply:
        view = await self._service.view(number)
        content = self._w.presenter.export_markdown(view, self._w.clock.now())
        filename = f"{view.ref.lower()}-timeline.md"
        try:
            await platform.upload_file(
                actor.channel, filename, content.encode(), f"Timeline of {view.ref}"
            )
        except PlatformError as exc:
            raise UserError(f"the export could not be uploaded: {exc}") from exc
        return self._reply(platform, "exported", Outcome(view), filename=filename)

    async def _person(self, platform: ChatPlatform, token: str) -> Person:
        user_id = platform.parse_mention(token)
        if user_id is None:
            raise UserError(f"'{token}' is not a person; mention them, like @name.")
        return self._w.directory.person(platform.name, await platform.resolve_user(user_id))

    def _declare_form(self) -> Form:
        default = self._w.config.default_level
        severities = tuple(
            Choice(key[3:], f"{key} · {sev.label}")
            for key, sev in self._w.config.severities.items()
        )
        services = tuple(Choice(name, name) for name in self._w.config.services)
        return Form(
            title="Declare an incident",
            action="declare",
            submit_label="Declare",
            fields=(
                FormField("title", "Title", max_length=200),
                FormField("severity", "Severity", choices=severities, initial=str(default)),
                FormField("service", "Service", required=False, max_length=100, choices=services),
                FormField("description", "What is happening?", required=False, multiline=True),
            ),
        )

    def _status_form(self, number: int) -> Form:
        return Form(
            title=f"Update INC-{number}",
            action="status",
            incident_id=number,
            submit_label="Post update",
            fields=(
                FormField(
                    "status", "Status", choices=tuple(Choice(s.value, s.value) for s in WORKING)
                ),
                FormField("message", "What changed?", required=False, multiline=True),
            ),
        )


_END_STATUS = {"resolve": Status.RESOLVED, "close": Status.CLOSED, "cancel": Status.CANCELLED}
