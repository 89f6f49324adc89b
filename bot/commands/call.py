"""What a command's handler is given: the command, who asked and where, the incident it
acts on, its checked arguments, and the services to do it with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.commands.parse import Parser
from bot.commands.registry import CommandSpec
from bot.identity import Actor
from bot.incidents import IncidentService
from bot.platform import ChatPlatform
from bot.render import Rich
from bot.ui import Reply
from bot.wiring import Wiring


@dataclass(frozen=True)
class Services:
    wiring: Wiring
    incidents: IncidentService
    parser: Parser


@dataclass
class Call:
    spec: CommandSpec
    actor: Actor
    platform: ChatPlatform
    services: Services
    incident: int | None = None
    """The incident it acts on (named, or the channel's), for ``on_incident`` commands."""
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        assert self.incident is not None, f"{self.spec.name} is not on_incident"
        return self.incident

    def render(self, template: str, **context: Any) -> Rich:
        return self.services.wiring.presenter.render(self.platform, template, **context)

    def reply(self, kind: str, *, interim: bool = False, **context: Any) -> Reply:
        """The answer, from ``templates/reply/<kind>.j2``, as visible as the command says."""
        text = self.render(f"reply/{kind}", **context)
        return Reply(text, ephemeral=not self.spec.public, interim=interim)

    def text(self, template: str, **context: Any) -> Reply:
        """A private answer from ``templates/<template>.j2`` (lists, timelines, help)."""
        return Reply(self.render(template, **context), ephemeral=not self.spec.public)
