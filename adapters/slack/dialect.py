"""Slack mrkdwn: ``*bold*``, ``_italic_``, ``<url|label>``, ``<@U123>``, ``<#C123>``.

Slack treats ``&``, ``<`` and ``>`` as control characters: escaping them is what keeps
``<!channel>``, ``<!here>`` and ``<!everyone>`` in user text from pinging anyone.
"""

from __future__ import annotations

import re

from bot.render import strip_control

_MARKUP = re.compile(r"([*_~`])")
_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">"}


def escape_text(text: str) -> str:
    """Slack's own three escapes: no ``<…>`` control sequence survives."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape_text(text: str) -> str:
    """What a person typed, from Slack's text (a command's, a message's): Slack sends ``&``,
    ``<`` and ``>`` as ``&amp;``, ``&lt;`` and ``&gt;``, and only those, in one pass (so
    ``&amp;lt;`` is the ``&lt;`` that was typed). Slack's own markup (``<@U123>``,
    ``<#C123|name>``, ``<https://…|label>``) comes with bare brackets and stays as it is."""
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(1)], text)


class SlackDialect:
    name = "slack"

    def escape(self, text: str) -> str:
        # A zero-width space after each markup character keeps it literal in mrkdwn.
        return _MARKUP.sub("\\1\u200b", escape_text(strip_control(text)))

    def bold(self, text: str) -> str:
        return f"*{text}*"

    def italic(self, text: str) -> str:
        return f"_{text}_"

    def code(self, text: str) -> str:
        return f"`{escape_text(text).replace('`', 'ˋ')}`"

    def link(self, url: str, label: str) -> str:
        return f"<{escape_text(url).replace('|', '%7C')}|{label}>"

    def mention(self, user_id: str | None, name: str) -> str:
        return f"<@{user_id}>" if user_id else f"@{name}"

    def channel(self, channel_id: str, name: str) -> str:
        return f"<#{channel_id}>"
