"""The Slack app manifest for this app: paste it at api.slack.com/apps → Create New App →
From an app manifest, and every command, scope, event and URL is set at once. Its slash
commands are the roots of the command registry."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.commands.registry import Registry
from bot.errors import UserError

BOT_SCOPES = [
    "commands",  # /incident, /oncall
    "chat:write",  # cards, updates, answers
    "chat:write.public",  # the announce channel, without being invited first
    "channels:manage",  # create incident channels, set topic and purpose, invite, archive
    "channels:read",  # find the announce channel by name
    "channels:history",  # capture messages into the timeline; a retry's look-up of its posts
    "channels:join",  # join the announce channel, so a retry can read what it posted there
    "pins:read",  # pin_added events
    "pins:write",  # pin the incident card
    "reactions:read",  # 📌 reactions
    "users:read",  # names for the timeline
    "files:write",  # /incident export md
    "im:write",  # open direct messages: pages, and answers a channel cannot take
    "im:history",  # a page's retry looks for the page an earlier try sent
]
BOT_EVENTS = ["message.channels", "pin_added", "reaction_added", "member_joined_channel"]


def manifest(
    url: str | None, registry: Registry, *, socket_mode: bool = False, name: str = "Tocsin"
) -> dict[str, Any]:
    """The manifest for HTTP mode at ``url`` (https://your.host), or for Socket Mode."""
    endpoint = None
    if not socket_mode:
        parts = urlsplit(url or "")
        if parts.scheme != "https" or not parts.netloc:
            given = f"not {url!r}" if url else "and none was given"
            raise UserError(
                f"--url must be the public https:// address Slack will call, {given} "
                "(or use --socket-mode)"
            )
        endpoint = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/slack/events"
    commands = []
    for root in registry.roots:
        words = [spec.name for spec in registry.commands(root.name)]
        command: dict[str, Any] = {
            "command": f"/{root.name}",
            "description": root.description[:100],
            "usage_hint": " · ".join(words)[:1000],
            "should_escape": True,
        }
        if endpoint:
            command["url"] = endpoint
        commands.append(command)
    settings: dict[str, Any] = {
        "event_subscriptions": {"bot_events": BOT_EVENTS},
        "interactivity": {"is_enabled": True},
        "org_deploy_enabled": False,
        "socket_mode_enabled": socket_mode,
        "token_rotation_enabled": False,
    }
    if endpoint:
        settings["event_subscriptions"]["request_url"] = endpoint
        settings["interactivity"]["request_url"] = endpoint
    return {
        "display_information": {
            "name": name,
            "description": "Incident management: declare, acknowledge, update, resolve, export.",
            "background_color": "#b71c1c",
        },
        "features": {
            "bot_user": {"display_name": name.lower(), "always_online": True},
            "slash_commands": commands,
        },
        "oauth_config": {"scopes": {"bot": BOT_SCOPES}},
        "settings": settings,
    }
