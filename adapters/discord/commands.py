"""``/incident`` as a Discord app-command group: one subcommand per command of the grammar,
with typed options. Severities, roles and statuses are choices; services and incidents
autocomplete. Every callback hands (interaction, subcommand, options) to one handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import discord
from discord import app_commands

from bot.config import TocsinConfig
from bot.grammar import COMMANDS
from bot.lifecycle import WORKING

Handler = Callable[[discord.Interaction[Any], str, dict[str, str | None]], Awaitable[None]]
OpenIncidents = Callable[[], Awaitable[list[tuple[int, str]]]]
Interaction = discord.Interaction[Any]
Text = app_commands.Range[str, 1, 3000]
Title = app_commands.Range[str, 1, 200]
INCIDENT = "the incident, e.g. INC-7 (default: the one whose channel this is)"


def _summary(name: str) -> str:
    return next(spec.summary for spec in COMMANDS if spec.name == name)[:100]


def _person(member: discord.abc.User | None) -> str | None:
    return f"<@{member.id}>" if member is not None else None


def _value(choice: app_commands.Choice[str] | None) -> str | None:
    return choice.value if choice is not None else None


def incident_group(
    config: TocsinConfig, handle: Handler, open_incidents: OpenIncidents
) -> app_commands.Group:
    group = app_commands.Group(
        name="incident", description="Declare and run incidents", guild_only=True
    )
    severities = [
        app_commands.Choice(name=f"{key} · {sev.label}"[:100], value=key[3:])
        for key, sev in list(config.severities.items())[:25]
    ]
    roles = [
        app_commands.Choice(name=f"{role}: {text}"[:100], value=role)
        for role, text in list(config.roles.items())[:25]
    ]
    statuses = [app_commands.Choice(name=s.value, value=s.value) for s in WORKING]

    async def services(_i: Interaction, current: str) -> list[app_commands.Choice[str]]:
        names = [n for n in config.services if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    async def incidents(_i: Interaction, current: str) -> list[app_commands.Choice[str]]:
        found = []
        for number, title in await open_incidents():
            label = f"INC-{number} · {title}"
            if current.lower() in label.lower():
                found.append(app_commands.Choice(name=label[:100], value=f"INC-{number}"))
        return found[:25]

    def command(name: str) -> Callable[[Any], Any]:
        return group.command(name=name, description=_summary(name))

    @command("declare")
    @app_commands.describe(
        title="what is wrong, in a line (leave out for a form)",
        severity="how bad",
        service="the service affected",
        description="what is happening",
    )
    @app_commands.choices(severity=severities)
    @app_commands.autocomplete(service=services)
    async def declare(
        i: Interaction,
        title: Title | None = None,
        severity: app_commands.Choice[str] | None = None,
        service: str | None = None,
        description: Text | None = None,
    ) -> None:
        options = {"title": title, "severity": _value(severity)}
        await handle(i, "declare", {**options, "service": service, "description": description})

    @command("ack")
    @app_commands.describe(incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def ack(i: Interaction, incident: str | None = None) -> None:
        await handle(i, "ack", {"incident": incident})

    @command("status")
    @app_commands.describe(status="the new status", message="what changed", incident=INCIDENT)
    @app_commands.choices(status=statuses)
    @app_commands.autocomplete(incident=incidents)
    async def status(
        i: Interaction,
        status: app_commands.Choice[str],
        message: Text | None = None,
        incident: str | None = None,
    ) -> None:
        await handle(
            i, "status", {"status": status.value, "message": message, "incident": incident}
        )

    @command("update")
    @app_commands.describe(message="the update", incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def update(i: Interaction, message: Text, incident: str | None = None) -> None:
        await handle(i, "update", {"message": message, "incident": incident})

    @command("sev")
    @app_commands.describe(severity="the new severity", incident=INCIDENT)
    @app_commands.choices(severity=severities)
    @app_commands.autocomplete(incident=incidents)
    async def sev(
        i: Interaction, severity: app_commands.Choice[str], incident: str | None = None
    ) -> None:
        await handle(i, "sev", {"severity": severity.value, "incident": incident})

    @command("assign")
    @app_commands.describe(role="the role", person="who takes it", incident=INCIDENT)
    @app_commands.choices(role=roles)
    @app_commands.autocomplete(incident=incidents)
    async def assign(
        i: Interaction,
        role: app_commands.Choice[str],
        person: discord.User,
        incident: str | None = None,
    ) -> None:
        options = {"role": role.value, "person": _person(person), "incident": incident}
        await handle(i, "assign", options)

    @command("note")
    @app_commands.describe(text="the note", incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def note(i: Interaction, text: Text, incident: str | None = None) -> None:
        await handle(i, "note", {"text": text, "incident": incident})

    task = app_commands.Group(name="task", description=_summary("task"), parent=group)

    @task.command(name="add", description="add a task")
    @app_commands.describe(text="what needs doing", owner="who does it", incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def task_add(
        i: Interaction, text: Text, owner: discord.User | None = None, incident: str | None = None
    ) -> None:
        options = {"verb": "add", "text": text, "owner": _person(owner), "incident": incident}
        await handle(i, "task", options)

    @task.command(name="done", description="mark a task done")
    @app_commands.describe(number="the task's number", incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def task_done(
        i: Interaction, number: app_commands.Range[int, 1], incident: str | None = None
    ) -> None:
        await handle(i, "task", {"verb": "done", "number": str(number), "incident": incident})

    @command("resolve")
    @app_commands.describe(summary="what fixed it", incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def resolve(
        i: Interaction, summary: Text | None = None, incident: str | None = None
    ) -> None:
        await handle(i, "resolve", {"summary": summary, "incident": incident})

    @command("cancel")
    @app_commands.describe(reason="why it was declared by mistake", incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def cancel(i: Interaction, reason: Text, incident: str | None = None) -> None:
        await handle(i, "cancel", {"reason": reason, "incident": incident})

    @command("list")
    @app_commands.describe(scope="open incidents (default) or all")
    @app_commands.choices(scope=[app_commands.Choice(name=s, value=s) for s in ("open", "all")])
    async def list_(i: Interaction, scope: app_commands.Choice[str] | None = None) -> None:
        await handle(i, "list", {"scope": _value(scope)})

    @command("export")
    @app_commands.describe(format="the file format", incident=INCIDENT)
    @app_commands.choices(format=[app_commands.Choice(name="Markdown", value="md")])
    @app_commands.autocomplete(incident=incidents)
    async def export(
        i: Interaction, format: app_commands.Choice[str] | None = None, incident: str | None = None
    ) -> None:
        await handle(i, "export", {"format": _value(format), "incident": incident})

    for name in ("roles", "tasks", "close", "timeline"):
        _bare_on_incident(group, name, handle, incidents)

    @command("help")
    async def help_(i: Interaction) -> None:
        await handle(i, "help", {})

    return group


def _bare_on_incident(
    group: app_commands.Group,
    name: str,
    handle: Handler,
    incidents: Callable[[Interaction, str], Coroutine[Any, Any, list[app_commands.Choice[str]]]],
) -> None:
    """A subcommand whose only option is the incident."""

    @app_commands.describe(incident=INCIDENT)
    @app_commands.autocomplete(incident=incidents)
    async def callback(i: Interaction, incident: str | None = None) -> None:
        await handle(i, name, {"incident": incident})

    group.add_command(
        app_commands.Command(name=name, description=_summary(name), callback=callback)
    )
