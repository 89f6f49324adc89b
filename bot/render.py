"""Jinja2 rendering with per-platform dialects.

Every ``{{ value }}`` in a template is escaped by the dialect unless it is already
:class:`Rich` (the output of a dialect filter), so user text can never smuggle markup or a
mass mention into a message, whatever a template's author remembers to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import jinja2

import templates
from bot.durations import clock_duration, spoken_duration, spoken_every
from bot.platform import Dialect
from bot.text import strip_control as strip_control  # the dialects', the adapters' too
from bot.wording import plural, role_title

TEMPLATES = Path(templates.__file__).parent


class Rich(str):
    """Text already written in a dialect: not escaped again."""

    __slots__ = ()


PersonLookup = Callable[[str], str | None]
"""person key → this platform's user id (or None)."""

_MASS = re.compile(r"@(everyone|here|channel)\b", re.IGNORECASE)


def defuse_mass_mentions(text: str) -> str:
    """``@everyone`` → ``@\u200beveryone``: still readable, never a ping."""
    return _MASS.sub(lambda m: "@\u200b" + m.group(1), text)


class PlainDialect:
    """Plain text (the local shell, logs)."""

    name = "plain"

    def escape(self, text: str) -> str:
        return defuse_mass_mentions(strip_control(text))

    def bold(self, text: str) -> str:
        return text

    def italic(self, text: str) -> str:
        return text

    def code(self, text: str) -> str:
        return f"`{text}`"

    def link(self, url: str, label: str) -> str:
        return f"{label} <{url}>" if label and label != url else url

    def mention(self, user_id: str | None, name: str) -> str:
        return f"@{user_id or name}"

    def channel(self, channel_id: str, name: str) -> str:
        return f"#{name}"


_MD_SPECIAL = re.compile(r"([\\`*_~|\[\]<>])")
_MD_LINE_START = re.compile(r"^(\s*)([#+\-]|\d+\.)(?=\s)", re.MULTILINE)


class MarkdownDialect:
    """CommonMark, for exports (Discord's dialect builds on it)."""

    name = "markdown"

    def escape(self, text: str) -> str:
        text = _MD_SPECIAL.sub(r"\\\1", strip_control(text))
        text = _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
        return defuse_mass_mentions(text)

    def bold(self, text: str) -> str:
        return f"**{text}**"

    def italic(self, text: str) -> str:
        return f"*{text}*"

    def code(self, text: str) -> str:
        if "`" in text:
            return f"`` {text.replace('``', '` `')} ``"
        return f"`{text}`"

    def link(self, url: str, label: str) -> str:
        return f"[{label}]({url})"

    def mention(self, user_id: str | None, name: str) -> str:
        return f"@{name}"

    def channel(self, channel_id: str, name: str) -> str:
        return f"#{name}"


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


class Renderer:
    """Renders the shared templates in one dialect; ``people`` maps a person key to this
    platform's user id, for mentions."""

    def __init__(self, dialect: Dialect, people: PersonLookup | None = None) -> None:
        self.dialect = dialect
        self._people = people or (lambda _key: None)
        self._env = _ENVIRONMENTS.get(type(dialect)) or _environment(dialect)

    def escape(self, value: object) -> Rich:
        return _escape(self.dialect, value)

    def mention(self, person: Any) -> Rich:
        """A person (anything with ``key`` and ``name``), mentioned in this dialect."""
        if person is None:
            return Rich("—")
        return Rich(self.dialect.mention(self._people(person.key), self.escape(person.name)))

    def render(self, name: str, **context: Any) -> Rich:
        """Render ``templates/<name>.j2``; the result is already in this dialect."""
        template = self._env.get_template(f"{name}.j2")
        return Rich(template.render(_renderer=self, **context).strip())


def _escape(dialect: Dialect, value: object) -> Rich:
    if isinstance(value, Rich):
        return value
    return Rich(dialect.escape("" if value is None else str(value)))


_ENVIRONMENTS: dict[type, jinja2.Environment] = {}


def _environment(dialect: Dialect) -> jinja2.Environment:
    """One environment per kind of dialect, so each template is compiled once per process.
    Dialects are stateless, so any instance of a kind serves for all."""
    esc = partial(_escape, dialect)

    def code(v: object) -> Rich:
        text = defuse_mass_mentions(strip_control(str(v)).replace("\n", " "))
        return Rich(dialect.code(text))

    @jinja2.pass_context
    def mention(context: jinja2.runtime.Context, person: Any) -> Rich:
        renderer: Renderer = context["_renderer"]
        return renderer.mention(person)

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # the dialect escapes instead: see finalize
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        finalize=esc,
        auto_reload=False,
    )
    # Each filter escapes what is not Rich yet, then marks its own output Rich.
    env.filters.update(
        {
            "bold": lambda v: Rich(dialect.bold(esc(v))),
            "italic": lambda v: Rich(dialect.italic(esc(v))),
            "code": code,
            "link": lambda url, label="": Rich(dialect.link(str(url), esc(label or url))),
            "mention": mention,
            "channel": lambda b: Rich(dialect.channel(b.channel_id, esc(b.channel_name))),
            "time": lambda v: Rich(format_time(v)),
            "duration": lambda v: Rich("—" if v is None else clock_duration(v)),
            "span": lambda v: Rich(spoken_duration(v)),
            "every": lambda v: Rich(spoken_every(v)),
            "role": lambda v: esc(role_title(str(v))),
        }
    )
    env.globals["dialect"] = dialect.name
    env.globals["plural"] = plural
    _ENVIRONMENTS[type(dialect)] = env
    return env
