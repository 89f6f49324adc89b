"""The HTTP server: health and metrics now; Slack events and alert webhooks mount here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import __version__
from bot.lifecycle import Status
from storage.engine import ping
from storage.errors import DatabaseUnreachable

Counts = Callable[[], Awaitable[list[tuple[int, str, int]]]]


def make_web_app(engine: AsyncEngine, counts: Counts) -> web.Application:
    """``/healthz`` says whether the database answers; ``/metrics`` is Prometheus text."""

    async def healthz(_request: web.Request) -> web.Response:
        try:
            await ping(engine)
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
        seen = {(sev, status): n for sev, status, n in await counts()}
        for (sev, status), n in sorted(seen.items()):
            lines.append(f'tocsin_incidents{{severity="SEV{sev}",status="{status}"}} {n}')
        open_total = sum(n for (_s, st), n in seen.items() if st not in _ENDED)
        lines += [
            "# HELP tocsin_open_incidents Incidents not yet resolved, closed or cancelled.",
            "# TYPE tocsin_open_incidents gauge",
            f"tocsin_open_incidents {open_total}",
            "# HELP tocsin_info Build information.",
            "# TYPE tocsin_info gauge",
            f'tocsin_info{{version="{__version__}"}} 1',
        ]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


_ENDED = {Status.RESOLVED.value, Status.CLOSED.value, Status.CANCELLED.value}
