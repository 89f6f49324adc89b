"""``/oncall``: who is on call. Only ``help`` for now; the on-call issue adds schedules."""

from __future__ import annotations

from bot.commands.help import help_spec
from bot.commands.registry import Registry, Root

ROOT = "oncall"


def register(registry: Registry) -> None:
    registry.add_root(Root(ROOT, "On-call schedules", bare="help"))
    registry.add(help_spec(ROOT, "the /oncall commands", permission="oncall.read"))
