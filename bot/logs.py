"""Where Tocsin's log goes and how it looks: standard error, as text (the default) or, with
``TOCSIN_LOG_FORMAT=json``, one JSON object per line for a log collector."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

FORMATS = ("text", "json")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_HANDLER = "tocsin"


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: ``time`` (ISO 8601, UTC), ``level``, ``logger``,
    ``message``, and ``exception`` (the traceback's text) when there is one. Newlines and
    every other control or non-ASCII character are escaped, so a record is always one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry)


def configure(level: int) -> None:
    """Log to standard error, as text, at ``level``; like :func:`logging.basicConfig`, do
    nothing when logging is already set up (a program embedding Tocsin, pytest)."""
    root = logging.getLogger()
    if root.handlers:
        return
    handler = logging.StreamHandler()
    handler.set_name(_HANDLER)
    handler.setFormatter(logging.Formatter(TEXT))
    root.addHandler(handler)
    root.setLevel(level)


def use_format(name: str) -> None:
    """Switch what :func:`configure` set up to ``name`` (one of :data:`FORMATS`), once the
    settings are read."""
    formatter = JsonFormatter() if name == "json" else logging.Formatter(TEXT)
    for handler in logging.getLogger().handlers:
        if handler.get_name() == _HANDLER:
            handler.setFormatter(formatter)
