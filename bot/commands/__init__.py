"""Tocsin's commands: the registry (:mod:`.registry`), the parser (:mod:`.parse`), and the
commands of each root (:mod:`.incident`, :mod:`.oncall`)."""

from __future__ import annotations

from bot.commands.registry import Registry


def default_registry() -> Registry:
    """Every command Tocsin has, under every root."""
    from bot.commands import incident, oncall, paging

    registry = Registry()
    incident.register(registry)
    paging.register(registry)
    oncall.register(registry)
    return registry
