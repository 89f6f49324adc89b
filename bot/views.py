"""What is shown about an incident, loaded as cheaply as each use needs.

A card, a topic or an answer needs the incident row (which carries its latest status
update and its count of open tasks) and its channels: :meth:`Views.summary`. The timeline,
the roles, the tasks and the export need more: :meth:`Views.full`. Neither cost grows with
the timeline except where the whole timeline is what is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.cache import Bounded
from bot.config import Severity, TocsinConfig
from bot.errors import UserError
from bot.identity import Person
from storage.engine import SessionFactory
from storage.models import ChannelBinding, Incident, Page, RoleAssignment, Task, TimelineEvent
from storage.repo import Store


@dataclass
class IncidentView:
    """An incident with what is shown about it (``roles``, ``tasks``, ``events`` and
    ``pages`` only in a full view)."""

    incident: Incident
    severity: Severity
    bindings: list[ChannelBinding] = field(default_factory=list)
    roles: list[RoleAssignment] = field(default_factory=list)
    tasks: list[Task] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)

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

    def binding(self, platform: str) -> ChannelBinding | None:
        return next((b for b in self.bindings if b.platform == platform), None)


class Views:
    def __init__(self, sessions: SessionFactory, config: TocsinConfig) -> None:
        self._sessions = sessions
        self._config = config
        self._channels: Bounded[tuple[str, str], int] = Bounded(10_000)

    async def incident_in(self, platform: str, channel_id: str) -> int | None:
        """The incident whose channel this is. A channel, once bound, stays its incident's,
        so the answer is remembered (one that is not an incident's yet may become one)."""
        known = self._channels.get((platform, channel_id))
        if known is not None:
            return known
        async with self._sessions() as session:
            binding = await Store(session).binding_for_channel(platform, channel_id)
        if binding is None:
            return None
        return self.bound(binding)

    def bound(self, binding: ChannelBinding) -> int:
        """Remember a channel's incident (as its channel is opened, or looked up)."""
        return self._channels.put((binding.platform, binding.channel_id), binding.incident_id)

    def of(self, incident: Incident, bindings: list[ChannelBinding] | None = None) -> IncidentView:
        """A view of an incident already in hand (no query)."""
        return IncidentView(incident, self._config.severity(incident.severity), bindings or [])

    async def summary(self, number: int) -> IncidentView:
        async with self._sessions() as session:
            store = Store(session)
            incident = await _existing(store, number)
            return self.of(incident, await store.bindings(number))

    async def full(self, number: int) -> IncidentView:
        async with self._sessions() as session:
            store = Store(session)
            incident = await _existing(store, number)
            view = self.of(incident, await store.bindings(number))
            view.roles = await store.roles(number)
            view.tasks = await store.tasks(number)
            view.events = await store.events(number)
            view.pages = await store.pages(number)
            return view


async def _existing(store: Store, number: int) -> Incident:
    incident = await store.incident(number)
    if incident is None:
        raise UserError(f"there is no incident INC-{number}.")
    return incident
