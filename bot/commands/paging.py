"""The paging commands of ``/incident``: ``escalate`` (page the next level now), ``snooze``
(silence the ack timeout for a while) and ``pages`` (who was paged, and what came of it).
The facts are :mod:`bot.paging`'s; they run in the incident service's change, like every
other change to an incident."""

from __future__ import annotations

from datetime import datetime

from bot import paging
from bot.commands.call import Call
from bot.commands.registry import Arg, CommandSpec, Registry
from bot.incidents import Effects
from bot.ui import Reply
from storage.models import Incident
from storage.repo import Store

ROOT = "incident"


def register(registry: Registry) -> None:
    respond = "incident.respond"
    for spec in (
        CommandSpec(
            ROOT,
            ("escalate",),
            "page the next level of the escalation policy now",
            escalate,
            args=(Arg("reason", "text", "why", max_length=500),),
            on_incident=True,
            public=True,
            permission=respond,
            details="While paging, the level due next is paged at once; once acknowledged "
            "(or when nobody acknowledged), paging starts again from the level after the "
            "latest one paged.",
        ),
        CommandSpec(
            ROOT,
            ("snooze",),
            "silence the ack timeout for a while",
            snooze,
            args=(
                Arg(
                    "duration",
                    "duration",
                    "how long, like 30m or 2h",
                    required=True,
                    missing="say for how long: /incident snooze 30m",
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
            details="Only once acknowledged, and only for a severity with an ack_timeout: "
            "it is paged again from level 1 when the snooze ends, unless resolved by then.",
        ),
        CommandSpec(
            ROOT,
            ("pages",),
            "who was paged, and whether it reached them",
            pages,
            on_incident=True,
            permission="incident.read",
        ),
    ):
        registry.add(spec)


async def escalate(call: Call) -> Reply:
    reason = call.values.get("reason", "")
    wiring = call.services.wiring
    done: list[paging.Escalated] = []

    async def change(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
        e.card = False
        step = await paging.escalate(wiring, store, incident, call.actor.person, reason, now)
        e.rows += step.rows
        done.append(step)

    view = await call.services.incidents.change(call.number, call.actor, change)
    return call.reply("escalated", view=view, level=done[0].level, round=done[0].round)


async def snooze(call: Call) -> Reply:
    length = call.values["duration"]
    wiring = call.services.wiring
    until: list[datetime] = []

    async def change(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
        e.card = False
        at, rows = await paging.snooze(wiring, store, incident, call.actor.person, length, now)
        e.rows += rows
        until.append(at)

    view = await call.services.incidents.change(call.number, call.actor, change)
    return call.reply("snoozed", view=view, until=until[0], length=length)


async def pages(call: Call) -> Reply:
    wiring = call.services.wiring
    view = await wiring.views.summary(call.number)
    async with wiring.sessions() as session:
        found = await Store(session).pages(call.number)
    return call.text("pages", view=view, pages=found)
