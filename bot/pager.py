"""The paging effects: what the worker does for a step of an escalation (:mod:`bot.paging`
keeps the facts).

- ``incident.page`` (:class:`Escalate`): fire one step, in a change with the incident's row
  locked: page a level (a page row per person and platform), write the next step's row, and
  the ``page.send`` rows; or, after the last round, say that nobody acknowledged.
- ``page.send`` (:class:`SendPages`): on one platform, each page as a card in the person's
  direct messages, with an Acknowledge button; on the incident's own platform, tell its
  channel who was paged. A retry looks for a page it may have sent before sending again.
- ``page.update`` (:class:`RedrawPages`): redraw the pages sent on one platform (who
  acknowledged, resolved) without buttons.
- ``incident.ack_timeout`` (:class:`AckTimeout`): acknowledged but unresolved too long (or
  a snooze that ran out): page again from level 1.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlmodel import col, select

from bot import paging
from bot.durations import spoken_duration
from bot.effects import TOCSIN
from bot.errors import Later, PlatformError, UserError
from bot.identity import Actor
from bot.incidents import Effects, IncidentService
from bot.jobs import ACK_TIMEOUT, PAGE, PAGE_SEND, PAGE_UPDATE
from bot.lifecycle import OPEN, Status, retrigger
from bot.platform import ChannelRef, MessageRef
from bot.runs import Again, Done, Result, Run, post_once, posted
from bot.timeline import record
from bot.views import IncidentView
from storage.models import Incident, Page
from storage.repo import Store

log = logging.getLogger(__name__)
BY_ITSELF = Actor("tocsin", TOCSIN)
CHANNEL_WAIT = timedelta(seconds=15)
"""How long a page waits for the incident's channel (set up at the same time), to link it."""
REPORT_WAIT = timedelta(minutes=10)
"""How long the channel's report of who was paged waits for the channel, at most."""


def _fell_due(run: Run) -> datetime:
    """When this try's step fell due: a retry's row is due at its retry, so the first try's
    time is kept."""
    return datetime.fromisoformat(run.state.setdefault("due", run.job.due_at.isoformat()))


def _late(now: datetime, fell_due: datetime) -> timedelta | None:
    late = now - fell_due
    return late if late > paging.LATE else None


class Escalate:
    kind = PAGE
    what = "paging the next level"

    async def run(self, run: Run) -> Result:
        w = run.wiring
        fell_due = _fell_due(run)

        async def fire(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            e.card = False
            found = paging.due(w, incident, run.job.step)
            if found is None:
                return
            (name, policy), round_, level = found
            when = max(now, incident.updated_at)
            late = _late(now, fell_due)
            said_late = f"late by {spoken_duration(late)}" if late else ""
            report: dict[str, Any] = {"round": round_, "level": level, "late": said_late}
            incident.page_round, incident.page_level = round_, level
            if level == 0:
                incident.paging = paging.EXHAUSTED
                rounds = policy.repeat + 1
                record(store, incident, TOCSIN, "exhausted", when, said_late, str(rounds))
                report |= {"exhausted": rounds, "policy": name}
                e.rows += paging.send_rows(w, incident, run.job.step, [], report)
                return
            step = policy.levels[level - 1]
            targets, nobody = paging.targets(w, step, now)
            pages = paging.reach(w, incident, round_, level, targets)
            store.save(*pages)
            await store.session.flush()  # the pages' ids, for the rows that send them
            detail = f"level {level}" + (f", round {round_}" if round_ > 1 else "")
            names = ", ".join(t.person.name for t in targets) or "nobody"
            record(store, incident, TOCSIN, "paged", when, detail, names)
            if said_late:
                record(store, incident, TOCSIN, "late", when, said_late, detail)
            for page in pages:
                if page.status == paging.UNREACHABLE:
                    record(store, incident, TOCSIN, "page", when, page.status, _about(page))
            for schedule in nobody:
                record(store, incident, TOCSIN, "page", when, "nobody", schedule)
            after = paging.following(policy, round_, level)
            e.rows.append(paging.next_row(w, incident, after, now + step.escalate_after))
            report |= {
                "people": [
                    {"key": t.person.key, "name": t.person.name, "via": t.via} for t in targets
                ],
                "unreachable": sorted(
                    {p.person_name for p in pages if p.status == paging.UNREACHABLE}
                ),
                "nobody": nobody,
            }
            e.rows += paging.send_rows(w, incident, run.job.step, pages, report)

        try:
            await IncidentService(w).change(run.number, BY_ITSELF, fire)
        except UserError:  # the incident is gone
            return Done()
        return Done()


def _about(page: Page) -> str:
    where = f" on {page.platform}" if page.platform else ""
    said = f"{page.person_name}{where}"
    return f"{said}: {page.error}" if page.error else said


_REPORT: dict[str, Any] = {
    "exhausted": 0,
    "policy": "",
    "people": [],
    "unreachable": [],
    "nobody": [],
    "failed": [],
}


@dataclass(frozen=True)
class Paged:
    """Someone a step paged, as the channel is told: mentioned, with the target that named
    them."""

    key: str
    name: str
    via: str


class SendPages:
    kind = PAGE_SEND
    what = "sending the pages"

    async def run(self, run: Run) -> Result:
        w, platform = run.wiring, run.platform
        now = w.clock.now()
        fell_due = _fell_due(run)
        view = await w.views.summary(run.number)
        channel_ready = view.binding(view.incident.platform or "") is not None
        if not channel_ready and now - fell_due < CHANNEL_WAIT and _open(view.incident):
            raise Later("the incident's channel is being set up", retry_after=1)
        ids = [int(i) for i in run.payload.get("pages", [])]
        pages = await _load(w, ids)
        for page in pages:
            await run.step(f"page:{page.id}", partial(self._send, run, view, page))
        report = run.payload.get("report")
        if isinstance(report, dict):
            # A page the platform refused (sent with the report: the incident's platform)
            # is told like someone with no id: the channel must not think they were paged.
            refused = [p for p in pages if p.status == paging.FAILED]
            report = report | {
                "failed": [{"name": p.person_name, "error": p.error} for p in refused]
            }
            binding = view.binding(platform.name)
            if binding is None:
                if now - fell_due < REPORT_WAIT and _open(view.incident):
                    raise Later("the incident's channel is not set up yet", retry_after=5)
                return Done()
            room = ChannelRef(binding.channel_id, binding.channel_name)
            report = _REPORT | report
            people = [Paged(**p) for p in report["people"]]
            text = w.presenter.render(platform, "paged", view=view, report=report, people=people)
            await post_once(run, "report", room, text, fell_due)
            if report["exhausted"]:
                where = w.config.incident.announce_channel
                run.doing = f"telling the announce channel ({where}) nobody acknowledged"
                announce = await platform.find_channel(where, near=room)
                await post_once(run, "announce", announce, text, fell_due)
        return Done()

    async def _send(self, run: Run, view: IncidentView, page: Page) -> None:
        w, platform = run.wiring, run.platform
        incident = view.incident
        if page.status != paging.PENDING:
            return
        if page.acknowledged_at is not None or not _paging(incident, page):
            await _settle(run, page, paging.SKIPPED, "acknowledged or ended before it was sent")
            return
        user_id = w.directory.platform_id(page.person_key, platform.name)
        if user_id is None:
            await _settle(run, page, paging.UNREACHABLE, f"no id on {platform.name}")
            return
        run.doing = f"paging {page.person_name} on {platform.name}"
        try:
            dm = await platform.open_dm(user_id)
            card = w.presenter.page_card(view, page, platform)
            ref = None
            if run.retrying:
                # By the start of its title (a platform may cut a long one), which names
                # its level and round; not a page of an earlier cycle, saved already.
                mark = w.presenter.page_mark(view, page)
                taken = await _taken(w, page, dm)
                ref = await posted(
                    platform, dm, page.created_at, lambda t: t.startswith(mark), taken
                )
            if ref is None:
                ref = await platform.post_card(dm, card)
        except PlatformError as exc:
            if exc.retryable:
                raise
            await _settle(run, page, paging.FAILED, str(exc))
            return
        run.doing = ""
        page.channel_id, page.message_id = ref.channel_id, ref.id
        now_shows = await _settle(run, page, paging.SENT, "")
        if now_shows is not None:  # acknowledged (or ended) while it was being sent
            drawn = w.presenter.page_card(now_shows, page, platform)
            await platform.update_card(ref, drawn)


def _open(incident: Incident) -> bool:
    return incident.status in {s.value for s in OPEN}


def _paging(incident: Incident, page: Page) -> bool:
    """Whether ``page`` still asks for an answer: nobody acknowledged its cycle (yet), and
    the incident has not ended."""
    return incident.paging in paging.UNANSWERED and incident.page_cycle == page.cycle


async def _load(w: Any, ids: list[int]) -> list[Page]:
    if not ids:
        return []
    async with w.sessions() as session:
        query = select(Page).where(col(Page.id).in_(ids)).order_by(col(Page.id))
        return list((await session.exec(query)).all())


async def _taken(w: Any, page: Page, dm: ChannelRef) -> set[str]:
    """The messages in ``dm`` that other pages were sent as."""
    async with w.sessions() as session:
        query = select(Page.message_id).where(
            Page.channel_id == dm.id, Page.id != page.id, col(Page.message_id).is_not(None)
        )
        return {str(m) for m in (await session.exec(query)).all()}


async def _settle(run: Run, page: Page, status: str, error: str) -> IncidentView | None:
    """Save what came of a page, on its row and the timeline. Returns the incident as it is
    now when a page just sent should no longer be answered (it was acknowledged, or ended,
    meanwhile), else None."""
    w = run.wiring
    now = w.clock.now()
    page.status, page.error = status, error[:1000]
    if status == paging.SENT:
        page.sent_at = now
    async with w.sessions() as session, session.begin():
        store = Store(session)
        incident = await store.incident(run.number, lock=True)
        if incident is None:
            return None
        saved = await session.get(Page, page.id)
        if saved is not None:
            for name in ("status", "error", "sent_at", "channel_id", "message_id"):
                setattr(saved, name, getattr(page, name))
            store.save(saved)
            page = saved
        if status != paging.SKIPPED:
            record(
                store, incident, TOCSIN, "page", max(now, incident.updated_at), status, _about(page)
            )
        stale = status == paging.SENT and (
            page.acknowledged_at is not None or not _paging(incident, page)
        )
    return await w.views.summary(run.number) if stale else None


class RedrawPages:
    kind = PAGE_UPDATE
    what = "updating the pages sent"

    async def run(self, run: Run) -> Result:
        w, platform = run.wiring, run.platform
        view = await w.views.summary(run.number)
        async with w.sessions() as session:
            query = select(Page).where(
                Page.incident_id == run.number,
                Page.platform == platform.name,
                col(Page.message_id).is_not(None),
            )
            pages = list((await session.exec(query.order_by(col(Page.id)))).all())
        for page in pages:
            ref = MessageRef(page.channel_id or "", page.message_id or "")
            card = w.presenter.page_card(view, page, platform)
            try:
                await run.step(f"page:{page.id}", partial(platform.update_card, ref, card))
            except PlatformError as exc:
                if exc.retryable:
                    raise
                log.info("could not update the page %s of INC-%s: %s", page.id, run.number, exc)
        return Done()


class AckTimeout:
    kind = ACK_TIMEOUT
    what = "paging again after the ack timeout"

    async def run(self, run: Run) -> Result:
        w = run.wiring
        snoozed: list[datetime] = []

        async def again(store: Store, incident: Incident, now: datetime, e: Effects) -> None:
            e.card = False
            if not _open(incident) or incident.status == Status.RESOLVED.value:
                return
            if incident.paging == paging.ACTIVE or incident.page_cycle != run.job.step:
                return
            if incident.snoozed_until is not None and incident.snoozed_until > now + timedelta(
                seconds=1
            ):
                snoozed.append(incident.snoozed_until)  # moved while this turn was claimed
                return
            timeout = w.config.severity(incident.severity).ack_timeout
            why = "snooze" if incident.snoozed_until else spoken_duration(timeout or timedelta())
            rows = paging.start(w, incident, now)
            if not rows:
                return  # no policy pages it any more
            was = incident.status
            when = retrigger(incident, now)
            record(store, incident, TOCSIN, "ack_timeout", when, was, why)
            e.rows += rows
            e.card = incident.status != was

        try:
            await IncidentService(w).change(run.number, BY_ITSELF, again)
        except UserError:
            return Done()
        return Again(snoozed[0]) if snoozed else Done()
