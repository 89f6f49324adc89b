"""The local shell as a platform plugin: ``tocsin shell``, Tocsin in a terminal with no
chat account. It never mounts into ``tocsin run``."""

from __future__ import annotations

import argparse
import asyncio
import io
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
            help="channel to start in (default: the announce channel, else #incidents)",
        )
        return {"shell": run_shell}


async def run_shell(args: argparse.Namespace, settings: Settings) -> int:
    """0 at ``quit`` or the end of input, 130 after Ctrl-C (see :mod:`adapters.console.shell`)."""
    from adapters.console.lines import Lines, PipedLines, TerminalLines
    from adapters.console.platform import ConsolePlatform, announce_note, shell_channel
    from adapters.console.shell import Shell
    from bot.app import open_core
    from bot.cli import login
    from bot.config import load_config
    from bot.plugins import config_models, discover

    config = load_config(settings.config_path, config_models(discover()))
    interactive = sys.stdin.isatty()
    lines: Lines
    if interactive and sys.stdout.isatty():
        lines = TerminalLines()
    else:
        # Bytes that are not UTF-8 are a typing mistake to show, not a reason to stop.
        if isinstance(sys.stdin, io.TextIOWrapper):
            sys.stdin.reconfigure(errors="replace")
        lines = PipedLines(sys.stdin, sys.stdout)
    console = ConsolePlatform(lines.out)
    try:
        core = await open_core(settings, {console.name: console}, config=config)
        try:
            assert core.worker is not None
            await core.worker.start()
            if isinstance(lines, TerminalLines) and lines.note:
                console.say(lines.note)
            announce = config.incident.announce_channel
            note = announce_note(announce, starts_there=args.channel is None)
            if note is not None:
                console.say(note)
            shell = Shell(
                core.dispatcher,
                console,
                lines,
                user=args.user or login(),
                channel=args.channel or shell_channel(announce),
                interactive=interactive,
                settle=core.settle,
            )
            return await shell.run()
        except asyncio.CancelledError:  # SIGINT: Ctrl-C while a command runs, or a kill -INT
            lines.interrupted()
            raise
        finally:
            await core.aclose()
    finally:
        lines.close()
