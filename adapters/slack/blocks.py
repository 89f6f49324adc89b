"""Neutral UI → Block Kit: a :class:`Card` becomes message blocks, a :class:`Form` a modal.

Slack's limits are applied here (header 150, section text 3000, field 2000, button label
75, modal title 24), so a long title or body is cut rather than refused by Slack.
"""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.dialect import escape_text
from bot.ui import Card, Form, FormField

FORM_PREFIX = "tocsin:form:"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit) or " ", "emoji": True}


def card_blocks(card: Card) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(card.title, 150)}]
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{escape_text(f.name)}*\n{f.value}", 2000)}
        for f in card.fields[:10]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if card.body.strip():
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(card.body, 3000)}}
        )
    if card.buttons:
        buttons = []
        for button in card.buttons[:25]:
            element: dict[str, Any] = {
                "type": "button",
                "text": _plain(button.label, 75),
                "action_id": button.custom_id,
                "value": str(button.incident_id),
            }
            if button.style != "default":
                element["style"] = button.style
            buttons.append(element)
        blocks.append({"type": "actions", "block_id": "tocsin_actions", "elements": buttons})
    if card.footer:
        footer = {"type": "mrkdwn", "text": _cut(escape_text(card.footer), 3000)}
        blocks.append({"type": "context", "elements": [footer]})
    return blocks


def card_text(card: Card) -> str:
    """The notification and accessibility text of a card message."""
    return _cut(escape_text(card.title), 3000)


def modal(form: Form, channel_id: str) -> dict[str, Any]:
    """A modal whose ``callback_id`` carries the form's action and incident, and whose
    ``private_metadata`` the channel it was opened from (where to answer)."""
    return {
        "type": "modal",
        "callback_id": f"{FORM_PREFIX}{form.action}:{form.incident_id or 0}",
        "title": _plain(form.title, 24),
        "submit": _plain(form.submit_label, 24),
        "close": _plain("Cancel", 24),
        "private_metadata": json.dumps({"channel": channel_id}),
        "blocks": [_input(field) for field in form.fields],
    }


def notice(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (it replaces a form that can no longer be sent)."""
    return {
        "type": "modal",
        "title": _plain(title, 24),
        "close": _plain("Close", 24),
        "blocks": [{"type": "section", "text": _plain(text, 3000)}],
    }


def _input(field: FormField) -> dict[str, Any]:
    element: dict[str, Any]
    if field.choices:
        options = [{"text": _plain(c.label, 75), "value": c.value} for c in field.choices[:100]]
        element = {"type": "static_select", "action_id": "value", "options": options}
        initial = next((o for o in options if o["value"] == field.initial), None)
        if initial is not None:
            element["initial_option"] = initial
    else:
        element = {
            "type": "plain_text_input",
            "action_id": "value",
            "multiline": field.multiline,
            "max_length": field.max_length,
        }
        if field.initial:
            element["initial_value"] = field.initial
    return {
        "type": "input",
        "block_id": field.name,
        "optional": not field.required,
        "label": _plain(field.label, 2000),
        "element": element,
    }


def submitted_values(view: dict[str, Any]) -> dict[str, str]:
    """Field values of a ``view_submission``, by field name."""
    values: dict[str, str] = {}
    for block_id, inputs in view.get("state", {}).get("values", {}).items():
        value = inputs.get("value", {})
        selected = value.get("selected_option")
        values[block_id] = (selected or {}).get("value") or value.get("value") or ""
    return values


def parse_callback(callback_id: str) -> tuple[str, int | None]:
    """``tocsin:form:<action>:<incident>`` → (action, incident or None)."""
    action, _, number = callback_id.removeprefix(FORM_PREFIX).partition(":")
    return action, (int(number) or None) if number.isdigit() else None
