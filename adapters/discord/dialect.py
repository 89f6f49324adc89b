"""Discord Markdown: ``**bold**``, ``*italic*``, ``[label](url)``, ``<@id>``, ``<#id>``.

Escaping user text breaks every mention Discord would parse (``@everyone``, ``@here``,
``<@id>``, ``<@&role>``) with a zero-width space, and escapes Markdown; the senders also set
``allowed_mentions`` so that only the people the bot itself names can be pinged.
"""

from __future__ import annotations

import discord

from bot.render import MarkdownDialect

ALLOWED_MENTIONS = discord.AllowedMentions(
    everyone=False, users=True, roles=False, replied_user=False
)
"""Every message Tocsin sends: people it names may be pinged; never @everyone, @here or a role."""


class DiscordDialect(MarkdownDialect):
    name = "discord"

    def escape(self, text: str) -> str:
        return discord.utils.escape_mentions(super().escape(text))

    def code(self, text: str) -> str:
        return super().code(discord.utils.escape_mentions(text))

    def link(self, url: str, label: str) -> str:
        return f"[{label}](<{url.replace('>', '%3E')}>)"

    def mention(self, user_id: str | None, name: str) -> str:
        return f"<@{user_id}>" if user_id else f"@{name}"

    def channel(self, channel_id: str, name: str) -> str:
        return f"<#{channel_id}>"
