"""Incident channel names: ``<prefix>-<number>-<slug of title>``, within a platform's rules.

A title in any script gets a readable slug: ``anyascii`` transliterates it (``База данных
недоступна`` → ``baza-dannykh-nedostupna``, ``データベースが落ちた`` → ``detabesugaluochita``)
rather than keeping the Unicode letters: Slack's API documents channel names as lowercase
letters, digits, ``-`` and ``_`` only, a refused name means no incident channel at all, and a
transliterated name can be typed (``#inc-2-…``) on any keyboard, on every platform alike.
"""

from __future__ import annotations

import re

from anyascii import anyascii

from bot.platform import ChannelRules


def slugify(text: str, allowed: str) -> str:
    """Lowercase ASCII (transliterated), with runs of anything not ``allowed`` turned into
    one ``-``."""
    out = "".join(ch if ch in allowed else "-" for ch in anyascii(text).lower())
    return re.sub(r"-{2,}", "-", out).strip("-_")


def channel_name(
    prefix: str, number: int, title: str, rules: ChannelRules, attempt: int = 0
) -> str:
    """The name to try on ``attempt`` (0 first; then ``-2``, ``-3``… to avoid a collision):
    at most ``rules.max_length`` long, never ending with ``-`` or ``_``."""
    head = f"{prefix}-{number}"
    suffix = f"-{attempt + 1}" if attempt else ""
    room = rules.max_length - len(head) - len(suffix) - 1
    slug = slugify(title, rules.allowed)[: max(room, 0)].rstrip("-_")
    name = f"{head}-{slug}" if slug else head
    return name + suffix
