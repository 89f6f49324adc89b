"""``tocsin``: run, migrate, declare, export, check-config, --version, and what each
platform plugin adds (``shell``, ``slack-manifest``, ``discord-invite``).

Everything heavy is imported when a command needs it, so ``tocsin --version`` answers at
once and ``tocsin shell`` imports no chat platform's SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__

if TYPE_CHECKING:
    from bot.plugins import CliCommand, PlatformPlugin
    from bot.settings import Settings


def _parser(
    plugins: dict[str, PlatformPlugin],
) -> tuple[argparse.ArgumentParser, dict[str, CliCommand]]:
    parser = argparse.ArgumentParser(
        prog="tocsin", description="Self-hosted ChatOps incident management."
    )
    parser.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the web server and every configured chat platform")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    declare = sub.add_parser(
        "declare",
        help="declare an incident from here; a running tocsin opens its channel",
    )
    declare.add_argument("title", help="what is wrong, in a line")
    declare.add_argument("--sev", help="the severity: 1-4, sev2 or a label (default SEV3)")
    declare.add_argument("--service", help="the service affected")
    declare.add_argument("--desc", help="what is happening")
    declare.add_argument("--as", dest="user", help="who declares it (default: your login name)")
    exp = sub.add_parser("export", help="print an incident's timeline")
    exp.add_argument("incident", help="INC-<number>")
    exp.add_argument("--format", default="md", choices=["md"], help="output format")
    exp.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    sub.add_parser("check-config", help="explain what is wrong with the configuration, if anything")
    handlers: dict[str, CliCommand] = {}
    for plugin in plugins.values():
        handlers.update(plugin.add_commands(sub))
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list in (["--version"], ["-V"]):
        print(f"tocsin {__version__}")
        return 0
    from bot.errors import ConfigError, TocsinError
    from bot.plugins import discover

    try:
        plugins = discover()
    except ConfigError as exc:
        print(f"tocsin: configuration error:\n{exc}", file=sys.stderr)
        return 2
    parser, handlers = _parser(plugins)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every start-up at INFO; storage.migrate says when it really migrates.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from storage.errors import StorageError

    try:
        return asyncio.run(_main(args, plugins, handlers))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"tocsin: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (TocsinError, StorageError) as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 1


async def _main(
    args: argparse.Namespace,
    plugins: dict[str, PlatformPlugin],
    handlers: dict[str, CliCommand],
) -> int:
    from bot.settings import Settings

    settings = Settings.from_env()
    if args.command in handlers:
        return await handlers[args.command](args, settings)
    if args.command == "run":
        from bot.app import run_server

        await run_server(settings, plugins)
    elif args.command == "migrate":
        from bot.app import open_database
        from storage.engine import safe_url

        engine, state = await open_database(settings, migrate=True)
        await engine.dispose()
        print(f"database {safe_url(settings.database_url)} is at schema revision {state.head}")
    elif args.command == "declare":
        return await _declare(args, settings, plugins)
    elif args.command == "export":
        from bot.app import export

        document = await export(settings, args.incident, args.format)
        if args.output:
            args.output.write_text(document, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(document)
    elif args.command == "check-config":
        return await _check_config(settings, plugins)
    return 0


async def _declare(
    args: argparse.Namespace, settings: Settings, plugins: dict[str, PlatformPlugin]
) -> int:
    from bot.app import declare_offline
    from bot.identity import Person

    fields = {"title": args.title, "severity": args.sev or "", "service": args.service or ""}
    fields["description"] = args.desc or ""
    key = args.user or login()
    view, platform = await declare_offline(settings, plugins, Person(key, key), fields)
    incident = view.incident
    where = (
        "A running `tocsin shell` opens its channel"
        if platform == "console"
        else f"A running `tocsin run` opens its channel on {platform.capitalize()}"
    )
    print(
        f"Declared {view.ref} (SEV{incident.severity} {view.severity.label}): {incident.title}\n"
        f"{where} and announces it."
    )
    return 0


async def _check_config(settings: Settings, plugins: dict[str, PlatformPlugin]) -> int:
    """Each check on its own line, with what to do about a failure."""
    from bot.app import open_database
    from bot.config import load_config
    from bot.errors import ConfigError
    from bot.plugins import config_models
    from storage.engine import safe_url
    from storage.errors import StorageError

    ok = True
    where = settings.config_path or "built-in defaults (no tocsin.toml)"
    try:
        config = load_config(settings.config_path, config_models(plugins))
        print(
            f"✓ config: {where}: {len(config.severities)} severities, "
            f"{len(config.roles)} roles, {len(config.people)} people, "
            f"{len(config.services)} services"
        )
    except ConfigError as exc:
        ok = False
        config = load_config(None)
        print(f"✗ config:\n{exc}")
    try:
        engine, state = await open_database(settings, migrate=False)
        await engine.dispose()
        print(f"✓ database: {safe_url(settings.database_url)} answers, schema at {state.head}")
    except StorageError as exc:
        ok = False
        print(f"✗ database: {exc}")
    for plugin in plugins.values():
        try:
            checks = await plugin.check(settings, config)
        except ConfigError as exc:
            checks = []
            ok = False
            print(f"✗ {plugin.name}: {exc}")
        for check in checks:
            mark = {True: "✓", False: "✗", None: "·"}[check.ok]
            ok = ok and check.ok is not False
            print(f"{mark} {check.text}")
    return 0 if ok else 1


def login() -> str:
    """Who is at this terminal: the login name, as a person key."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "you"
    return re.sub(r"[^A-Za-z0-9._-]", "", name) or "you"


if __name__ == "__main__":
    raise SystemExit(main())
