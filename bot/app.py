"""The composition root: the one place that knows which adapters exist and wires them to
the core. ``bot.cli`` calls these; tests call them too."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TextIO

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.console import ConsolePlatform, Shell
from adapters.discord.app import DiscordAdapter
from adapters.discord.client import make_client, probe
from adapters.discord.platform import DiscordPlatform
from adapters.slack.app import SlackAdapter
from adapters.slack.platform import SlackPlatform
from adapters.slack.platform import make_client as make_slack_client
from bot.clock import Clock, SystemClock
from bot.config import TocsinConfig, load_config
from bot.dispatcher import Dispatcher
from bot.errors import PlatformError, UserError
from bot.identity import Directory
from bot.incidents import IncidentService
from bot.platform import ChatPlatform
from bot.presenter import Presenter
from bot.settings import Settings
from bot.web import make_web_app
from bot.wiring import Wiring
from storage.engine import SessionFactory, create_engine, session_factory
from storage.errors import StorageError
from storage.migrate import SchemaState, require_current, upgrade

log = logging.getLogger("tocsin")


@dataclass
class Core:
    """The core, wired to a database and a set of platforms."""

    settings: Settings
    config: TocsinConfig
    engine: AsyncEngine
    sessions: SessionFactory
    service: IncidentService
    dispatcher: Dispatcher
    presenter: Presenter

    async def aclose(self) -> None:
        await self.engine.dispose()


async def open_database(settings: Settings, *, migrate: bool) -> tuple[AsyncEngine, SchemaState]:
    """Connect; migrate a fresh or older database when ``migrate``; refuse a newer one."""
    engine = create_engine(settings.database_url)
    try:
        state = await (upgrade(engine) if migrate else require_current(engine))
        if not state.up_to_date:
            raise StorageError("the database schema is not up to date; run: tocsin migrate")
    except BaseException:
        await engine.dispose()
        raise
    return engine, state


async def open_core(
    settings: Settings,
    platforms: Mapping[str, ChatPlatform],
    *,
    clock: Clock | None = None,
    migrate: bool = True,
    config: TocsinConfig | None = None,
) -> Core:
    config = config or load_config(settings.config_path)
    engine, _state = await open_database(settings, migrate=migrate)
    sessions = session_factory(engine)
    clock = clock or SystemClock()
    directory = Directory(config)
    presenter = Presenter(config, directory)
    wiring = Wiring(sessions, config, directory, platforms, presenter, clock)
    service = IncidentService(wiring)
    dispatcher = Dispatcher(wiring, service)
    return Core(settings, config, engine, sessions, service, dispatcher, presenter)


async def run_shell(
    settings: Settings,
    stdin: TextIO,
    stdout: TextIO,
    *,
    user: str,
    channel: str | None,
    interactive: bool,
) -> None:
    console = ConsolePlatform(stdout)
    core = await open_core(settings, {console.name: console})
    try:
        start = channel or core.config.incident.announce_channel
        shell = Shell(
            core.dispatcher, console, stdin, user=user, channel=start, interactive=interactive
        )
        await shell.run()
    finally:
        await core.aclose()


async def export(settings: Settings, reference: str, fmt: str) -> str:
    """``tocsin export INC-n``: the timeline document, from the database alone."""
    number = parse_reference(reference)
    if fmt != "md":
        raise UserError(f"cannot export as '{fmt}'; formats: md")
    core = await open_core(settings, {}, migrate=False)
    try:
        view = await core.service.view(number)
        return core.presenter.export_markdown(view, SystemClock().now())
    finally:
        await core.aclose()


def parse_reference(reference: str) -> int:
    text = reference.strip().upper()
    digits = text[4:] if text.startswith("INC-") else text
    if not digits.isdigit():
        raise UserError(f"'{reference}' is not an incident reference; use INC-<number>, e.g. INC-7")
    return int(digits)


def mount_slack(core: Core, platform: SlackPlatform, web_app: web.Application) -> SlackAdapter:
    """The Slack app: on ``/slack/events`` of the web server (HTTP mode), or, with
    ``SLACK_APP_TOKEN``, over Socket Mode once :meth:`SlackAdapter.connect` is awaited."""
    adapter = SlackAdapter(
        core.dispatcher,
        platform,
        core.settings.slack_signing_secret or "",
        app_token=core.settings.slack_app_token,
    )
    if not core.settings.slack_app_token:
        web_app.router.add_post("/slack/events", adapter.handle)
    return adapter


async def discord_platform(
    settings: Settings, config: TocsinConfig, *, guild_ready_timeout: float = 2.0
) -> DiscordPlatform:
    """The Discord platform for ``DISCORD_TOKEN``, with the intents its application has."""
    info = await probe(settings)
    client = make_client(
        settings, message_content=info.message_content, guild_ready_timeout=guild_ready_timeout
    )
    platform = DiscordPlatform(
        client, category=config.discord.category, guilds=settings.discord_guild_ids
    )
    return platform


def mount_discord(
    core: Core, platform: DiscordPlatform, *, answer_within: float = 2.0
) -> DiscordAdapter:
    """The Discord bot; :meth:`DiscordAdapter.start` connects it."""
    return DiscordAdapter(
        core.dispatcher,
        platform,
        core.config,
        guild_ids=core.settings.discord_guild_ids,
        answer_within=answer_within,
    )


async def run_server(settings: Settings) -> None:
    """``tocsin run``: the web server and every configured platform, until SIGINT/SIGTERM."""
    config = load_config(settings.config_path)
    platforms: dict[str, ChatPlatform] = {}
    slack = discord = None
    if settings.slack_bot_token:
        slack = SlackPlatform(make_slack_client(settings.slack_bot_token, settings.slack_api_url))
        platforms[slack.name] = slack
    if settings.discord_token:
        discord = await discord_platform(settings, config)
        platforms[discord.name] = discord
    core = await open_core(settings, platforms, config=config)
    web_app = make_web_app(core.engine, core.service.counts)
    adapter = mount_slack(core, slack, web_app) if slack else None
    bot = mount_discord(core, discord) if discord else None
    runner = web.AppRunner(web_app)
    await runner.setup()
    try:
        if adapter is not None:
            await adapter.connect()
        if bot is not None:
            await bot.start(settings.discord_token or "")
        site = web.TCPSite(runner, settings.http_host, settings.http_port)
        await site.start()
        port = runner.addresses[0][1] if runner.addresses else settings.http_port
        log.info("listening on http://%s:%s (/healthz, /metrics)", settings.http_host, port)
        if adapter is not None and settings.slack_app_token:
            log.info("Slack: connected in Socket Mode")
        elif adapter is not None:
            log.info("Slack: HTTP mode; point the app's Request URLs at /slack/events")
        if not platforms:
            log.warning(
                "no chat platform is configured, so only the HTTP server runs. Set "
                "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for Slack, or DISCORD_TOKEN for "
                "Discord (see the README); to try Tocsin without one, run: tocsin shell"
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
        if bot is not None and bot.stopped is not None:
            waits.add(bot.stopped)  # the gateway connection ends only on a fatal error
        done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending - {bot.stopped if bot else None}:
            waiting.cancel()
        if not stop.is_set():
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("Discord stopped: %s", task.exception())
            raise PlatformError("the Discord connection ended; stopping")
        log.info("stopping")
    finally:
        await runner.cleanup()
        if adapter is not None:
            await adapter.close()
        if bot is not None:
            await bot.close()
        await core.aclose()
