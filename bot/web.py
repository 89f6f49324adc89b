"""The HTTP server: health and metrics; platform plugins add their routes (Slack's
``/slack/events``) as they mount.

Both endpoints answer while the database is down, and say nothing about it to the caller
but that it is unavailable: the details (where, and the driver's reason) go to the log, in
one line, the password hidden."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_log import AccessLogger

from bot import __version__
from bot.lifecycle import Status
from storage import jobs
from storage.engine import DATABASE_WAIT, no_answer, reason, safe_url
from storage.errors import UNAVAILABLE, StorageError
from storage.migrate import SchemaState, schema_state

if TYPE_CHECKING:
    from bot.app import Core

log = logging.getLogger("tocsin.web")

QUIET = frozenset({"/healthz", "/metrics"})
"""Paths probed every few seconds: no access-log line for them."""
_ENDED = {Status.RESOLVED.value, Status.CLOSED.value, Status.CANCELLED.value}
_JOB_STATUSES = (jobs.PENDING, jobs.RUNNING, jobs.FAILED)


def make_web_app(core: Core) -> web.Application:
    """``/healthz``: 200 when the database answers at the schema this code ships, else 503;
    ``/metrics``: Prometheus text, ``tocsin_database_up`` 1 or 0 (then without the
    metrics read from the database)."""

    def failure(exc: BaseException) -> str:
        """What went wrong, in one line for the log: where (no password) and why."""
        if isinstance(exc, TimeoutError):
            return no_answer(str(core.engine.url))
        if isinstance(exc, StorageError):
            return str(exc)
        return f"the database at {safe_url(str(core.engine.url))} failed: {reason(exc)}"

    async def healthz(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(DATABASE_WAIT):
                state = await schema_state(core.engine)
        except UNAVAILABLE as exc:
            log.warning("/healthz: %s", failure(exc))
            return _unavailable("unavailable")
        if not state.up_to_date:
            log.warning("/healthz: %s", _behind(state))
            return _unavailable("schema is not current")
        return web.json_response({"status": "ok", "database": "ok", "version": __version__})

    async def metrics(_request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(DATABASE_WAIT):
                seen = {(sev, status): n for sev, status, n in await core.service.counts()}
                by_status = await jobs.counts(core.sessions)
        except UNAVAILABLE as exc:
            log.warning("/metrics: %s; database metrics left out", failure(exc))
            lines = _database_up(False)
        else:
            lines = _database_up(True) + _from_database(seen, by_status)
        lines += [
            "# HELP tocsin_info Build information.",
            "# TYPE tocsin_info gauge",
            f'tocsin_info{{version="{__version__}"}} 1',
        ]
        lines += _dropped(core)
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


class QuietAccessLogger(AccessLogger):
    """aiohttp's access log, without the probes of :data:`QUIET` (nor the time it adds:
    every log line has one)."""

    FORMAT = '%a "%r" %s %b "%{Referer}i" "%{User-Agent}i"'

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if request.path not in QUIET:
            super().log(request, response, time)


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a header with a control byte, a bad request
    line: anyone on the port can send one) at ERROR with a traceback. Such a record becomes
    one WARNING line saying what was wrong, cut short, without the traceback."""

    MOST = 120

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            said = repr(error.message)[1:-1]  # escaped: no line of the caller's making
            if len(said) > self.MOST:
                said = said[: self.MOST] + "…"
            record.msg, record.args = (
                "refused a malformed HTTP request from %s: %s",
                (
                    record.args[0] if isinstance(record.args, tuple) and record.args else "?",
                    said,
                ),
            )
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


_MALFORMED = MalformedRequests()


def make_runner(app: web.Application) -> web.AppRunner:
    """The runner ``tocsin run`` serves ``app`` with: every request in the access log
    (``aiohttp.access``, at INFO) but the health and metrics probes; a request aiohttp
    cannot parse is one warning line, not a traceback (:class:`MalformedRequests`)."""
    server_log = logging.getLogger("aiohttp.server")
    if _MALFORMED not in server_log.filters:
        server_log.addFilter(_MALFORMED)
    return web.AppRunner(
        app, access_log_class=QuietAccessLogger, access_log_format=QuietAccessLogger.FORMAT
    )


def _unavailable(database: str) -> web.Response:
    return web.json_response({"status": "unavailable", "database": database}, status=503)


def _behind(state: SchemaState) -> str:
    at = ", ".join(state.current) or "no revision (an empty database)"
    if state.too_new:
        return f"the database schema is at {at}, newer than this Tocsin's {state.head}"
    return f"the database schema is at {at}, this Tocsin needs {state.head}; run: tocsin migrate"


def _database_up(up: bool) -> list[str]:
    return [
        "# HELP tocsin_database_up 1 when the database answered this scrape, else 0.",
        "# TYPE tocsin_database_up gauge",
        f"tocsin_database_up {int(up)}",
    ]


def _from_database(seen: dict[tuple[int, str], int], by_status: dict[str, int]) -> list[str]:
    lines = [
        "# HELP tocsin_incidents Incidents by severity and status.",
        "# TYPE tocsin_incidents gauge",
    ]
    for (sev, status), n in sorted(seen.items()):
        lines.append(f'tocsin_incidents{{severity="SEV{sev}",status="{status}"}} {n}')
    open_total = sum(n for (_s, st), n in seen.items() if st not in _ENDED)
    lines += [
        "# HELP tocsin_open_incidents Incidents not yet resolved, closed or cancelled.",
        "# TYPE tocsin_open_incidents gauge",
        f"tocsin_open_incidents {open_total}",
        "# HELP tocsin_jobs Jobs (effects to run: cards, posts, reminders) by status.",
        "# TYPE tocsin_jobs gauge",
        *(f'tocsin_jobs{{status="{s}"}} {by_status.get(s, 0)}' for s in _JOB_STATUSES),
    ]
    return lines


def _dropped(core: Core) -> list[str]:
    """Channel events dropped because too many were held while the database was down."""
    return [
        "# HELP tocsin_messages_dropped_total Chat messages, edits, deletions and pins not "
        "captured: the database was down and too many were held already.",
        "# TYPE tocsin_messages_dropped_total counter",
        f"tocsin_messages_dropped_total {core.dispatcher.held_events.dropped}",
    ]
