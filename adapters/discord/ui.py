"""Neutral UI → discord.py: a :class:`Card` becomes an embed with persistent buttons, a
:class:`Form` a modal.

Discord's limits are applied here (embed title 256, description 4,096, 25 fields, field
name 256 and value 1,024, footer 2,048; button label 80; modal title and labels 45), so a
long title or body is cut rather than refused.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import discord

from bot.ui import Button, Card, Form, FormField

TEMPLATE = r"tocsin:(?P<action>[a-z_]+):(?P<incident>[0-9]{1,9})"
CARD_BUTTON = re.compile(TEMPLATE)
"""What a card button's ``custom_id`` looks like; discord.py routes the ids it fully
matches to :class:`CardButton`."""
FORM_PREFIX = "tocsin:form:"
_STYLES = {
    "primary": discord.ButtonStyle.primary,
    "danger": discord.ButtonStyle.danger,
    "default": discord.ButtonStyle.secondary,
}


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str) -> str:
    """Plain text where Discord reads Markdown (embed titles, field names)."""
    return discord.utils.escape_mentions(discord.utils.escape_markdown(text))


_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def unplain(text: str) -> str:
    """The text :func:`plain` was given: discord.py's escapes put a backslash before each
    markup character (a backslash too) and a zero-width space after ``@`` of a mention."""
    return _ESCAPED.sub(r"\1", text.replace("@\u200b", "@"))


def card_embed(card: Card) -> discord.Embed:
    embed = discord.Embed(
        title=cut(plain(card.title), 256),
        description=cut(card.body, 4096) or None,
        colour=card.colour,
    )
    for field in card.fields[:25]:
        embed.add_field(
            name=cut(plain(field.name), 256),
            value=cut(field.value, 1024) or "—",
            inline=field.inline,
        )
    if card.footer:
        embed.set_footer(text=cut(card.footer, 2048))
    return embed


class CardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=TEMPLATE):
    """The persistent button of every card. Its ``custom_id`` (``tocsin:<action>:<n>``) is
    all a click needs, so a card posted before a restart still works once the class is
    registered with :meth:`discord.Client.add_dynamic_items`. A click is dispatched as the
    client event ``tocsin_click`` (interaction, action, incident)."""

    def __init__(self, button: Button) -> None:
        super().__init__(
            discord.ui.Button(
                label=cut(button.label, 80), style=_STYLES[button.style], custom_id=button.custom_id
            )
        )
        self.action, self.incident = button.action, button.incident_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> CardButton:
        label = getattr(item, "label", None) or match["action"]
        return cls(Button(label, match["action"], int(match["incident"])))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        interaction.client.dispatch("tocsin_click", interaction, self.action, self.incident)


def card_view(card: Card) -> discord.ui.View:
    """The card's buttons, five to a row, in a view that never times out."""
    view = discord.ui.View(timeout=None)
    for index, button in enumerate(card.buttons[:25]):
        item = CardButton(button)
        item.row = index // 5
        view.add_item(item)
    return view


_form_ids = itertools.count(1)


class FormModal(discord.ui.Modal):
    """A :class:`Form` as a modal. Its ``custom_id`` carries the form's action, incident and a
    serial (two people may have the same form open at once). A submission is dispatched as
    the client event ``tocsin_submit`` (interaction, modal)."""

    def __init__(self, form: Form) -> None:
        custom_id = f"{FORM_PREFIX}{form.action}:{form.incident_id or 0}:{next(_form_ids)}"
        super().__init__(title=cut(form.title, 45), custom_id=custom_id, timeout=None)
        self.form = form
        self._inputs: dict[str, discord.ui.TextInput[Any] | discord.ui.Select[Any]] = {}
        for field in form.fields[:5]:
            component = _input(field)
            self._inputs[field.name] = component
            self.add_item(discord.ui.Label(text=cut(field.label, 45), component=component))

    def values(self) -> dict[str, str]:
        out = {}
        for name, component in self._inputs.items():
            if isinstance(component, discord.ui.Select):
                out[name] = component.values[0] if component.values else ""
            else:
                out[name] = component.value
        return out

    async def on_submit(self, interaction: discord.Interaction[Any], /) -> None:
        interaction.client.dispatch("tocsin_submit", interaction, self)


def _input(field: FormField) -> discord.ui.TextInput[Any] | discord.ui.Select[Any]:
    if field.choices and len(field.choices) <= 25:
        options = [
            discord.SelectOption(
                label=cut(c.label, 100), value=c.value[:100], default=c.value == field.initial
            )
            for c in field.choices
        ]
        return discord.ui.Select(
            custom_id=field.name,
            options=options,
            min_values=1 if field.required else 0,
            max_values=1,
            required=field.required,
        )
    return discord.ui.TextInput(
        custom_id=field.name,
        style=discord.TextStyle.paragraph if field.multiline else discord.TextStyle.short,
        required=field.required,
        max_length=min(field.max_length, 4000),
        default=field.initial or None,
    )
