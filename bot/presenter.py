"""What incidents look like: cards, topics and messages, rendered from the shared templates
in each platform's dialect. Handlers never format chat text by hand; they come here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import __version__
from bot.config import Severity, TocsinConfig
from bot.identity import Directory, Person
from bot.lifecycle import OPEN, Status
from bot.platform import ChatPlatform, Dialect
from bot.render import MarkdownDialect, Renderer, Rich
from bot.ui import Button, Card, CardField
from storage.models import ChannelBinding, Incident, RoleAssignment, Task, TimelineEvent


@dataclass
class IncidentView:
    """An incident with everything shown about it."""

    incident: Incident
    roles: list[RoleAssignment]
    tasks: list[Task]
    bindings: list[ChannelBinding]
    events: list[TimelineEvent]
    severity: Severity

    @property
    def number(self) -> int:
        assert self.incident.id is not None
        return self.incident.id

    @property
    def ref(self) -> str:
        return f"INC-{self.number}"

    @property
    def commander(self) -> Person:
        return Person(self.incident.commander_key, self.incident.commander_name)

    @property
    def owner(self) -> Person | None:
        i = self.incident
        return Person(i.owner_key, i.owner_name or i.owner_key) if i.owner_key else None

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.done_at is None]


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


def buttons_for(view: IncidentView) -> tuple[Button, ...]:
    """The buttons a card offers in the incident's current status."""
    status, number = Status(view.incident.status), view.number
    if status == Status.TRIGGERED:
        return (
            Button("Acknowledge", "ack", number, "primary"),
            Button("Update status", "status", number),
            Button("Resolve", "resolve", number, "danger"),
        )
    if status in OPEN:
        return (Button("Update status", "status", number), Button("Resolve", "resolve", number))
    if status == Status.RESOLVED:
        return (Button("Close", "close", number),)
    return ()


class Presenter:
    def __init__(self, config: TocsinConfig, directory: Directory) -> None:
        self._config = config
        self._directory = directory
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
            buttons=buttons_for(view),
            footer=f"Declared by {incident.declared_by_name}",
        )

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
