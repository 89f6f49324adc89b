"""The effects: what the worker does after a change is saved, each kind of job row's code.

Each may run more than once (:mod:`bot.runs`): a retry looks for what an earlier try made
(the channel by name, the card and the posts among the bot's recent messages) before it
makes it again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from bot.durations import spoken_duration
from bot.errors import ChannelNameTaken, PlatformError, Unsupported, UserError
from bot.identity import Person
from bot.jobs import EXPORT, OPEN, REMIND, SYNC
from bot.lifecycle import OPEN as OPEN_STATUSES
from bot.naming import channel_name
from bot.platform import ChannelRef, ChatPlatform, MessageRef
from bot.render import Rich
from bot.runs import Again, Done, Effect, Result, Run, naming, post_once, posted
from bot.timeline import record
from bot.views import IncidentView
from storage.models import ChannelBinding
from storage.repo import Store

log = logging.getLogger(__name__)
MAX_NAME_ATTEMPTS = 20
TOCSIN = Person("tocsin", "Tocsin")
"""Who the timeline names for what Tocsin did by itself (a reminder)."""


# Showing the incident: the card and the topic, on one platform.


async def show(run: Run, view: IncidentView, *, card: bool = True, topic: bool = False) -> None:
    """Draw the incident's card (and set its topic) where its channel is on this platform."""
    platform = run.platform
    binding = view.binding(platform.name)
    if binding is None:
        return  # its channel is not set up yet: the job opening it draws the card after
    if card and binding.card_message_id:
        message = MessageRef(binding.channel_id, binding.card_message_id)
        drawn = run.wiring.presenter.card(view, platform)
        await run.step("card", lambda: platform.update_card(message, drawn))
    if topic:
        room = ChannelRef(binding.channel_id, binding.channel_name)
        text = run.wiring.presenter.topic(platform, view.incident)
        await run.step("topic", lambda: platform.set_topic(room, text))


async def catch_up(run: Run, shown: int) -> int:
    """The incident changed while the card was being drawn: draw it again (and the topic,
    if that changed too). Returns the version now shown."""
    before = run.hint.incident if run.hint is not None else None
    view = await run.wiring.views.summary(run.number)
    presenter = run.wiring.presenter
    topic = before is None or presenter.topic_text(before) != presenter.topic_text(view.incident)
    run.state["done"] = [s for s in run.state["done"] if s not in ("card", "topic")]
    await show(run, view, topic=topic)
    run.hint = view
    return view.incident.version


# The effects.


class OpenChannel:
    """A declared incident's channel on its platform: create it (or find the one an earlier
    try made), invite the declarer and the commander, post and pin the card, announce it,
    and answer the declarer with the channel's link."""

    kind = OPEN
    what = "setting up the incident's channel"

    async def run(self, run: Run) -> Result:
        w, platform = run.wiring, run.platform
        view = await run.view()
        actor, near = run.actor(), run.payload.get("near")
        near_ref = ChannelRef(near["id"], near["name"]) if near else None
        binding = view.binding(platform.name)
        if binding is None:
            binding = await self._open(run, view, near_ref)
            view.bindings.append(binding)
        room = ChannelRef(binding.channel_id, binding.channel_name)
        card = MessageRef(binding.channel_id, binding.card_message_id or "")
        invitees = [actor.get("user_id"), self._id(run, str(run.payload.get("commander", "")))]
        await run.step("invite", lambda: platform.invite(room, sorted({i for i in invitees if i})))
        await run.step("pin", lambda: platform.pin(card))
        refused = await self._announce(run, view, room)
        reply_to = actor.get("reply_to")
        if reply_to:  # the answer comes last: it alone cannot be looked for by a retry
            answer = w.presenter.render(platform, "reply/declared", view=view)
            await run.step("answer", lambda: self._answer(run, reply_to, answer))
        return Done(shows=view.incident.version, failed=refused)

    @staticmethod
    async def _announce(run: Run, view: IncidentView, room: ChannelRef) -> PlatformError | None:
        """Announce it; a refusal for good (no such channel, no access) is returned, for
        the job to fail with once the declarer has their answer anyway."""
        w, platform = run.wiring, run.platform
        where = w.config.incident.announce_channel
        run.doing = f"announcing it in the announce channel ({where})"
        try:
            announce = await platform.find_channel(where, near=room)
            text = w.presenter.render(platform, "announcement", view=view)
            marker = f"New incident {view.ref}"
            await post_once(run, "announce", announce, text, view.incident.declared_at, marker)
        except PlatformError as exc:
            if exc.retryable:
                raise
            return exc
        run.doing = ""
        return None

    @staticmethod
    async def _answer(run: Run, reply_to: str, text: Rich) -> None:
        """Through the request's answer address; once that has expired (a restart later
        than Discord's 15 minutes), by direct message."""
        platform = run.platform
        try:
            await platform.answer(reply_to, text, public=True)
        except PlatformError as exc:
            user_id = run.actor().get("user_id")
            if exc.retryable or not user_id:
                raise
            await platform.post_dm(str(user_id), text)

    def _id(self, run: Run, key: str) -> str | None:
        return run.wiring.directory.platform_id(key, run.platform.name) if key else None

    async def _open(self, run: Run, view: IncidentView, near: ChannelRef | None) -> ChannelBinding:
        """Create the channel under the first free name (or take the one an earlier try
        created), post its card (or find the one an earlier try posted), then bind both to
        the incident in one transaction."""
        w, platform, incident = run.wiring, run.platform, view.incident
        prefix = w.config.incident.channel_prefix
        topic = w.presenter.topic(platform, incident)
        marker = f"{view.ref} ·"
        names = [
            channel_name(prefix, view.number, incident.title, platform.channel_rules, attempt)
            for attempt in range(MAX_NAME_ATTEMPTS)
        ]
        channel = await platform.own_channel(names, marker, near) if run.retrying else None
        if channel is None:
            channel = await self._create(platform, names, topic, near)
        elif run.retrying:  # made by an earlier try, perhaps before its topic was set
            await platform.set_topic(channel, topic)
        card = None
        if run.retrying:
            card = await posted(
                platform, channel, incident.declared_at, lambda t: t.startswith(marker)
            )
        if card is None:
            card = await platform.post_card(channel, w.presenter.card(view, platform))
        now = w.clock.now()
        binding = ChannelBinding(
            incident_id=view.number,
            platform=platform.name,
            channel_id=channel.id,
            channel_name=channel.name,
            card_message_id=card.id,
            created_at=now,
        )
        async with w.sessions() as session, session.begin():
            store = Store(session)
            store.save(binding)
            declarer = Person(run.actor().get("key", "tocsin"), run.actor().get("name", "Tocsin"))
            when = max(now, incident.declared_at)
            record(store, incident, declarer, "channel", when, channel.name)
        w.views.bound(binding)
        return binding

    @staticmethod
    async def _create(
        platform: ChatPlatform, names: list[str], topic: str, near: ChannelRef | None
    ) -> ChannelRef:
        # A name carries the incident's number, so it can clash only with a channel made
        # by someone else: the platform says so, and the next name is tried.
        for name in names:
            try:
                return await platform.create_channel(name, topic, near)
            except ChannelNameTaken:
                continue
        raise PlatformError(f"no free channel name after {len(names)} tries")


class Sync:
    """After a change: redraw the card, set the topic if it changed, post the status
    update in the incident's channel and the announce channel, invite whoever was given a
    role, and announce a raised severity."""

    kind = SYNC
    what = "showing the change in the incident's channel"

    async def run(self, run: Run) -> Result:
        view = await run.view()
        await show(run, view, topic=bool(run.payload.get("topic")))
        post = run.payload.get("post")
        if isinstance(post, dict):
            await self._post(run, view, post)
        raised = run.payload.get("raised")
        if isinstance(raised, dict):
            await self._announce_raised(run, view, raised)
        invite = run.payload.get("invite")
        if isinstance(invite, list) and invite:
            people = [Person(str(p["key"]), str(p["name"])) for p in invite]
            await self._invite(run, view, people)
        return Done(shows=view.incident.version)

    @staticmethod
    async def _invite(run: Run, view: IncidentView, people: list[Person]) -> None:
        """Invite people to the incident's channel. Someone with no id on this platform, a
        platform that cannot invite, or someone there already is fine; a refusal for good
        (a missing permission) fails the job, told, its card drawn already (that is first)."""
        w, platform = run.wiring, run.platform
        ids = sorted({i for p in people if (i := w.directory.platform_id(p.key, platform.name))})
        if not ids:
            return
        room = _room(view, platform)
        run.doing = f"inviting {', '.join(p.name for p in people)} to #{room.name}"
        try:
            await run.step("invite", lambda: platform.invite(room, ids))
        except Unsupported:
            log.info("%s cannot invite people to #%s", platform.name, room.name)
        run.doing = ""

    @staticmethod
    async def _announce_raised(run: Run, view: IncidentView, raised: dict[str, Any]) -> None:
        """A raised severity, in the announce channel, once (a retry looks for it)."""
        w, platform = run.wiring, run.platform
        room = _room(view, platform)
        # The severity as it was raised to, whatever has changed since.
        then = view.incident.model_copy(update={"severity": raised["severity"]})
        snapshot = IncidentView(then, w.config.severity(then.severity), view.bindings)
        was = int(raised["was"])
        text = w.presenter.render(
            platform,
            "severity_raised",
            view=snapshot,
            was=was,
            was_label=w.config.severity(was).label,
            reason=raised.get("reason", ""),
            author=Person(raised["author"]["key"], raised["author"]["name"]),
        )
        run.doing = f"announcing the raised severity in {w.config.incident.announce_channel}"
        announce = await platform.find_channel(w.config.incident.announce_channel, near=room)
        await post_once(run, "raised", announce, text, run.job.created_at)
        run.doing = ""

    async def _post(self, run: Run, view: IncidentView, post: dict[str, Any]) -> None:
        w, platform = run.wiring, run.platform
        room = _room(view, platform)
        # The update as it was when posted, whatever has changed since.
        then = view.incident.model_copy(
            update={"status": post["status"], "severity": post["severity"]}
        )
        snapshot = IncidentView(then, w.config.severity(then.severity), view.bindings)
        author = Person(post["author"]["key"], post["author"]["name"])
        text = w.presenter.render(
            platform,
            "status_update",
            view=snapshot,
            kind=post["kind"],
            text=post["text"],
            author=author,
        )
        since = run.job.created_at
        await post_once(run, "post", room, text, since)
        announce = await platform.find_channel(w.config.incident.announce_channel, near=room)
        await post_once(run, "mirror", announce, text, since)


def _room(view: IncidentView, platform: ChatPlatform) -> ChannelRef:
    """The incident's channel on ``platform``; not there yet: try again later."""
    binding = view.binding(platform.name)
    if binding is None:
        raise PlatformError("the incident's channel is not set up yet", retryable=True)
    return ChannelRef(binding.channel_id, binding.channel_name)


class Export:
    """Attach the timeline document to the channel it was asked for in."""

    kind = EXPORT
    what = "attaching the timeline"

    async def run(self, run: Run) -> Result:
        w, platform = run.wiring, run.platform
        view = await w.views.full(run.number)
        content = w.presenter.export_markdown(view, w.clock.now())
        channel = ChannelRef(run.payload["channel"]["id"], run.payload["channel"]["name"])
        filename = str(run.payload["filename"])
        comment = f"Timeline of {view.ref}"  # the platform shows the file name beside it
        if run.retrying and await posted(platform, channel, run.job.created_at, naming(comment)):
            return Done()
        await platform.upload_file(channel, filename, content.encode(), comment)
        return Done()


class Remind:
    """Remind the commander in the incident's channel when an update is overdue: once per
    interval of the severity's ``update_every`` without a status update, until the incident
    ends. Due while no Tocsin ran, it fires once, saying how late it is."""

    kind = REMIND
    what = "reminding the commander of a status update"

    async def run(self, run: Run) -> Result:
        w, platform = run.wiring, run.platform
        now = w.clock.now()
        try:
            view = await w.views.summary(run.number)
        except UserError:
            return Done()
        incident = view.incident
        every = view.severity.update_every
        if incident.status not in {s.value for s in OPEN_STATUSES} or every is None:
            return Done()
        slack = min(timedelta(seconds=1), every / 20)  # a timer may fire a moment early
        quiet_since = incident.last_update_at or incident.declared_at
        if quiet_since + every > now + slack:
            return Again(quiet_since + every)  # an update came since this was set
        async with w.sessions() as session:
            last = await Store(session).last_event_at(run.number, "reminder")
        if last is not None and last + every > now + slack:
            # Once per interval, whatever moved this turn (a severity change while the
            # last one ran, an earlier try that reminded and then failed to say so).
            return Again(last + every)
        binding = view.binding(platform.name)
        if binding is None:
            return Again(now + min(every, timedelta(minutes=1)))
        # When this turn fell due: a retry's row is due at its retry, so the first try's
        # time is kept (for how late it is, and where a retry looks for its post).
        fell_due = datetime.fromisoformat(run.state.setdefault("due", run.job.due_at.isoformat()))
        late = now - fell_due
        late_by = late if late > max(timedelta(seconds=5), every / 10) else None
        text = w.presenter.render(
            platform, "reminder", view=view, quiet=now - quiet_since, late=late_by
        )
        room = ChannelRef(binding.channel_id, binding.channel_name)
        await post_once(run, "post", room, text, fell_due, marker=f"⏰ {view.ref}")
        detail = f"late by {spoken_duration(late_by)}" if late_by else ""
        quiet = spoken_duration(now - quiet_since)

        async def on_the_timeline() -> None:
            async with w.sessions() as session, session.begin():
                record(Store(session), incident, TOCSIN, "reminder", now, detail, quiet)

        await run.step("record", on_the_timeline)
        return Again(now + every)


def registry() -> dict[str, Effect]:
    """Every effect, by the kind of job row it runs."""
    from bot.pager import AckTimeout, Escalate, RedrawPages, SendPages  # they build on these

    effects: Iterable[Effect] = (
        OpenChannel(),
        Sync(),
        Export(),
        Remind(),
        Escalate(),
        SendPages(),
        RedrawPages(),
        AckTimeout(),
    )
    return {effect.kind: effect for effect in effects}
