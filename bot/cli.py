"""``tocsin``: run, migrate, declare, export, check-config, oncall ical, --version, and what
each platform plugin adds (``shell``, ``slack-manifest``, ``discord-invite``).

Everything heavy is imported when a command needs it, so ``tocsin --version`` answers at
once and ``tocsin shell`` imports no chat platform's SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import io
import logging
import os
import re
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bot import __version__
from bot.errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from bot.config import TocsinConfig
    from bot.plugins import Check, CliCommand, PlatformPlugin
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
    declare.add_argument(
        "--sev", help="the severity: a number, sevN or a label (default: the configured one)"
    )
    declare.add_argument("--service", help="the service affected")
    declare.add_argument("--desc", help="what is happening")
    declare.add_argument(
        "--as",
        dest="user",
        type=person_argument,
        help="who declares it, like bob (default: your login name)",
    )
    exp = sub.add_parser("export", help="print an incident's timeline")
    exp.add_argument("incident", help="INC-<number>")
    exp.add_argument("--format", default="md", choices=["md"], help="output format")
    exp.add_argument(
        "--output", "-o", type=Path, help="write to this file ('-': standard output, the default)"
    )
    sub.add_parser("check-config", help="explain what is wrong with the configuration, if anything")
    oncall = sub.add_parser("oncall", help="on-call schedules").add_subparsers(
        dest="oncall", metavar="COMMAND"
    )
    ical = oncall.add_parser(
        "ical", help="print a schedule's shifts as an iCalendar file, for calendar apps"
    )
    ical.add_argument("schedule", help="the schedule's name, as under [schedules] in tocsin.toml")
    ical.add_argument(
        "--days",
        type=days_argument,
        default=28,
        metavar="N",
        help="the shifts from now to this many days ahead (1 to 366, default 28)",
    )
    handlers: dict[str, CliCommand] = {}
    for plugin in plugins.values():
        handlers.update(plugin.add_commands(sub))
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(list(sys.argv[1:] if argv is None else argv))
        finally:
            sys.stdout.flush()  # here, so that a reader gone away is told apart from the rest
    except BrokenPipeError:
        # The reader of our output went away (`tocsin slack-manifest | head -3`): that is
        # no error of ours to report. Point stdout at /dev/null so that Python's own flush
        # at exit does not complain either; exit as a tool killed by SIGPIPE would.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # not a real file (the tests' StringIO)
        return 128 + signal.SIGPIPE


def _run(args_list: list[str]) -> int:
    if args_list in (["--version"], ["-V"]):
        print(f"tocsin {__version__}")
        return 0
    from bot.errors import TocsinError
    from bot.plugins import discover

    try:
        plugins = discover()
    except ConfigError as exc:
        _say_config_error(exc)
        return 2
    parser, handlers = _parser(plugins)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    from bot import logs

    logs.configure(logging.INFO if args.command == "run" else logging.WARNING)
    # Alembic narrates every start-up at INFO; storage.migrate says when it really migrates.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from storage.errors import StorageError

    try:
        return asyncio.run(_main(args, plugins, handlers))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        _say_config_error(exc)
        return 2
    except (TocsinError, StorageError) as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 1


def _say_config_error(exc: Exception) -> None:
    """A wrong variable is one line; a wrong file, one line per problem under a heading."""
    from bot.errors import SettingsError

    if isinstance(exc, SettingsError) or "\n" not in str(exc):
        prefix = "" if isinstance(exc, SettingsError) else "configuration error: "
        print(f"tocsin: {prefix}{exc}", file=sys.stderr)
    else:
        print(f"tocsin: configuration error:\n{exc}", file=sys.stderr)


async def _main(
    args: argparse.Namespace,
    plugins: dict[str, PlatformPlugin],
    handlers: dict[str, CliCommand],
) -> int:
    from bot.settings import Settings

    if args.command == "check-config":
        return await _check_config(plugins)
    settings = Settings.from_env()
    from bot import logs

    logs.use_format(settings.log_format)
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
        return await _export(args, settings)
    elif args.command == "oncall":
        from bot.ical import command

        return command(args, settings, plugins)
    return 0


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    """``tocsin export INC-n [-o FILE]``: to standard output, or ``-o -``, or a file."""
    from bot.app import export

    output: Path | None = None if args.output in (None, Path("-")) else args.output
    if output is not None:
        problem = _unwritable(output)
        if problem:
            print(f"tocsin: -o {output}: {problem}", file=sys.stderr)
            return 2
    document = await export(settings, args.incident, args.format)
    if output is None:
        sys.stdout.write(document)
        return 0
    try:
        with output.open("w", encoding="utf-8") as file:
            file.write(document)
    except OSError as exc:
        from bot.text import os_reason

        print(f"tocsin: cannot write {output}: {os_reason(exc)}", file=sys.stderr)
        return 1
    print(f"wrote {output}", file=sys.stderr)
    return 0


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot be the file to write, when it is a mistake in the command line."""
    if path.is_dir():
        return "is a folder; give a file name, like -o inc-7.md"
    parent = path.parent
    if not parent.is_dir():
        return f"the folder {parent} does not exist"
    return None


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


async def _check_config(plugins: dict[str, PlatformPlugin]) -> int:
    """The whole report, whatever is wrong: a line for the settings, the config file, the
    database and each platform (✓ good, ✗ a problem, · a note), each failure with what to do
    about it. Exit 1 if anything is ✗. It changes nothing and creates no file."""
    from bot.config import load_config
    from bot.plugins import Check, config_models
    from bot.settings import Settings

    settings, problems = Settings.read()
    checks: list[Check] = []

    def section(variable: str) -> list[str]:
        return [str(p) for p in problems if str(p).startswith(f"{variable}")]

    own = ("TOCSIN_CONFIG", "TOCSIN_DATABASE_URL")  # reported under config and database
    core = [str(p) for p in problems if not str(p).startswith(own)]
    checks += [Check(False, f"settings: {p}") for p in core] or [
        Check(True, f"settings: HTTP on {settings.http_host}:{settings.http_port}")
    ]
    config = load_config(None)
    if section("TOCSIN_CONFIG"):
        checks += [Check(False, f"config: {p}") for p in section("TOCSIN_CONFIG")]
    else:
        config, found = _check_config_file(settings, config_models(plugins))
        checks += found
    if section("TOCSIN_DATABASE_URL"):
        checks += [Check(False, f"database: {p}") for p in section("TOCSIN_DATABASE_URL")]
    else:
        checks.append(await _check_database(settings.database_url))
    for plugin in plugins.values():
        try:
            checks += await plugin.check(settings, config)
        except ConfigError as exc:
            checks.append(Check(False, f"{plugin.name.capitalize()}: {exc}"))
    for check in checks:
        print(f"{ {True: '✓', False: '✗', None: '·'}[check.ok] } {check.text}")
    return 1 if any(check.ok is False for check in checks) else 0


def _check_config_file(
    settings: Settings, models: Mapping[str, type[BaseModel] | None]
) -> tuple[TocsinConfig, list[Check]]:
    """The config and its line, or a line per problem (and the defaults, to go on with)."""
    from bot.config import load_config
    from bot.plugins import Check

    where = settings.config_path or "built-in defaults (no tocsin.toml)"
    try:
        config = load_config(settings.config_path, models)
    except ConfigError as exc:
        return load_config(None), [Check(False, f"config: {p}") for p in str(exc).splitlines()]
    from bot.wording import plural

    counts: tuple[str, ...] = (
        plural(len(config.severities), "severity", "severities"),
        plural(len(config.roles), "role"),
        plural(len(config.people), "person", "people"),
        plural(len(config.services), "service"),
    )
    if config.schedules or config.policies:
        counts += (
            plural(len(config.schedules), "schedule"),
            plural(len(config.policies), "escalation policy", "escalation policies"),
        )
    summary = f"config: {where}: {', '.join(counts)}"
    checks = [Check(True, summary)]
    if not config.policies:
        checks.append(
            Check(None, "config: no [policies]: no severity pages anyone (see tocsin.example.toml)")
        )
    return config, checks


async def _check_database(url: str) -> Check:
    """Whether the database answers and where its schema stands; a database that ``tocsin
    run`` will create or migrate is a note, not a failure. Opens no file that is not there,
    and waits at most DATABASE_WAIT (5 s) for an answer, as /healthz does."""
    from sqlalchemy.engine import make_url

    from bot.plugins import Check
    from storage.engine import DATABASE_WAIT, create_engine, no_answer, safe_url, sqlite_file
    from storage.errors import StorageError
    from storage.migrate import require_current

    shown = safe_url(url)
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        path = sqlite_file(url)
        if path is None:
            return Check(None, f"database: {shown} is in memory: nothing is kept when Tocsin stops")
        if not path.exists():
            if not path.parent.is_dir():
                return Check(
                    False,
                    f"database: {shown}: the folder {path.parent} does not exist; create it "
                    "or change TOCSIN_DATABASE_URL",
                )
            return Check(
                None, f"database: {shown} does not exist yet; it will be created on first run"
            )
    try:
        engine = create_engine(url, read_only=True)
        try:
            async with asyncio.timeout(DATABASE_WAIT):
                state = await require_current(engine)
        finally:
            await engine.dispose()
    except TimeoutError:
        return Check(False, f"database: {no_answer(url)}")
    except StorageError as exc:
        return Check(False, f"database: {exc}")
    if state.up_to_date:
        return Check(True, f"database: {shown} answers, schema at {state.head}")
    if not state.current:
        return Check(
            None,
            f"database: {shown} answers and is empty; it will be migrated on first run "
            "(or now: tocsin migrate)",
        )
    return Check(
        None,
        f"database: {shown} is at schema {', '.join(state.current)}; it will be migrated to "
        f"{state.head} on first run (or now: tocsin migrate)",
    )


def login() -> str:
    """Who is at this terminal: the login name, as a person key (:mod:`bot.names`)."""
    from bot import names

    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "you"
    key = re.sub(r"[^a-z0-9._-]", "", name.lower()).lstrip("._-")[: names.PERSON_MAX]
    return key or "you"


def person_argument(value: str) -> str:
    """``--as``: a person's name by the one rule for names (``@Bob`` is ``bob``)."""
    from bot import names
    from bot.errors import UserError

    try:
        return names.person(value)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def days_argument(value: str) -> int:
    """``--days``: a whole number of days, 1 to 366."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= 366:
        raise argparse.ArgumentTypeError(
            f"{value[:40]!r} is not a number of days: give a whole number from 1 to 366"
        )
    return int(value)


def channel_argument(value: str) -> str:
    """``--channel``: a channel's name by the one rule for names (``#Ops`` is ``ops``)."""
    from bot import names
    from bot.errors import UserError

    try:
        return names.channel(value)
    except UserError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


if __name__ == "__main__":
    raise SystemExit(main())
