"""One try of one job: what an effect is given (:class:`Run`), what it returns
(:class:`Done`, :class:`Again`), and what every effect shares.

Every effect may run more than once (a retry after a platform error, a process killed
part-way, a hand-back at shutdown), so each step either cannot double (setting a topic,
pinning, editing a card, inviting) or, on a second try, first looks for what an earlier
try made (:func:`posted`, :func:`post_once`). Steps that finished are remembered when a try
fails part-way (:meth:`Run.step`), so the next try skips them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.errors import PlatformError, Unsupported
from bot.platform import ChannelRef, ChatPlatform, MessageRef
from bot.render import Rich
from bot.views import IncidentView
from bot.wiring import Wiring
from storage import jobs
from storage.models import Job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    """The job is done. ``shows``: the incident version its card and topic now show; the
    worker checks that nothing changed meanwhile before calling it done. ``failed``: a step
    refused for good that the rest did not depend on: the job ends failed, and that is
    recorded and told, once its card is up to date."""

    shows: int | None = None
    failed: PlatformError | None = None


@dataclass(frozen=True)
class Again:
    """Run the job again at ``at`` (a recurring job's next turn)."""

    at: datetime


Result = Done | Again


@dataclass
class Run:
    """One try of one job row."""

    wiring: Wiring
    job: Job
    hint: IncidentView | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    doing: str = ""
    """The step under way, when it says more than the effect's ``what`` (for a failure)."""

    def __post_init__(self) -> None:
        self.payload = jobs.loads(self.job.payload)
        self.state = jobs.loads(self.job.state)
        self.state.setdefault("done", [])

    @property
    def retrying(self) -> bool:
        """An earlier try may have got part-way: look before making anything. (Every
        claim counts one, durably, before the try starts: a try killed part-way counts.)"""
        return self.job.attempts > 1

    @property
    def tries(self) -> int:
        """The tries that count towards giving up: not those a platform told to come back
        later (a rate limit), which are waited out."""
        return self.job.attempts - int(self.state.get("waits", 0))

    def waited(self) -> None:
        """This try was told to come back later: it does not count towards giving up."""
        self.state["waits"] = int(self.state.get("waits", 0)) + 1

    @property
    def number(self) -> int:
        return int(self.job.subject.partition(":")[2])

    @property
    def platform(self) -> ChatPlatform:
        name = self.job.platform or ""
        platform = self.wiring.platforms.get(name)
        if platform is None:
            raise PlatformError(f"{name or 'no platform'} does not run in this process")
        return platform

    def done(self, step: str) -> bool:
        return step in self.state["done"]

    def mark(self, step: str) -> None:
        self.state["done"].append(step)

    async def step(self, name: str, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` once across tries: skipped when an earlier try finished it."""
        if not self.done(name):
            await work()
            self.mark(name)

    async def view(self) -> IncidentView:
        """The incident as it is now: the change's own view when this is its first try."""
        version = self.payload.get("version")
        hint = self.hint
        if hint is not None and not self.retrying and hint.incident.version == version:
            return hint
        return await self.wiring.views.summary(self.number)

    def actor(self) -> dict[str, Any]:
        actor = self.payload.get("actor")
        return actor if isinstance(actor, dict) else {}


class Effect(Protocol):
    kind: str
    what: str
    """What it does, for messages: "set up the channel"."""

    async def run(self, run: Run) -> Result: ...


# Looking for what an earlier try made.


async def posted(
    platform: ChatPlatform,
    channel: ChannelRef,
    since: datetime,
    matches: Callable[[str], bool],
    taken: Collection[str] = (),
) -> MessageRef | None:
    """The bot's own post in ``channel`` since ``since`` that ``matches``, if any, but none
    of those ``taken`` (by their ids). Where the platform cannot say (it may not read that
    channel), none: posting again is better than not posting at all."""
    try:
        found = await platform.recent_posts(channel, since - timedelta(seconds=5))
    except Unsupported as exc:
        log.warning("cannot look for an earlier try's post, so posting: %s", exc)
        return None
    for post in found:
        if matches(post.text) and post.ref.id not in taken:
            return post.ref
    return None


_EMPHASIS = re.compile(r"[*_~`]")


def naming(marker: str) -> Callable[[str], bool]:
    """Whether a text contains ``marker`` as a whole (``INC-1`` is not in ``INC-12``),
    whatever emphasis the platform's dialect put in it (``⏰ **INC-1**`` names ``⏰ INC-1``)."""
    pattern = re.compile(re.escape(marker) + r"(?![\w-])")
    return lambda text: pattern.search(_EMPHASIS.sub("", text)) is not None


async def post_once(
    run: Run, step: str, channel: ChannelRef, text: str, since: datetime, marker: str = ""
) -> None:
    """Post ``text`` unless a try before this one did (found by ``marker``, else the text)."""

    async def post() -> None:
        platform = run.platform
        if run.retrying:
            matches = naming(marker) if marker else (lambda seen: text.strip() in seen)
            if await posted(platform, channel, since, matches):
                return
        await platform.post_message(channel, text)

    await run.step(step, post)


async def tell(
    wiring: Wiring, actor: Mapping[str, Any], text_for: Callable[[ChatPlatform], Rich]
) -> bool:
    """Tell the person behind a request: through the request's own answer address while it
    lasts, else a direct message. ``False`` if they could not be reached."""
    platform = wiring.platforms.get(str(actor.get("platform", "")))
    if platform is None:
        return False
    text = text_for(platform)
    reply_to, user_id = actor.get("reply_to"), actor.get("user_id")
    if reply_to:
        try:
            await platform.answer(str(reply_to), text, public=False)
            return True
        except PlatformError:
            pass
    if user_id:
        await platform.post_dm(str(user_id), text)
        return True
    return False


def describe(error: BaseException) -> str:
    """One line a person can read, for the timeline and the message telling them."""
    if isinstance(error, TimeoutError):
        return "the platform did not answer in time"
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:300]
