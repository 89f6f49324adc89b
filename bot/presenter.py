"""What incidents look like: cards, topics and messages, rendered from the shared templates
in each platform's dialect. Handlers never format chat text by hand; they come here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot import __version__
from bot.commands.registry import Registry
from bot.config import TocsinConfig
from bot.identity import Directory
from bot.lifecycle import Status
from bot.platform import ChatPlatform, Dialect
from bot.render import MarkdownDialect, Renderer, Rich
from bot.ui import Button, Card, CardField
from bot.views import IncidentView
from storage.models import Incident, Page

STATUS_ICONS = {
    Status.TRIGGERED: "🔴",
    Status.ACKNOWLEDGED: "🟠",
    Status.INVESTIGATING: "🔎",
    Status.IDENTIFIED: "🎯",
    Status.MONITORING: "👀",
    Status.RESOLVED: "✅",
    Status.CLOSED: "📁",
    Status.CANCELLED: "⚪",
}


class Presenter:
    def __init__(self, config: TocsinConfig, directory: Directory, registry: Registry) -> None:
        self._config = config
        self._directory = directory
        self._registry = registry
        self._renderers: dict[tuple[str, str], Renderer] = {}
        self._markdown = Renderer(MarkdownDialect())

    def renderer(self, platform_name: str, dialect: Dialect) -> Renderer:
        key = (platform_name, dialect.name)
        if key not in self._renderers:
            self._renderers[key] = Renderer(
                dialect, lambda person_key: self._directory.platform_id(person_key, platform_name)
            )
        return self._renderers[key]

    def render(self, platform: ChatPlatform, template: str, **context: Any) -> Rich:
        renderer = self.renderer(platform.name, platform.dialect)
        return renderer.render(template, config=self._config, icons=STATUS_ICONS, **context)

    def card(self, view: IncidentView, platform: ChatPlatform) -> Card:
        incident = view.incident
        status = Status(incident.status)
        sev = view.severity
        renderer = self.renderer(platform.name, platform.dialect)
        fields = [
            CardField("Status", renderer.escape(f"{STATUS_ICONS[status]} {status.value}")),
            CardField("Severity", renderer.escape(f"SEV{incident.severity} · {sev.label}")),
            CardField("Commander", renderer.mention(view.commander)),
        ]
        if view.owner is not None:
            fields.append(CardField("Owner", renderer.mention(view.owner)))
        if incident.service:
            fields.append(CardField("Service", renderer.escape(incident.service)))
        return Card(
            title=f"{view.ref} · {incident.title}",
            colour=0x2E7D32 if status in (Status.RESOLVED, Status.CLOSED) else sev.colour_int,
            fields=tuple(fields),
            body=self.render(platform, "card", view=view),
            buttons=self.buttons_for(view),
            footer=f"Declared by {incident.declared_by_name}",
        )

    def buttons_for(self, view: IncidentView) -> tuple[Button, ...]:
        """The card's buttons in the incident's current status, in the registry's order."""
        status = view.incident.status
        return tuple(
            Button(spec.button.label, spec.key, view.number, spec.button.style)
            for spec in self._registry.commands("incident")
            if spec.button is not None and status in spec.button.when
        )

    def page_card(self, view: IncidentView, page: Page, platform: ChatPlatform) -> Card:
        """A page, in someone's direct messages: what the incident is, where its channel
        is, and an Acknowledge button while paging is under way; once acknowledged (or
        ended), who acknowledged and no button."""
        incident = view.incident
        status = Status(incident.status)
        renderer = self.renderer(platform.name, platform.dialect)
        answered = (
            page.acknowledged_at is not None
            or incident.paging not in ("active", "exhausted")  # bot.paging.UNANSWERED
            or incident.page_cycle != page.cycle
        )
        where = _step(page)
        fields = (
            CardField(
                "Severity", renderer.escape(f"SEV{incident.severity} · {view.severity.label}")
            ),
            CardField("Status", renderer.escape(f"{STATUS_ICONS[status]} {status.value}")),
            CardField("Paged", renderer.escape(where + _on_call(page.via))),
        )
        buttons = () if answered else (Button("Acknowledge", "ack", view.number, "primary"),)
        return Card(
            title=f"{self.page_mark(view, page)} {incident.title}",
            colour=view.severity.colour_int,
            fields=fields,
            body=self.render(platform, "page", view=view, page=page, answered=answered),
            buttons=buttons,
            footer=f"Declared by {incident.declared_by_name}",
        )

    @staticmethod
    def page_mark(view: IncidentView, page: Page) -> str:
        """The start of a page's title, which tells it from the incident's other pages in
        the same conversation (a retry looks for its own page by it): ``📟 INC-7 · level 2,
        round 2 ·``."""
        return f"📟 {view.ref} · {_step(page)} ·"

    def export_markdown(self, view: IncidentView, now: datetime) -> str:
        """The timeline export as a Markdown document."""
        i = view.incident
        return (
            self._markdown.render(
                "export.md",
                view=view,
                config=self._config,
                version=__version__,
                exported_at=now,
                time_to_ack=i.acknowledged_at - i.declared_at if i.acknowledged_at else None,
                time_to_resolve=i.resolved_at - i.declared_at if i.resolved_at else None,
            )
            + "\n"
        )

    def topic(self, platform: ChatPlatform, incident: Incident) -> str:
        """The channel topic: plain text, short enough for every platform."""
        sev = self._config.severity(incident.severity)
        return self.render(platform, "topic", incident=incident, severity=sev)[:250]

    def topic_text(self, incident: Incident) -> str:
        """The topic before any platform writes it: whether a change alters the topic."""
        sev = self._config.severity(incident.severity)
        return self._markdown.render("topic", incident=incident, severity=sev)


def _on_call(via: str) -> str:
    """How a page's target reads beside its level: `` · on call in primary`` for a
    schedule, nothing for a person named in the policy."""
    kind, _, name = via.partition(":")
    return f" · on call in {name}" if kind == "schedule" else ""


def _step(page: Page) -> str:
    return f"level {page.level}" + (f", round {page.round}" if page.round > 1 else "")
