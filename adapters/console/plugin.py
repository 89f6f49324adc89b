"""The local shell as a platform plugin: ``tocsin shell``, Tocsin in a terminal with no
chat account. It never mounts into ``tocsin run``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bot.plugins import Check, CliCommand, Host, Mounted

if TYPE_CHECKING:
    from bot.config import TocsinConfig
    from bot.settings import Settings


class ConsolePlugin:
    name = "console"
    variables: Mapping[str, str] = MappingProxyType({})
    config_model = None

    def configured(self, settings: Settings) -> bool:
        return False  # the shell runs on its own: tocsin shell

    async def mount(self, host: Host) -> Mounted:
        # Never called: tocsin run mounts only plugins whose configured() is true.
        raise AssertionError("the local shell runs as `tocsin shell`, never in `tocsin run`")

    async def check(self, settings: Settings, config: TocsinConfig) -> list[Check]:
        return []

    def add_commands(self, commands: Any) -> dict[str, CliCommand]:
        shell = commands.add_parser(
            "shell", help="run incidents in this terminal, no chat account needed"
        )
        from bot.cli import channel_argument, person_argument

        shell.add_argument(
            "--as",
            dest="user",
            type=person_argument,
            help="who you are, like bob (default: your login name)",
        )
        shell.add_argument(
            "--channel",
            type=channel_argument,
            help="channel to start in (default: the announce channel)",
        )
        return {"shell": run_shell}


async def run_shell(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.console.platform import ConsolePlatform, valid_channel
    from adapters.console.shell import Shell
    from bot.app import open_core
    from bot.cli import login
    from bot.config import load_config
    from bot.plugins import config_models, discover

    config = load_config(settings.config_path, config_models(discover()))
    console = ConsolePlatform(sys.stdout)
    core = await open_core(settings, {console.name: console}, config=config)
    try:
        assert core.worker is not None
        await core.worker.start()
        shell = Shell(
            core.dispatcher,
            console,
            sys.stdin,
            user=args.user or login(),
            channel=args.channel or valid_channel(config.incident.announce_channel) or "incidents",
            interactive=sys.stdin.isatty(),
            settle=core.settle,
        )
        await shell.run()
    finally:
        await core.aclose()
    return 0
