"""``/oncall``: who is on call. Only ``help`` for now; the on-call issue adds schedules."""

from __future__ import annotations

from bot.commands.call import Call
from bot.commands.incident import help_reply
from bot.commands.registry import Arg, CommandSpec, Registry, Root
from bot.ui import Reply

ROOT = "oncall"


def register(registry: Registry) -> None:
    registry.add_root(Root(ROOT, "On-call schedules", bare="help"))
    registry.add(
        CommandSpec(
            ROOT,
            ("help",),
            "the /oncall commands",
            help_,
            args=(Arg("command", "text", "a command, for more on it", max_length=100),),
            permission="oncall.read",
        )
    )


async def help_(call: Call) -> Reply:
    return help_reply(call, ROOT, call.values.get("command"))
