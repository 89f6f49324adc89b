"""Discord's app-command tree, drawn from the command registry: one guild-only group per
root (``/incident``, ``/oncall``), one subcommand per command (two words: a subgroup), one
typed option per argument. Severities, statuses, roles and fixed choices are choices;
services, schedules and incidents autocomplete; a command that acts on an incident takes it
as an ``incident`` option. Every callback hands (interaction, root, path, options) to one
handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord
from discord import app_commands

from bot.commands.registry import Arg, CommandSpec, Registry
from bot.config import TocsinConfig
from bot.lifecycle import WORKING

Handler = Callable[[discord.Interaction[Any], str, str, dict[str, str]], Awaitable[None]]
OpenIncidents = Callable[[], Awaitable[list[tuple[int, str]]]]
Interaction = discord.Interaction[Any]
Choices = list[app_commands.Choice[str]]
INCIDENT = "the incident, e.g. INC-7 (default: the one whose channel this is)"


def groups(
    registry: Registry, config: TocsinConfig, handle: Handler, open_incidents: OpenIncidents
) -> list[app_commands.Group]:
    """The app-command groups of every root, ready for a :class:`CommandTree`."""
    built = []
    for root in registry.roots:
        group = app_commands.Group(
            name=root.name, description=root.description[:100], guild_only=True
        )
        subgroups: dict[str, app_commands.Group] = {}
        for spec in registry.commands(root.name):
            parent = group
            if len(spec.path) == 2:
                first = spec.path[0]
                if first not in subgroups:
                    names = " · ".join(
                        s.name for s in registry.commands(root.name) if s.path[0] == first
                    )
                    subgroups[first] = app_commands.Group(
                        name=first, description=names[:100], parent=group
                    )
                parent = subgroups[first]
            parent.add_command(_command(spec, config, handle, open_incidents))
        built.append(group)
    return built


def _command(
    spec: CommandSpec, config: TocsinConfig, handle: Handler, open_incidents: OpenIncidents
) -> app_commands.Command[Any, ..., None]:
    """One subcommand, its parameters built from the spec's arguments."""

    async def callback(interaction: Interaction, **values: Any) -> None:
        given = {name: _text(value) for name, value in values.items() if value is not None}
        await handle(interaction, spec.root, spec.name, given)

    parameters = [
        inspect.Parameter(
            "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Interaction
        )
    ]
    described: dict[str, str] = {}
    choices: dict[str, Choices] = {}
    completes: dict[str, Any] = {}
    for arg in spec.args:
        kind = _annotation(arg)
        # A command that opens its form when given nothing takes nothing required.
        required = arg.required and not spec.form_if_empty
        parameters.append(
            inspect.Parameter(
                arg.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=inspect.Parameter.empty if required else None,
                annotation=kind if required else kind | None,
            )
        )
        described[arg.name] = arg.help[:100]
        if options := _choices(arg, config):
            choices[arg.name] = options
        if arg.kind == "service":
            completes[arg.name] = _names(config.services)
        if arg.kind == "schedule":
            completes[arg.name] = _names(config.schedules)
    if spec.on_incident:
        parameters.append(
            inspect.Parameter(
                "incident", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=str | None
            )
        )
        described["incident"] = INCIDENT
        completes["incident"] = _incidents(open_incidents)
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    callback.__name__ = callback.__qualname__ = spec.key
    app_commands.describe(**described)(callback)
    if choices:
        app_commands.choices(**choices)(callback)
    if completes:
        app_commands.autocomplete(**completes)(callback)
    return app_commands.Command(
        name=spec.path[-1], description=spec.summary[:100], callback=callback
    )


def _annotation(arg: Arg) -> Any:
    if arg.kind == "person":
        return discord.User
    if arg.kind == "integer":
        return app_commands.Range[int, 1]
    if arg.kind == "text":
        return app_commands.Range[str, 1, min(arg.max_length, 6000)]
    if arg.kind == "switch":
        return bool
    return str


def _choices(arg: Arg, config: TocsinConfig) -> Choices:
    if arg.kind == "severity":
        return [
            app_commands.Choice(name=f"{key} · {sev.label}"[:100], value=key[3:])
            for key, sev in list(config.severities.items())[:25]
        ]
    if arg.kind == "status":
        return [app_commands.Choice(name=s.value, value=s.value) for s in WORKING]
    if arg.kind == "role":
        return [
            app_commands.Choice(name=f"{role}: {text}"[:100], value=role)
            for role, text in list(config.roles.items())[:25]
        ]
    if arg.kind == "choice":
        return [app_commands.Choice(name=c, value=c) for c in arg.choices[:25]]
    return []


def _names(configured: Mapping[str, object]) -> Callable[[Interaction, str], Awaitable[Choices]]:
    """Autocomplete from configured names (services, schedules)."""

    async def complete(_i: Interaction, current: str) -> Choices:
        names = [n for n in configured if current.lower() in n.lower()]
        return [app_commands.Choice(name=n, value=n) for n in names[:25]]

    return complete


def _incidents(open_incidents: OpenIncidents) -> Callable[[Interaction, str], Awaitable[Choices]]:
    async def incidents(_i: Interaction, current: str) -> Choices:
        found = []
        for number, title in await open_incidents():
            label = f"INC-{number} · {title}"
            if current.lower() in label.lower():
                found.append(app_commands.Choice(name=label[:100], value=f"INC-{number}"))
        return found[:25]

    return incidents


def _text(value: Any) -> str:
    """An option's value as the core reads it: a person as their mention token."""
    if isinstance(value, app_commands.Choice):
        return str(value.value)
    if isinstance(value, discord.abc.User):
        return f"<@{value.id}>"
    return str(value)
