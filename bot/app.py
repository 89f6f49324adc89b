"""The composition root: the one place that wires the core together, and runs it with the
platform plugins it finds (:mod:`bot.plugins`). It knows no platform by name; the CLI and
the plugins call these, and so do the tests."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.clock import Clock, SystemClock
from bot.commands import default_registry
from bot.commands.registry import Registry
from bot.commands.values import reference as incident_reference
from bot.config import TocsinConfig, load_config
from bot.dispatcher import Dispatcher
from bot.effects import registry as effects_registry
from bot.errors import ConfigError, PlatformError, TocsinError, UserError
from bot.identity import Actor, Directory, Person
from bot.incidents import IncidentService
from bot.jobs import JobWriter
from bot.platform import ChatPlatform
from bot.plugins import Host, Mounted, PlatformPlugin, config_models
from bot.presenter import Presenter
from bot.settings import Settings
from bot.text import os_reason
from bot.views import IncidentView, Views
from bot.wiring import Wiring
from bot.worker import Worker, process_id
from storage.engine import SessionFactory, create_engine, session_factory, sqlite_file
from storage.errors import StorageError
from storage.migrate import SchemaState, require_current, upgrade

log = logging.getLogger("tocsin")


@dataclass
class Core:
    """The core, wired to a database, its worker, and the platforms added to it."""

    settings: Settings
    config: TocsinConfig
    engine: AsyncEngine
    sessions: SessionFactory
    wiring: Wiring
    service: IncidentService
    dispatcher: Dispatcher
    presenter: Presenter
    worker: Worker | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        return self.wiring.registry

    def add_platform(self, platform: ChatPlatform) -> None:
        self.wiring.platforms[platform.name] = platform

    async def settle(self, within: float = 0.0) -> None:
        """Wait for the effects of what was done so far (tests; the shell between lines);
        ``within`` seconds: also for retries falling due that soon."""
        if self.worker is not None:
            await self.worker.settle(within=timedelta(seconds=within))

    async def drain(self) -> None:
        """Wait for the jobs already taken here (no look for others: what a command costs)."""
        if self.worker is not None:
            await self.worker.drain()

    async def aclose(self, grace: float = 5.0, held_grace: float = 5.0) -> None:
        """Store the chat events held for the database (``held_grace`` seconds at most),
        stop the worker (``grace``), close the database."""
        try:
            await self.dispatcher.held_events.close(held_grace)
            if self.worker is not None:
                await self.worker.stop(grace)
        finally:
            await self.engine.dispose()


async def open_database(settings: Settings, *, migrate: bool) -> tuple[AsyncEngine, SchemaState]:
    """Connect; migrate a fresh or older database when ``migrate``; refuse a newer one.
    Without ``migrate``, a SQLite file that is not there yet is not created."""
    if not migrate:
        path = sqlite_file(settings.database_url)
        if path is not None and not path.exists():
            raise StorageError(
                f"there is no database at {path} yet: `tocsin run` or `tocsin shell` creates "
                "it (or: tocsin migrate)"
            )
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
    registry: Registry | None = None,
    worker: bool = True,
    **worker_options: Any,
) -> Core:
    """The core on ``settings``' database. With ``worker`` (the default), a worker runs the
    effects of changes made here at once; :meth:`Worker.start` adds its clock (timed jobs,
    the sweep). Without, job rows are only written, for a running Tocsin to run."""
    config = config or load_config(settings.config_path)
    engine, _state = await open_database(settings, migrate=migrate)
    sessions = session_factory(engine)
    clock = clock or SystemClock()
    registry = registry or default_registry()
    directory = Directory(config)
    presenter = Presenter(config, directory, registry)
    mine = dict(platforms)
    writer = JobWriter(clock, process_id(), settings.job_lease, mine)
    wiring = Wiring(
        sessions,
        config,
        directory,
        mine,
        presenter,
        clock,
        registry,
        Views(sessions, config),
        writer,
    )
    service = IncidentService(wiring)
    dispatcher = Dispatcher(wiring, service)
    core = Core(settings, config, engine, sessions, wiring, service, dispatcher, presenter)
    if worker:
        options = {"timeout": settings.effect_timeout, "sweep_every": settings.sweep_every}
        core.worker = Worker(wiring, effects_registry(), **(options | worker_options))
    return core


async def export(settings: Settings, reference: str, fmt: str) -> str:
    """``tocsin export INC-n``: the timeline document, from the database alone."""
    number = incident_reference(reference)
    assert number is not None
    if fmt != "md":
        raise UserError(f"cannot export as '{fmt}'; formats: md")
    core = await open_core(settings, {}, migrate=False, worker=False)
    try:
        view = await core.wiring.views.full(number)
        return core.presenter.export_markdown(view, SystemClock().now())
    finally:
        await core.aclose()


def channel_platform(
    config: TocsinConfig, settings: Settings, plugins: Mapping[str, PlatformPlugin]
) -> str:
    """Where the channel of an incident with no chat origin goes: ``[incident] platform``;
    else the only platform configured; else the local shell."""
    if config.incident.platform:
        if config.incident.platform not in plugins:
            raise ConfigError(
                f"[incident] platform is {config.incident.platform!r}, which is not installed "
                f"(installed: {', '.join(plugins)})"
            )
        return config.incident.platform
    running = [name for name, plugin in plugins.items() if plugin.configured(settings)]
    if len(running) > 1:
        raise ConfigError(
            f"several chat platforms are configured ({', '.join(running)}): say where "
            "incidents that do not come from chat go, with [incident] platform in tocsin.toml"
        )
    return running[0] if running else "console"


async def declare_offline(
    settings: Settings,
    plugins: Mapping[str, PlatformPlugin],
    who: Person,
    fields: Mapping[str, str],
) -> tuple[IncidentView, str]:
    """``tocsin declare``: write the incident and the job that opens its channel, and
    return at once; a running ``tocsin run`` (or ``tocsin shell``) does the rest."""
    config = load_config(settings.config_path, config_models(plugins))
    platform = channel_platform(config, settings, plugins)
    core = await open_core(settings, {}, config=config, worker=False)
    try:
        invocation = core.dispatcher.parser.build("incident", "declare", fields, lambda _t: False)
        if invocation.form:
            raise UserError('an incident needs a title: tocsin declare "What is wrong"')
        values = invocation.values
        who = core.wiring.directory.known(who.key) or who  # the name configured for them
        view = await core.service.declare(
            Actor("cli", who),
            title=values["title"],
            severity=values.get("severity"),
            service=values.get("service"),
            description=values.get("description", ""),
            platform=platform,
        )
        return view, platform
    finally:
        await core.aclose()


async def run_server(settings: Settings, plugins: Mapping[str, PlatformPlugin]) -> None:
    """``tocsin run``: the web server, every configured platform and the worker, until
    SIGINT/SIGTERM (or a platform's connection ends for good). A signal during start-up
    stops it too, cleanly."""
    from bot.web import make_runner, make_web_app

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    config = load_config(settings.config_path, config_models(plugins))
    chosen = [plugin for plugin in plugins.values() if plugin.configured(settings)]
    core = await open_core(settings, {}, config=config)
    web_app = make_web_app(core)
    runner = make_runner(web_app)
    mounted: list[Mounted] = []
    try:
        starting = asyncio.ensure_future(_start(core, settings, web_app, runner, chosen, mounted))
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        else:
            stopping.cancel()
            starting.result()
            await _until_stopped(stop, mounted)
        log.info("stopping")
    finally:
        await _shut_down(core, runner, mounted)


async def _start(
    core: Core,
    settings: Settings,
    web_app: Any,
    runner: Any,
    chosen: list[PlatformPlugin],
    mounted: list[Mounted],
) -> None:
    from aiohttp import web

    host = Host(core, web_app, settings)
    for plugin in chosen:
        mount = await plugin.mount(host)
        core.add_platform(mount.platform)
        mounted.append(mount)
    await runner.setup()
    for mount in mounted:
        await mount.start()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    try:
        await site.start()
    except OSError as exc:  # the port is taken, the host unknown or not this machine's
        raise TocsinError(
            f"cannot serve HTTP on {settings.http_host}:{settings.http_port} "
            f"(TOCSIN_HTTP_HOST, TOCSIN_HTTP_PORT): {os_reason(exc)}"
        ) from None
    assert core.worker is not None
    await core.worker.start()
    port = runner.addresses[0][1] if runner.addresses else settings.http_port
    log.info("listening on http://%s:%s (/healthz, /metrics)", settings.http_host, port)
    if not mounted:
        log.warning(
            "no chat platform is configured, so only the HTTP server runs. Set "
            "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET for Slack, or DISCORD_TOKEN for "
            "Discord (see the README); to try Tocsin without one, run: tocsin shell"
        )


async def _until_stopped(stop: asyncio.Event, mounted: list[Mounted]) -> None:
    ends = {
        asyncio.ensure_future(end): m.platform.name
        for m in mounted
        if (end := m.ended()) is not None
    }
    waiting = asyncio.ensure_future(stop.wait())
    done, _pending = await asyncio.wait({waiting, *ends}, return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if not stop.is_set():
        names = ", ".join(ends[task].capitalize() for task in done if task in ends)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("%s stopped: %s", ends.get(task, "a platform"), task.exception())
        raise PlatformError(f"the {names} connection ended; stopping")


async def _shut_down(core: Core, runner: Any, mounted: list[Mounted]) -> None:
    """Stop taking requests, let the worker finish or hand back its jobs (within a few
    seconds, even while a platform call hangs), then close the platforms and the database."""
    await runner.cleanup()
    try:
        if core.worker is not None:
            await core.worker.stop(grace=4.0)
            core.worker = None
        results = await asyncio.gather(
            *(asyncio.wait_for(mount.stop(), timeout=3) for mount in mounted),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                log.warning("a platform did not stop cleanly: %s", result or type(result).__name__)
    finally:
        # 4 s for the worker, 3 for the platforms, 2 for held chat: within the 10 s promised.
        await core.aclose(held_grace=2.0)
