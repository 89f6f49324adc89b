"""The HTTP server: health and metrics; platform plugins add their routes (Slack's
``/slack/events``) as they mount."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot import __version__
from bot.lifecycle import Status
from storage import jobs
from storage.engine import ping
from storage.errors import DatabaseUnreachable

if TYPE_CHECKING:
    from bot.app import Core

_ENDED = {Status.RESOLVED.value, Status.CLOSED.value, Status.CANCELLED.value}
_JOB_STATUSES = (jobs.PENDING, jobs.RUNNING, jobs.FAILED)


def make_web_app(core: Core) -> web.Application:
    """``/healthz`` says whether the database answers; ``/metrics`` is Prometheus text."""

    async def healthz(_request: web.Request) -> web.Response:
        try:
            await ping(core.engine)
        except DatabaseUnreachable as exc:
            return web.json_response(
                {"status": "unavailable", "database": "unreachable", "reason": str(exc)},
                status=503,
            )
        return web.json_response({"status": "ok", "database": "ok", "version": __version__})

    async def metrics(_request: web.Request) -> web.Response:
        lines = [
            "# HELP tocsin_incidents Incidents by severity and status.",
            "# TYPE tocsin_incidents gauge",
        ]
        seen = {(sev, status): n for sev, status, n in await core.service.counts()}
        for (sev, status), n in sorted(seen.items()):
            lines.append(f'tocsin_incidents{{severity="SEV{sev}",status="{status}"}} {n}')
        open_total = sum(n for (_s, st), n in seen.items() if st not in _ENDED)
        by_status = await jobs.counts(core.sessions)
        lines += [
            "# HELP tocsin_open_incidents Incidents not yet resolved, closed or cancelled.",
            "# TYPE tocsin_open_incidents gauge",
            f"tocsin_open_incidents {open_total}",
            "# HELP tocsin_jobs Jobs (effects to run: cards, posts, reminders) by status.",
            "# TYPE tocsin_jobs gauge",
            *(f'tocsin_jobs{{status="{s}"}} {by_status.get(s, 0)}' for s in _JOB_STATUSES),
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


def _dropped(core: Core) -> list[str]:
    """Channel events dropped because too many were held while the database was down."""
    return [
        "# HELP tocsin_messages_dropped_total Chat messages, edits, deletions and pins not "
        "captured: the database was down and too many were held already.",
        "# TYPE tocsin_messages_dropped_total counter",
        f"tocsin_messages_dropped_total {core.dispatcher.held_events.dropped}",
    ]
