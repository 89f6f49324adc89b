"""The door of ``/slack/events``: nothing reads a request before its signature is checked,
and nothing hands bolt a payload Tocsin cannot read.

A refusal is one short log line in fixed words (never a byte of the request: a body can
be a megabyte, carry forged log lines, or hold a real ``response_url``). A signed request
that cannot be read (not UTF-8, not JSON, a payload of the wrong shape) is answered 400 in
the same way, without a traceback. Pure functions; :mod:`adapters.slack.app` uses them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

MAX_SKEW = 300
"""Seconds a request's timestamp may be off this server's clock (Slack's own rule)."""

_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_TS = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,9})?$")


class Malformed(ValueError):
    """A signed request Tocsin cannot read; the message says what, never with its content."""


def unsigned(headers: Mapping[str, str], now: float) -> str | None:
    """Why a request cannot be one Slack signed, from its headers alone (so that its body
    need not be read): no signature, no timestamp, or one too far from ``now``; or None."""
    signature = headers.get("X-Slack-Signature", "")
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    if not signature:
        return "no X-Slack-Signature"
    if not _TIMESTAMP.match(timestamp):
        return "an X-Slack-Request-Timestamp that is not a time"
    skew = int(now) - int(timestamp)
    if abs(skew) > MAX_SKEW:
        way = "behind" if skew > 0 else "ahead of"
        return (
            f"a timestamp {abs(skew)} s {way} this server's clock (at most {MAX_SKEW} s; "
            "a replay, or a clock to set right)"
        )
    return None


def refusal(secret: str, headers: Mapping[str, str], raw: bytes, now: float) -> str | None:
    """Why a request is not one Slack signed with ``secret`` (fixed words, no byte of the
    request), or None when it is. Reads the two headers and the raw bytes, nothing else."""
    why = unsigned(headers, now)
    if why is not None:
        return why
    signature = headers["X-Slack-Signature"]
    timestamp = headers["X-Slack-Request-Timestamp"]
    base = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return "a signature that does not match SLACK_SIGNING_SECRET"
    return None


def read(raw: bytes, content_type: str) -> dict[str, Any]:
    """The body of a signed request, as Slack sends it: a JSON object (Events API), a form
    with a JSON ``payload`` (interactivity), or a plain form (slash commands). Checked
    against :data:`SHAPES` for the fields Tocsin and bolt read."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    if content_type == "application/json":
        body = _json(text, "the body")
    else:
        form = dict(parse_qsl(text, keep_blank_values=True))
        body = _json(form["payload"], "the payload") if "payload" in form else form
    if not isinstance(body, dict):
        raise Malformed("the body is not a JSON object")
    check(body)
    return body


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise Malformed(f"{what} is not JSON") from None


class _Ts:
    """A Slack timestamp, ``"1712345678.000200"``."""


TS = _Ts()
Spec = Any
_ANY_KEY = "*"
_REQUIRED = "!"
"""A key written ``"!name"`` must be there (bolt indexes it without looking)."""

_USER: Spec = {"id": str, "username": str, "name": str, "team_id": str}
_CHANNEL: Spec = {"id": str, "name": str}
_MESSAGE: Spec = {
    "type": str,
    "subtype": str,
    "user": str,
    "text": str,
    "ts": TS,
    "bot_id": str,
    "edited": {"ts": TS, "user": str},
}
_INPUT: Spec = {
    "type": str,
    "value": (str, None),
    "selected_option": ({"value": str}, None),
}
SHAPES: dict[str, Spec] = {
    "event_callback": {
        "event_id": str,
        "team_id": str,
        "!event": {
            "!type": str,
            "subtype": str,
            "user": str,
            "text": str,
            "ts": TS,
            "event_ts": TS,
            "deleted_ts": TS,
            "bot_id": str,
            "reaction": str,
            "channel": (str, _CHANNEL),
            "item": {"type": str, "channel": str, "ts": TS, "message": _MESSAGE},
            "message": _MESSAGE,
            "previous_message": _MESSAGE,
        },
    },
    "block_actions": {
        "user": _USER,
        "team": ({"id": str}, str, None),
        "channel": (_CHANNEL, None),
        "container": {"channel_id": str, "type": str},
        "response_url": str,
        "trigger_id": str,
        "!actions": [{"action_id": str, "block_id": str, "value": str, "type": str}],
    },
    "view_submission": {
        "user": _USER,
        "team": ({"id": str}, str, None),
        "trigger_id": str,
        "!view": {
            "id": str,
            "!type": str,
            "!callback_id": str,
            "private_metadata": str,
            "state": {"values": {_ANY_KEY: {_ANY_KEY: _INPUT}}},
        },
    },
}
_COMMON: Spec = {"type": str, "user": (_USER, str), "team": ({"id": str}, str, None)}


def check(body: dict[str, Any]) -> None:
    """Raise :class:`Malformed` when a field Tocsin or bolt reads has the wrong type.
    Fields it does not read may be anything; a missing field is left to the reader."""
    kind = body.get("type")
    if "command" in body and kind is None:
        return  # a slash command: a form, so every value is a string
    _check(body, SHAPES.get(kind, _COMMON) if isinstance(kind, str) else _COMMON, "")
    if kind == "block_actions" and not body.get("actions"):
        raise Malformed("`actions` is empty")


def _check(value: Any, spec: Spec, path: str) -> None:
    if isinstance(spec, tuple):
        problems = []
        for choice in spec:
            try:
                _check(value, choice, path)
                return
            except Malformed as exc:
                problems.append(exc)
        raise problems[0]
    if spec is None:
        if value is not None:
            raise Malformed(f"`{path}` should be null")
    elif spec is TS:
        if not (isinstance(value, str) and _TS.match(value)):
            raise Malformed(f"`{path}` should be a Slack timestamp")
    elif spec is str:
        if not isinstance(value, str):
            raise Malformed(f"`{path}` should be a string")
    elif isinstance(spec, list):
        if not isinstance(value, list):
            raise Malformed(f"`{path}` should be a list")
        for n, item in enumerate(value):
            _check(item, spec[0], f"{path}[{n}]")
    else:
        if not isinstance(value, dict):
            raise Malformed(f"`{path}` should be an object")
        for key in spec:
            name = key.removeprefix(_REQUIRED)
            if key.startswith(_REQUIRED) and value.get(name) is None:
                raise Malformed(f"`{_join(path, name)}` is missing")
        for key, inner in value.items():
            known = key if key in spec else _REQUIRED + key if _REQUIRED + key in spec else None
            wanted = spec[known] if known is not None else spec.get(_ANY_KEY)
            if wanted is not None:
                # A key the body chose is never repeated: it could be anything.
                _check(inner, wanted, _join(path, key if known is not None else _ANY_KEY))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
