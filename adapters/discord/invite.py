"""What to ask for when a server adds the bot: the OAuth2 scopes and permission bits."""

from __future__ import annotations

import discord

SCOPES = ("bot", "applications.commands")
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    embed_links=True,  # the incident card is an embed
    attach_files=True,  # /incident export
    read_message_history=True,
    manage_channels=True,  # an incident channel, and the category it goes in
    pin_messages=True,  # the card is pinned
    manage_roles=True,  # let people into a private category's channel
)
"""Never ``mention_everyone`` or ``administrator``: Tocsin has no use for them."""


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


def permission_names() -> list[str]:
    """As the server settings name them (discord.py calls View Channels read_messages)."""
    names = {"read_messages": "view_channels"}
    return [names.get(n, n).replace("_", " ") for n, granted in PERMISSIONS if granted]
