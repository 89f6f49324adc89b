"""The neutral UI model: what the core shows, before any platform draws it.

Adapters turn a :class:`Card` into Slack Block Kit or a Discord embed with components, and
a :class:`Form` into a modal (or, in the local shell, a few prompts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ButtonStyle = Literal["primary", "danger", "default"]


@dataclass(frozen=True)
class Button:
    """A button; ``action`` and ``incident_id`` are all a click needs, even after a restart."""

    label: str
    action: str
    incident_id: int
    style: ButtonStyle = "default"

    @property
    def custom_id(self) -> str:
        """``tocsin:<action>:<incident>``, short enough for every platform (≤ 100 chars)."""
        return f"tocsin:{self.action}:{self.incident_id}"


@dataclass(frozen=True)
class CardField:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True)
class Card:
    """An incident card: title, severity colour, fields, a rendered body, buttons.

    ``title``, field names and ``footer`` are plain text (adapters escape them as their
    platform needs); field values and ``body`` are already in the platform's dialect.
    """

    title: str
    colour: int
    fields: tuple[CardField, ...]
    body: str
    buttons: tuple[Button, ...] = ()
    footer: str = ""


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FormField:
    """One input of a form. ``choices`` makes it a select; ``multiline`` a text area."""

    name: str
    label: str
    required: bool = True
    max_length: int = 3000
    multiline: bool = False
    choices: tuple[Choice, ...] = ()
    initial: str = ""


@dataclass(frozen=True)
class Form:
    """A modal: its submission comes back as an :class:`bot.inbound.Action` named ``action``
    with the field values."""

    title: str
    action: str
    fields: tuple[FormField, ...]
    submit_label: str = "Submit"
    incident_id: int | None = None


@dataclass(frozen=True)
class Reply:
    """The answer to whoever typed a command or clicked a button.

    ``text`` is already rendered in the asking platform's dialect. ``ephemeral`` replies are
    shown only to that person where the platform can do so. ``interim``: the facts are
    saved and the final answer follows through the request's ``reply_to`` once the effects
    have run (a declare's channel link); a platform that can replace an answer shows
    ``text`` now and replaces it then, one that cannot shows only the final answer.
    ``stale``: what was clicked, submitted or typed is one Tocsin no longer knows, and
    ``text`` says so (:meth:`Dispatcher.no_longer_valid`); the adapter shows it where the
    person is looking (Slack: inside the form they submitted).
    """

    text: str = ""
    ephemeral: bool = True
    form: Form | None = None
    ok: bool = True
    interim: bool = False
    stale: bool = False
