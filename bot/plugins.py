"""Platform plugins: how the core finds Slack, Discord, the local shell, or anyone's.

A plugin is found through the entry-point group ``tocsin.platforms`` (``pyproject.toml``)
and contributes its environment variables, its table in ``tocsin.toml`` and the key a
person carries for it (``slack = "U…"``: the plugin's name), its ``check-config`` step,
its CLI subcommands, and how it mounts into ``tocsin run``. The core imports none of them:
a new platform is a new package, with no edit here.

A plugin's module should import its SDK only inside the methods that use it, so that
``tocsin --help`` and ``tocsin shell`` stay fast.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from bot.errors import ConfigError

if TYPE_CHECKING:
    from aiohttp import web
    from pydantic import BaseModel

    from bot.app import Core
    from bot.config import TocsinConfig
    from bot.platform import ChatPlatform
    from bot.settings import Settings

GROUP = "tocsin.platforms"
log = logging.getLogger(__name__)

CliCommand = Callable[[argparse.Namespace, "Settings"], Awaitable[int]]
"""A plugin's CLI subcommand: it gets the parsed arguments and the settings; returns the
exit code."""


@dataclass(frozen=True)
class Check:
    """One line of ``tocsin check-config``: ``ok`` True (✓), False (✗, exit 1) or None (·)."""

    ok: bool | None
    text: str


@dataclass
class Host:
    """What ``tocsin run`` offers a plugin as it mounts: the core, the web server to add its
    routes to, and the settings (the plugin reads its own variables from ``settings.env``)."""

    core: Core
    web: web.Application
    settings: Settings


class Mounted(Protocol):
    """A platform running in ``tocsin run``."""

    @property
    def platform(self) -> ChatPlatform: ...

    async def start(self) -> None:
        """Connect; return once requests can come in."""
        ...

    async def stop(self) -> None:
        """Stop taking requests, and finish the work already acknowledged."""
        ...

    def ended(self) -> Awaitable[Any] | None:
        """What completes when the platform's connection ends for good (Discord closing the
        gateway for a revoked token), so that ``tocsin run`` stops; None if it cannot."""
        ...


class PlatformPlugin(Protocol):
    name: str
    """The platform's name: ``slack``. Also the key of a person's id for it in the config."""
    variables: Mapping[str, str]
    """Its environment variables, each with what it means (``.env.example`` lists them)."""
    config_model: type[BaseModel] | None
    """The model of its own table in ``tocsin.toml`` (``[discord]``), if it has one."""

    def configured(self, settings: Settings) -> bool:
        """Whether ``tocsin run`` should mount it (its token is set); raise
        :class:`~bot.errors.SettingsError` naming the variable (never its secret value)
        when a value is wrong."""
        ...

    async def mount(self, host: Host) -> Mounted: ...

    async def check(self, settings: Settings, config: TocsinConfig) -> list[Check]:
        """Its lines of ``tocsin check-config``: is it configured, does its token work."""
        ...

    def add_commands(self, commands: Any) -> dict[str, CliCommand]:
        """Add its CLI subcommands to ``commands`` (argparse's subparsers); return them by
        name."""
        ...


def discover() -> dict[str, PlatformPlugin]:
    """The installed platform plugins, by name."""
    found: dict[str, PlatformPlugin] = {}
    for point in sorted(entry_points(group=GROUP), key=lambda p: p.name):
        try:
            plugin = point.load()()
        except Exception as exc:  # a broken third-party plugin must not stop Tocsin
            log.error("the platform plugin %r could not be loaded: %s", point.name, exc)
            continue
        if plugin.name in found:
            raise ConfigError(f"two platform plugins are named {plugin.name!r}")
        found[plugin.name] = plugin
    return found


def config_models(plugins: Mapping[str, PlatformPlugin]) -> dict[str, type[BaseModel] | None]:
    """What :func:`bot.config.load_config` needs to know of them."""
    return {name: plugin.config_model for name, plugin in plugins.items()}
