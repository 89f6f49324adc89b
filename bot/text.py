"""Text as Tocsin shows or takes it, one rule each: which characters are control characters,
how much of what was typed an error echoes, and what an OS error says in words.

Imported by the settings (which ``tocsin --help`` reads) and by the renderer: it imports
nothing of Tocsin's and nothing heavy.
"""

from __future__ import annotations

import os
import re
from functools import cache

SHOWN_MAX = 40
"""At most this much of what was typed is echoed back in an error."""

_CONTROLS = (
    "\x00-\x08\x0b-\x1f"  # C0 but tab and line feed (see `keep_lines`)
    "\x7f-\x9f"  # DEL and C1 (0x9b is a terminal's 8-bit CSI)
    "\u202a-\u202e\u2066-\u2069"  # bidi embeddings, overrides and isolates
)
_LINES = "\t\n"
_SEPARATORS = "\u2028\u2029"


@cache
def control(*, keep_lines: bool = True, separators: bool = False) -> re.Pattern[str]:
    """One control character: C0, DEL, C1 and the bidirectional embeddings, overrides and
    isolates (U+202A-U+202E, U+2066-U+2069), which can make text read other than it is.

    ``keep_lines`` leaves tab and line feed out, for text that may span lines; ``separators``
    adds the line and paragraph separators U+2028 and U+2029, for a value that must be one
    line (a URL, a token)."""
    lines = "" if keep_lines else _LINES
    return re.compile(f"[{_CONTROLS}{lines}{_SEPARATORS if separators else ''}]")


def strip_control(text: str) -> str:
    """``text`` without its control characters, but with its tabs and line feeds."""
    return control().sub("", text)


def has_control(value: str) -> bool:
    """Whether a value that must be one line (a setting) has a control character in it: a
    tab or a line break too, U+2028 and U+2029 included."""
    return control(keep_lines=False, separators=True).search(value) is not None


def shown(typed: str, most: int = SHOWN_MAX) -> str:
    """What was typed, as an error echoes it: cut short (with …) if it is long, so that a
    mistyped command is not answered with all of it."""
    return typed if len(typed) <= most else typed[:most] + "…"


def os_reason(exc: OSError) -> str:
    """What an OSError says, without its errno prefix: "address already in use"."""
    import socket  # lazily: the settings import this module, and --help reads them

    if isinstance(exc, socket.gaierror) or not exc.errno:
        reason = exc.strerror or str(exc) or type(exc).__name__
    else:
        reason = os.strerror(exc.errno)
    return reason[:1].lower() + reason[1:]
