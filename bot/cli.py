"""``tocsin``: run, shell, migrate, export, check-config, --version."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from adapters.discord.client import MESSAGE_CONTENT_OFF, probe
from adapters.discord.invite import SCOPES, invite_url, permission_names
from adapters.slack.manifest import manifest
from adapters.slack.platform import check_token
from bot import __version__
from bot.app import export, open_database, run_server, run_shell
from bot.config import load_config
from bot.errors import ConfigError, TocsinError
from bot.settings import Settings
from storage.engine import safe_url
from storage.errors import StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tocsin", description="Self-hosted ChatOps incident management."
    )
    parser.add_argument("--version", action="version", version=f"tocsin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("run", help="run the web server and every configured chat platform")
    shell = sub.add_parser("shell", help="run incidents in this terminal, no chat account needed")
    shell.add_argument("--as", dest="user", help="who you are (default: your login name)")
    shell.add_argument("--channel", help="channel to start in (default: the announce channel)")
    sub.add_parser("migrate", help="create or upgrade the database schema")
    exp = sub.add_parser("export", help="print an incident's timeline")
    exp.add_argument("incident", help="INC-<number>")
    exp.add_argument("--format", default="md", choices=["md"], help="output format")
    exp.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")
    sub.add_parser("check-config", help="explain what is wrong with the configuration, if anything")
    slack = sub.add_parser("slack-manifest", help="print the Slack app manifest to paste")
    slack.add_argument("--url", help="the public https:// address of this server")
    slack.add_argument("--socket-mode", action="store_true", help="for Socket Mode (no URL)")
    slack.add_argument("--name", default="Tocsin", help="the app's name in Slack")
    invite = sub.add_parser(
        "discord-invite", help="print the link that adds the Discord bot to a server"
    )
    invite.add_argument(
        "--client-id",
        type=int,
        help="the Application ID (default: asked of Discord with DISCORD_TOKEN)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        _parser().print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.command == "run" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic narrates every start-up at INFO; storage.migrate says when it really migrates.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return asyncio.run(_main(args))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"tocsin: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (TocsinError, StorageError) as exc:
        print(f"tocsin: {exc}", file=sys.stderr)
        return 1


async def _main(args: argparse.Namespace) -> int:
    if args.command == "slack-manifest":
        app = manifest(args.url, socket_mode=args.socket_mode, name=args.name)
        print(json.dumps(app, indent=2, ensure_ascii=False))
        return 0
    settings = Settings.from_env()
    if args.command == "discord-invite":
        return await _discord_invite(settings, args.client_id)
    if args.command == "run":
        await run_server(settings)
    elif args.command == "shell":
        await run_shell(
            settings,
            sys.stdin,
            sys.stdout,
            user=args.user or _login(),
            channel=args.channel,
            interactive=sys.stdin.isatty(),
        )
    elif args.command == "migrate":
        engine, state = await open_database(settings, migrate=True)
        await engine.dispose()
        print(f"database {safe_url(settings.database_url)} is at schema revision {state.head}")
    elif args.command == "export":
        document = await export(settings, args.incident, args.format)
        if args.output:
            args.output.write_text(document, encoding="utf-8")
            print(f"wrote {args.output}", file=sys.stderr)
        else:
            sys.stdout.write(document)
    elif args.command == "check-config":
        return await _check_config(settings)
    return 0


async def _check_config(settings: Settings) -> int:
    """Each check on its own line, with what to do about a failure."""
    ok = True
    where = settings.config_path or "built-in defaults (no tocsin.toml)"
    try:
        config = load_config(settings.config_path)
        print(
            f"✓ config: {where}: {len(config.severities)} severities, "
            f"{len(config.roles)} roles, {len(config.people)} people, "
            f"{len(config.services)} services"
        )
    except ConfigError as exc:
        ok = False
        print(f"✗ config:\n{exc}")
    try:
        engine, state = await open_database(settings, migrate=False)
        await engine.dispose()
        print(f"✓ database: {safe_url(settings.database_url)} answers, schema at {state.head}")
    except StorageError as exc:
        ok = False
        print(f"✗ database: {exc}")
    if settings.slack_bot_token:
        ok = await _check_slack(settings) and ok
    else:
        print(
            "· Slack: not configured (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; "
            "`tocsin slack-manifest --url https://your.host` prints the app to create)"
        )
    if settings.discord_token:
        ok = await _check_discord(settings) and ok
    else:
        print(
            "· Discord: not configured (DISCORD_TOKEN; `tocsin discord-invite` prints the "
            "link that adds the bot to a server)"
        )
    return 0 if ok else 1


async def _check_discord(settings: Settings) -> bool:
    try:
        info = await probe(settings)
    except TocsinError as exc:
        print(f"✗ Discord: {exc}")
        return False
    where = (
        f"commands synced to server(s) {', '.join(map(str, settings.discord_guild_ids))}"
        if settings.discord_guild_ids
        else "commands synced globally"
    )
    print(f"✓ Discord: bot {info.user} (application {info.application_id}), {where}")
    if not info.message_content:
        print(f"· Discord: {MESSAGE_CONTENT_OFF}")
    return True


async def _discord_invite(settings: Settings, client_id: int | None) -> int:
    if client_id is None:
        if not settings.discord_token:
            raise ConfigError(
                "give --client-id (the Application ID, on the General Information page of the "
                "Discord developer portal), or set DISCORD_TOKEN to ask Discord for it"
            )
        client_id = (await probe(settings)).application_id
    print(invite_url(client_id))
    print(
        f"\nScopes: {', '.join(SCOPES)}. Permissions: {', '.join(permission_names())}.",
        file=sys.stderr,
    )
    return 0


async def _check_slack(settings: Settings) -> bool:
    ok, line = await check_token(
        settings.slack_bot_token or "",
        settings.slack_api_url,
        socket_mode=bool(settings.slack_app_token),
    )
    print(line)
    return ok


def _login() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "you"
    return re.sub(r"[^A-Za-z0-9._-]", "", name) or "you"


if __name__ == "__main__":
    raise SystemExit(main())
