"""``/oncall``: who is on call now, until when, and who is next, for every schedule or one
(``/oncall primary``); typed alone, every schedule. ``help`` as under every root."""

from __future__ import annotations

from bot.commands.call import Call
from bot.commands.help import help_spec
from bot.commands.registry import Arg, CommandSpec, Registry, Root
from bot.oncall import standings
from bot.ui import Reply

ROOT = "oncall"


def register(registry: Registry) -> None:
    registry.add_root(Root(ROOT, "On-call schedules", bare="now", default="now"))
    registry.add(
        CommandSpec(
            ROOT,
            ("now",),
            "who is on call now, until when, and who is next",
            now,
            args=(Arg("schedule", "schedule", "only this schedule"),),
            permission="oncall.read",
            details=(
                "Typed alone, /oncall answers this for every schedule; /oncall <schedule> "
                "for one. Times are on each schedule's clock."
            ),
        )
    )
    registry.add(help_spec(ROOT, "the /oncall commands", permission="oncall.read"))


async def now(call: Call) -> Reply:
    wiring = call.services.wiring
    schedules = wiring.config.schedules
    chosen = call.values.get("schedule")
    if chosen is not None:
        schedules = {chosen: schedules[chosen]}
    found = standings(schedules, wiring.clock.now(), wiring.directory)
    return call.reply("oncall", schedules=found)
