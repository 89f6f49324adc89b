"""Incident channel names: ``<prefix>-<number>-<slug of title>``, within a platform's rules."""

from __future__ import annotations

import re
import unicodedata

from bot.platform import ChannelRules


def slugify(text: str, allowed: str) -> str:
    """Lowercase ASCII, with runs of anything not ``allowed`` turned into one ``-``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    out = "".join(ch if ch in allowed else "-" for ch in ascii_text.lower())
    return re.sub(r"-{2,}", "-", out).strip("-_")


def channel_name(
    prefix: str, number: int, title: str, rules: ChannelRules, attempt: int = 0
) -> str:
    """The name to try on ``attempt`` (0 first; then ``-2``, ``-3``… to avoid a collision)."""
    head = f"{prefix}-{number}"
    suffix = f"-{attempt + 1}" if attempt else ""
    room = rules.max_length - len(head) - len(suffix) - 1
    slug = slugify(title, rules.allowed)[: max(room, 0)].rstrip("-_")
    name = f"{head}-{slug}" if slug else head
    return name + suffix
