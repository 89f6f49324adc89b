"""Slack as a platform plugin: its variables, its ``check-config`` step, ``tocsin
slack-manifest``, and its mount into ``tocsin run`` (``/slack/events``, or Socket Mode)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.errors import SettingsError
from bot.plugins import Check, CliCommand, Host
from bot.settings import http_url
from bot.settings import secret as check_secret

if TYPE_CHECKING:
    from adapters.slack.app import SlackAdapter
    from adapters.slack.platform import SlackPlatform
    from bot.config import TocsinConfig
    from bot.settings import Settings

log = logging.getLogger("tocsin")

VARIABLES = {
    "SLACK_BOT_TOKEN": "Bot User OAuth Token (xoxb-…): turns Slack on",
    "SLACK_SIGNING_SECRET": "signing secret: requests to /slack/events must be signed with it",
    "SLACK_APP_TOKEN": "app-level token (xapp-…) for Socket Mode instead of HTTP",
    "SLACK_API_URL": "Slack Web API base URL (GovSlack, a proxy)",
}


@dataclass(frozen=True)
class SlackSettings:
    bot_token: str = field(repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    app_token: str | None = field(default=None, repr=False)
    api_url: str | None = None

    @classmethod
    def from_env(cls, values: Mapping[str, str]) -> SlackSettings | None:
        """Slack's settings; None when Slack is off; :class:`SettingsError` when wrong."""
        token = values.get("SLACK_BOT_TOKEN") or None
        secret = values.get("SLACK_SIGNING_SECRET") or None
        app_token = values.get("SLACK_APP_TOKEN") or None
        url = values.get("SLACK_API_URL") or None
        for name, value in (
            ("SLACK_BOT_TOKEN", token),
            ("SLACK_SIGNING_SECRET", secret),
            ("SLACK_APP_TOKEN", app_token),
        ):
            if value:
                check_secret(name, value)
        if token and not (secret or app_token):
            raise SettingsError(
                "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: HTTP mode needs the "
                "signing secret (Basic Information → App Credentials), or set SLACK_APP_TOKEN "
                "for Socket Mode"
            )
        if (secret or app_token) and not token:
            raise SettingsError(
                "SLACK_SIGNING_SECRET/SLACK_APP_TOKEN need SLACK_BOT_TOKEN (xoxb-…)"
            )
        if token and not token.startswith("xoxb-"):
            raise SettingsError("SLACK_BOT_TOKEN should be a bot token, starting with xoxb-")
        if app_token and not app_token.startswith("xapp-"):
            raise SettingsError("SLACK_APP_TOKEN should be an app-level token, starting with xapp-")
        if url:
            http_url(
                "SLACK_API_URL",
                url,
                "an http(s) URL, like https://slack.com/api/",
                schemes=("http", "https"),
            )
        if url and not url.endswith("/"):
            url += "/"
        if token is None:
            return None
        return cls(token, secret, app_token, url)


@dataclass
class SlackMount:
    """Slack in ``tocsin run``."""

    platform: SlackPlatform
    adapter: SlackAdapter
    socket_mode: bool

    async def start(self) -> None:
        await self.adapter.connect()
        if self.socket_mode:
            log.info("Slack: connected in Socket Mode")
        else:
            log.info("Slack: HTTP mode; point the app's Request URLs at /slack/events")

    async def stop(self) -> None:
        await self.adapter.close()

    def ended(self) -> Awaitable[Any] | None:
        return None


def mount_slack(host: Host, settings: SlackSettings, platform: SlackPlatform) -> SlackMount:
    """The bolt app on ``/slack/events`` of the web server, or over Socket Mode."""
    from adapters.slack.app import SlackAdapter
    from bot.seen import Seen

    core = host.core
    adapter = SlackAdapter(
        core.dispatcher,
        platform,
        settings.signing_secret or "",
        roots=[root.name for root in core.registry.roots],
        app_token=settings.app_token,
        seen=Seen(core.sessions, core.wiring.clock),
    )
    if not settings.app_token:
        host.web.router.add_post("/slack/events", adapter.handle)
    return SlackMount(platform, adapter, bool(settings.app_token))


class SlackPlugin:
    name = "slack"
    variables = VARIABLES
    config_model = None

    def configured(self, settings: Settings) -> bool:
        return SlackSettings.from_env(settings.env) is not None

    async def mount(self, host: Host) -> SlackMount:
        from adapters.slack.platform import SlackPlatform
        from adapters.slack.webapi import make_client

        slack = SlackSettings.from_env(host.settings.env)
        assert slack is not None, "mounted only when configured"
        return mount_slack(host, slack, SlackPlatform(make_client(slack.bot_token, slack.api_url)))

    async def check(self, settings: Settings, config: TocsinConfig) -> list[Check]:
        slack = SlackSettings.from_env(settings.env)
        if slack is None:
            return [
                Check(
                    None,
                    "Slack: not configured (SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; "
                    "`tocsin slack-manifest --url https://your.host` prints the app to create)",
                )
            ]
        from adapters.slack.webapi import check_token

        ok, line = await check_token(
            slack.bot_token, slack.api_url, socket_mode=bool(slack.app_token)
        )
        return [Check(ok, line)]

    def add_commands(self, commands: Any) -> dict[str, CliCommand]:
        parser = commands.add_parser("slack-manifest", help="print the Slack app manifest to paste")
        parser.add_argument("--url", help="the public https:// address of this server")
        parser.add_argument("--socket-mode", action="store_true", help="for Socket Mode (no URL)")
        parser.add_argument("--name", default="Tocsin", help="the app's name in Slack")
        return {"slack-manifest": print_manifest}


async def print_manifest(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.slack.manifest import manifest
    from bot.commands import default_registry
    from bot.errors import UserError

    try:
        app = manifest(args.url, default_registry(), socket_mode=args.socket_mode, name=args.name)
    except UserError as exc:  # a usage mistake (--url), exit 2 as argparse's own
        print(f"tocsin: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(app, indent=2, ensure_ascii=False))
    return 0
