"""Slack's Web API client as Tocsin uses it: how it is made (a short 429 waited out in
place), how Slack's refusal of a call reads (:func:`refusal`: retryable when trying again
may work), and the token's proof for ``tocsin check-config``."""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import Later, PlatformError

WAIT_IN_PLACE = 5.0
"""A rate limit this short (seconds) is waited out in the call; a longer one is the
worker's to wait, so a shutdown is never stuck behind it."""


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, for waits of at most :data:`WAIT_IN_PLACE` seconds."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return retry_after(response.headers) <= WAIT_IN_PLACE


def retry_after(headers: Any) -> float:
    """The ``Retry-After`` of a Slack answer, in seconds (1 when it says nothing)."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            text = value[0] if isinstance(value, list) else value
            try:
                return float(text)
            except (TypeError, ValueError):
                return 1.0
    return 1.0


def make_client(token: str, base_url: str | None, *, timeout: int = 30) -> AsyncWebClient:
    client = AsyncWebClient(
        token=token, base_url=base_url or AsyncWebClient.BASE_URL, timeout=timeout
    )
    handlers: list[AsyncRetryHandler] = [ShortRateLimitRetry(max_retry_count=3)]
    client.retry_handlers = handlers
    return client


def refusal(method: str, exc: SlackApiError) -> PlatformError:
    """Slack's refusal of ``method`` as a :class:`PlatformError`, retryable when trying
    again may work."""
    response = exc.response
    data = getattr(response, "data", None)
    status = getattr(response, "status_code", None) or getattr(response, "status", 0)
    if not isinstance(data, dict):
        return PlatformError(
            f"Slack answered {method} with something other than its JSON (HTTP {status})",
            retryable=True,
        )
    error = str(data.get("error", "unknown_error"))
    if status == 429 or error == "ratelimited":
        wait = retry_after(getattr(response, "headers", {}))
        return Later(f"Slack rate-limited {method} (retry after {wait:.0f} s)", retry_after=wait)
    if isinstance(status, int) and status >= 500:
        return PlatformError(
            f"Slack failed {method}: HTTP {status} {error}", retryable=True, code=error
        )
    return PlatformError(f"Slack refused {method}: {error}", code=error)


async def check_token(token: str, base_url: str | None, *, socket_mode: bool) -> tuple[bool, str]:
    """Ask Slack who the token belongs to: proves the token and the API URL. Returns
    (ok, a line for ``tocsin check-config``)."""
    client = make_client(token, base_url)
    try:
        who = await client.auth_test()
    except SlackApiError as exc:
        data = getattr(exc.response, "data", None)
        reason = data.get("error") if isinstance(data, dict) else "not Slack's answer"
        return False, f"Slack: the token was refused: {reason}"
    except (OSError, SlackClientError, aiohttp.ClientError) as exc:
        return False, f"Slack: cannot reach {client.base_url}: {exc}"
    mode = "Socket Mode" if socket_mode else "HTTP mode at /slack/events"
    return True, f"Slack: bot @{who.get('user')} in {who.get('team')}, {mode}"
