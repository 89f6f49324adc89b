"""An incident's channels on the platforms: opening one, keeping its card current, posting
status updates there and to the announce channel.

Platform failures never undo what was saved: each method returns warnings for the reply.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.errors import ChannelNameTaken, PlatformError
from bot.identity import Actor, Person
from bot.naming import channel_name
from bot.platform import ChannelRef, ChatPlatform, MessageRef
from bot.presenter import IncidentView
from bot.timeline import record
from bot.wiring import Wiring
from storage.models import ChannelBinding, Incident
from storage.repo import Store

log = logging.getLogger(__name__)

MAX_NAME_ATTEMPTS = 20


class IncidentChannels:
    def __init__(self, wiring: Wiring, reload: Callable[[int], Awaitable[IncidentView]]) -> None:
        self._w = wiring
        self._reload = reload

    async def open(self, actor: Actor, view: IncidentView, commander: Person) -> list[str]:
        """Create the incident's channel on the declaring platform, post and pin its card,
        announce it. A platform failure leaves the incident declared; the warning says so."""
        platform = self._w.platforms[actor.platform]
        incident = view.incident
        assert incident.id is not None
        try:
            channel = await self._create(platform, incident, actor.channel)
            invitees = {
                self._w.directory.platform_id(p.key, platform.name)
                for p in (actor.person, commander)
            }
            await platform.invite(channel, sorted(i for i in invitees if i))
            now = self._w.clock.now()
            async with self._w.sessions() as session, session.begin():
                store = Store(session)
                binding = await store.add_binding(
                    ChannelBinding(
                        incident_id=incident.id,
                        platform=platform.name,
                        channel_id=channel.id,
                        channel_name=channel.name,
                        created_at=now,
                    )
                )
                await record(store, incident, actor.person, "channel", now, channel.name)
            view = await self._reload(incident.id)
            card = self._w.presenter.card(view, platform)
            message = await platform.post_card(channel, card, pin=True)
            async with self._w.sessions() as session, session.begin():
                binding.card_message_id = message.id
                session.add(binding)
            announce = await platform.find_channel(
                self._w.config.incident.announce_channel, near=channel
            )
            text = self._w.presenter.render(platform, "announcement", view=view)
            await platform.post_message(announce, text)
        except PlatformError as exc:
            log.warning("INC-%s: channel set-up on %s failed: %s", incident.id, platform.name, exc)
            return [f"the channel could not be set up on {platform.name}: {exc}"]
        return []

    async def _create(
        self, platform: ChatPlatform, incident: Incident, near: ChannelRef
    ) -> ChannelRef:
        assert incident.id is not None
        prefix = self._w.config.incident.channel_prefix
        topic = self._w.presenter.topic(platform, incident)
        for attempt in range(MAX_NAME_ATTEMPTS):
            name = channel_name(
                prefix, incident.id, incident.title, platform.channel_rules, attempt
            )
            async with self._w.sessions() as session:
                if await Store(session).channel_name_used(platform.name, name):
                    continue
            try:
                return await platform.create_channel(name, topic, near)
            except ChannelNameTaken:
                continue
        raise PlatformError(f"no free channel name after {MAX_NAME_ATTEMPTS} tries")

    async def refresh_cards(self, view: IncidentView) -> list[str]:
        """Edit the incident's card in place wherever it is shown."""
        warnings = []
        for binding in view.bindings:
            platform = self._w.platforms.get(binding.platform)
            if platform is None or binding.card_message_id is None:
                continue
            card = self._w.presenter.card(view, platform)
            try:
                await platform.update_card(
                    MessageRef(binding.channel_id, binding.card_message_id), card
                )
            except PlatformError as exc:
                log.warning("INC-%s: card update on %s failed: %s", view.number, platform.name, exc)
                warnings.append(f"the card on {platform.name} could not be updated: {exc}")
        return warnings

    async def post_update(
        self, view: IncidentView, actor: Actor, kind: str, text: str
    ) -> list[str]:
        """Post a status update in the incident's channels and mirror it to announce channels."""
        warnings = []
        for binding in view.bindings:
            platform = self._w.platforms.get(binding.platform)
            if platform is None:
                continue
            body = self._w.presenter.render(
                platform, "status_update", view=view, kind=kind, text=text, author=actor.person
            )
            try:
                room = ChannelRef(binding.channel_id, binding.channel_name)
                await platform.post_message(room, body)
                announce = await platform.find_channel(
                    self._w.config.incident.announce_channel, near=room
                )
                await platform.post_message(announce, body)
            except PlatformError as exc:
                warnings.append(f"the update could not be posted on {platform.name}: {exc}")
        return warnings
