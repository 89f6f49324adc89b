"""The worker: runs the job rows that changes write (ARCHITECTURE.md, "Facts, then effects").

The database is the source of truth and APScheduler the clock. A row this process wrote
already running under its own lease runs at once (no claim, so an answer is never slower
than the change). Every process runs a short interval sweep that claims due rows,
including those of a process that died (its lease expired), so each row runs once across
restarts and replicas; and looks ahead: each pending row falling due before the sweep
after next gets an APScheduler date job that claims it on time, whoever wrote it (another
replica, the CLI, a process before a restart). Only those rows are timed in memory.

At most ``capacity`` jobs run at a time. Rows a change wrote for this process wait in
memory for a free runner; a sweep claims no more than there is room for, so other due
rows wait in the table; while sweeps come back full, a runner that frees room sweeps
again at once, so a backlog (after an outage, a burst) drains as fast as jobs run. A try that
fails on a platform is tried again with backoff; a platform's "come back after N seconds"
(a rate limit) is waited out without counting as a try. One that finally fails is
recorded on the timeline and told to the person concerned. A row whose outcome cannot be
saved (the database failed) is handed back, or, failing that, left to its lease: only the
rows a runner is working on are renewed, so a sweep takes the rest over. Stopping
finishes what it can within a grace period and hands the rest back, due at once, for the
next start or another replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from bot.effects import catch_up
from bot.errors import Later, PlatformError, UserError
from bot.identity import Person
from bot.runs import Again, Effect, Result, Run, describe, tell
from bot.timeline import record
from bot.timers import Timers
from bot.views import IncidentView
from bot.wiring import Wiring
from storage import jobs
from storage.errors import UNAVAILABLE
from storage.models import Job
from storage.repo import Store
from storage.turns import background

log = logging.getLogger(__name__)
RETRYABLE: tuple[type[Exception], ...] = (TimeoutError, ConnectionError, *UNAVAILABLE)
PURGE_AFTER = timedelta(days=1)
LOOK_AHEAD_ROWS = 1000
"""At most this many rows falling due soon get a date job per sweep; the rest are claimed
by the sweeps themselves (a sweep that finds its room full sweeps again as room frees)."""


def process_id() -> str:
    """Who holds a lease: unique per process, so a restarted process never mistakes a dead
    one's rows for its own."""
    return f"tocsin-{uuid.uuid4().hex[:12]}"


class Worker:
    def __init__(
        self,
        wiring: Wiring,
        effects: Mapping[str, Effect],
        *,
        capacity: int = 16,
        timeout: timedelta = timedelta(seconds=30),
        sweep_every: timedelta = timedelta(seconds=2),
        max_attempts: int = 8,
        backoff: timedelta = timedelta(seconds=1),
        backoff_cap: timedelta = timedelta(minutes=5),
    ) -> None:
        self._w = wiring
        self._effects = dict(effects)
        self.capacity = capacity
        self.timeout = timeout
        self.sweep_every = sweep_every
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self._queue: asyncio.Queue[tuple[Job, IncidentView | None]] = asyncio.Queue()
        self._runners: list[asyncio.Task[None]] = []
        self._running: dict[int, asyncio.Task[None]] = {}
        self._held: set[int] = set()
        """Rows taken and not yet settled: queued or running. Only their leases are renewed."""
        self._sweeping: asyncio.Task[int] | None = None
        self._backlog = False
        """The last sweep claimed as many rows as it had room for: more may be due."""
        self._timed: dict[int, datetime] = {}
        """Rows given a date job lately, and the due time it is for: a look-ahead does not
        time them again (one that read the table before the claim still sees them pending,
        and APScheduler would skip a second date job while the first one runs)."""
        self._chores: set[asyncio.Task[None]] = set()
        self._timers = Timers(wiring.clock, sweep_every * 2)
        """Date jobs reach to the sweep after next: a sweep that runs late leaves no gap."""
        self._accepting = True
        wiring.jobs.taker = self

    @property
    def owner(self) -> str:
        return self._w.jobs.owner

    @property
    def lease(self) -> timedelta:
        return self._w.jobs.lease

    # taking rows

    def accept(self, rows: Sequence[Job], hint: object | None) -> None:
        """Rows a change just committed: run ours now; keep the time of the rest."""
        view = hint if isinstance(hint, IncidentView) else None
        now = self._w.clock.now()
        for row in rows:
            if row.status == jobs.RUNNING and row.lease_owner == self.owner:
                self._enqueue(row, view)
            elif row.due_at > now:
                self._at(row.id, row.due_at)
            else:
                self.kick()

    def _enqueue(self, row: Job, hint: IncidentView | None) -> None:
        if not self._accepting or row.id is None:
            return
        self._held.add(row.id)
        self._queue.put_nowait((row, hint))
        while len(self._runners) < self.capacity:
            self._runners.append(asyncio.create_task(self._runner()))

    def _at(self, job_id: int | None, due: datetime) -> None:
        """Claim the row when it falls due (if soon: see :mod:`bot.timers`). The claim is
        a chore, so stopping waits for it rather than cutting it off half-way."""
        if job_id is not None and self._timers.at(job_id, due, self._due_chore):
            self._timed[job_id] = due

    async def _due_chore(self, job_id: int) -> None:
        await self._chore(partial(self._due, job_id))

    def timers(self) -> list[int]:
        """The rows that have a date job now."""
        return self._timers.rows()

    async def _due(self, job_id: int) -> None:
        if self._room() <= 0:  # busy: the row waits in the table for a sweep (or a replica)
            self._backlog = True
            return
        row = await jobs.claim(
            self._w.sessions, job_id, owner=self.owner, now=self._w.clock.now(), lease=self.lease
        )
        if row is not None and self._runs(row) and self._accepting:
            self._enqueue(row, None)
        elif row is not None:  # not ours to run, or claimed as this process stops
            await jobs.release(self._w.sessions, owner=self.owner, ids=[job_id], untried=True)

    def _runs(self, row: Job) -> bool:
        return row.platform is None or row.platform in self._w.platforms

    def kick(self) -> None:
        """Sweep soon (a row is due that this process did not claim as it wrote it)."""
        if self._accepting and (self._sweeping is None or self._sweeping.done()):
            self._sweeping = asyncio.create_task(self.sweep())

    def _room(self) -> int:
        return self.capacity * 2 - self._queue.qsize() - len(self._running)

    async def sweep(self) -> int:
        """Claim the due rows this process can run (as many as it has room for); with the
        clock started, give the rows falling due soon their date jobs."""
        if not self._accepting:
            return 0
        room, now, platforms = self._room(), self._w.clock.now(), list(self._w.platforms)
        ago = now - self._timers.horizon
        self._timed = {i: due for i, due in self._timed.items() if due > ago}
        rows: list[Job] = []
        soon: list[tuple[int, datetime]] = []
        try:
            if room > 0:
                rows = await jobs.claim_due(
                    self._w.sessions,
                    owner=self.owner,
                    now=now,
                    lease=self.lease,
                    platforms=platforms,
                    limit=room,
                )
            if self._timers.running:
                soon = await jobs.due_soon(
                    self._w.sessions,
                    after=now,
                    until=now + self._timers.horizon,
                    platforms=platforms,
                    limit=LOOK_AHEAD_ROWS,
                )
        except UNAVAILABLE as exc:
            log.warning("could not look for due jobs: %s", describe(exc))
        self._backlog = len(rows) >= room
        for row in rows:
            self._enqueue(row, None)
        for job_id, due in soon:
            if job_id not in self._held and self._timed.get(job_id) != due:
                self._at(job_id, due)
        return len(rows)

    # running

    async def _runner(self) -> None:
        background.set(True)  # its writes give way to people's requests (storage.turns)
        while True:
            row, hint = await self._queue.get()
            task = asyncio.current_task()
            assert task is not None and row.id is not None
            self._running[row.id] = task
            try:
                await self._execute(row, hint)
            except Exception as exc:
                await self._unsettled(row, exc)
            finally:
                self._running.pop(row.id, None)
                self._held.discard(row.id)
                self._queue.task_done()
                if self._backlog and self._room() >= self.capacity:
                    self.kick()  # due rows wait in the table: take the next batch now

    async def _unsettled(self, row: Job, exc: Exception) -> None:
        """Its outcome could not be saved: hand it back to be tried again. If even that
        fails, its lease is no longer renewed, so a sweep takes it over when it expires."""
        assert row.id is not None
        log.warning("job %s (%s) could not be settled: %s", row.id, row.kind, describe(exc))
        try:
            await jobs.release(self._w.sessions, owner=self.owner, ids=[row.id])
        except UNAVAILABLE as again:
            log.warning("job %s is left to its lease: %s", row.id, describe(again))

    async def _execute(self, row: Job, hint: IncidentView | None) -> None:
        assert row.id is not None
        effect = self._effects.get(row.kind)
        if effect is None:
            log.error("job %s has a kind this Tocsin does not know: %r", row.id, row.kind)
            await jobs.finish(
                self._w.sessions,
                row.id,
                owner=self.owner,
                status=jobs.FAILED,
                error=f"unknown kind {row.kind!r}",
            )
            return
        run = Run(self._w, row, hint)
        try:
            async with asyncio.timeout(self.timeout.total_seconds()):
                result = await effect.run(run)
                await self._complete(run, effect, result)
        except Exception as exc:
            await self._failed(run, effect, exc)

    async def _complete(self, run: Run, effect: Effect, result: Result) -> None:
        row = run.job
        assert row.id is not None
        sessions, owner = self._w.sessions, self.owner
        if isinstance(result, Again):
            due = result.at
            if await jobs.again(sessions, row.id, owner=owner, due_at=due, turn_after=row.due_at):
                row.due_at, row.status = due, jobs.PENDING
                self._at(row.id, due)
            return
        failed = result.failed
        status = jobs.FAILED if failed is not None else jobs.DONE
        error = describe(failed) if failed is not None else ""
        shows, settled = result.shows, False
        for _ in range(5):
            number = (run.number, shows) if shows is not None else None
            if await jobs.finish(
                sessions, row.id, owner=owner, status=status, error=error, shows=number
            ):
                settled = True
                break
            if shows is None or not await jobs.holds(sessions, row.id, owner=owner):
                log.warning("job %s (%s) is no longer this process's", row.id, row.kind)
                return
            shows = await catch_up(run, shows)
        if not settled:
            settled = await jobs.finish(sessions, row.id, owner=owner, status=status, error=error)
        if settled and failed is not None:
            log.warning("job %s (%s) finished with a failure: %s", row.id, row.kind, error)
            await self._gave_up(run, effect, error, None)

    async def _failed(self, run: Run, effect: Effect, exc: Exception) -> None:
        row = run.job
        assert row.id is not None
        error_id = None
        retryable = isinstance(exc, RETRYABLE) or (isinstance(exc, PlatformError) and exc.retryable)
        if not isinstance(exc, (PlatformError, UserError, *RETRYABLE)):
            error_id = uuid.uuid4().hex[:8]
            log.exception("error %s in job %s (%s)", error_id, row.id, row.kind, exc_info=exc)
            retryable = True  # perhaps a passing fault; the attempts are counted
        message = describe(exc)
        if isinstance(exc, Later):
            wait = timedelta(seconds=exc.retry_after or 1)
            log.info(
                "job %s (%s) comes back in %.0f s: %s",
                row.id,
                row.kind,
                wait.total_seconds(),
                message,
            )
            run.waited()
            await self._again(run, wait, message)
            return
        tries = run.tries
        if retryable and tries < self.max_attempts:
            wait = self._backoff(tries, exc)
            log.info(
                "job %s (%s) failed (try %d), again in %.0f s: %s",
                row.id,
                row.kind,
                tries,
                wait.total_seconds(),
                message,
            )
            await self._again(run, wait, message)
            return
        log.warning("job %s (%s) gave up after %d tries: %s", row.id, row.kind, tries, message)
        if await jobs.finish(
            self._w.sessions, row.id, owner=self.owner, status=jobs.FAILED, error=message
        ):
            await self._gave_up(run, effect, message, error_id)
        else:
            log.warning("job %s (%s) is no longer this process's", row.id, row.kind)

    async def _again(self, run: Run, wait: timedelta, message: str) -> None:
        """Give the row back to run again after ``wait``, with the steps it got through."""
        row = run.job
        assert row.id is not None
        due = self._w.clock.now() + wait
        if await jobs.again(
            self._w.sessions,
            row.id,
            owner=self.owner,
            due_at=due,
            error=message,
            state=run.state,
        ):
            row.due_at = due
            self._at(row.id, due)

    def _backoff(self, attempts: int, exc: Exception) -> timedelta:
        wait: timedelta = min(self.backoff * 2 ** max(0, attempts - 1), self.backoff_cap)
        after = getattr(exc, "retry_after", None)
        if after:
            wait = max(wait, timedelta(seconds=float(after)))
        return wait

    async def _gave_up(self, run: Run, effect: Effect, message: str, error_id: str | None) -> None:
        """Put the failure on the timeline and tell whoever caused the job."""
        row, w = run.job, self._w
        what = run.doing or effect.what
        ref = f"INC-{run.number}" if row.subject.startswith("incident:") else row.subject
        actor = run.actor()
        try:
            if row.subject.startswith("incident:"):
                async with w.sessions() as session, session.begin():
                    store = Store(session)
                    incident = await store.incident(run.number)
                    if incident is not None:
                        # Tocsin's failure, not the person's whose change caused the job
                        # (they are told below): "Tocsin gave up inviting bob: …".
                        who = Person("tocsin", "Tocsin")
                        record(store, incident, who, "failed", w.clock.now(), what, message)
            told = await tell(
                w,
                actor,
                lambda chat: w.presenter.render(
                    chat,
                    "failed",
                    ref=ref,
                    what=what,
                    where=row.platform or "",
                    error=message,
                    error_id=error_id,
                    attempts=run.tries,
                ),
            )
            if not told:
                log.warning("nobody could be told that job %s (%s) failed", row.id, row.kind)
        except Exception:
            log.exception("could not record or tell that job %s (%s) failed", row.id, row.kind)

    # the clock

    async def start(self) -> None:
        """Start the clock (:mod:`bot.timers`): the sweep, lease renewal and clean-up; then
        sweep at once for rows that fell due while no process ran."""
        self._timers.start(
            {
                "tocsin-sweep": (self.sweep_every, self._tick, ()),
                "tocsin-lease": (self.lease / 3, self._chore, (self._renew,)),
                "tocsin-purge": (timedelta(minutes=10), self._chore, (self._purge,)),
            }
        )
        self.kick()

    async def _tick(self) -> None:
        self.kick()

    async def _chore(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work`` as this worker's own task, not APScheduler's: stopping waits for
        it, instead of APScheduler cancelling it half-way and logging that as an error."""
        if self._accepting:
            task = asyncio.create_task(work())
            self._chores.add(task)
            task.add_done_callback(self._chores.discard)

    async def _renew(self) -> None:
        with contextlib.suppress(*UNAVAILABLE):
            await jobs.renew(
                self._w.sessions,
                owner=self.owner,
                ids=set(self._held),
                until=self._w.clock.now() + self.lease,
            )

    async def _purge(self) -> None:
        with contextlib.suppress(*UNAVAILABLE):
            await jobs.purge(self._w.sessions, before=self._w.clock.now() - PURGE_AFTER)

    async def drain(self) -> None:
        """Wait for the jobs this process has taken (what a command set going here)."""
        await self._queue.join()

    async def settle(self, *, within: timedelta = timedelta(0)) -> None:
        """Wait until nothing due is left to run here (tests, the shell between lines);
        with ``within``, also for what falls due that soon (retries after a backoff)."""
        while True:
            await self._queue.join()
            if self._sweeping is not None:
                await asyncio.gather(self._sweeping, return_exceptions=True)
            if await self.sweep() > 0 or not self._queue.empty():
                continue
            if within <= timedelta(0):
                return
            due = await jobs.next_due(self._w.sessions, platforms=list(self._w.platforms))
            wait = (due - self._w.clock.now()) if due is not None else None
            if wait is None or wait > within:
                return
            await asyncio.sleep(max(0.0, wait.total_seconds()))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking jobs; finish what runs within ``grace`` seconds; hand the rest back."""
        self._accepting = False
        self._w.jobs.taker = None
        self._timers.stop()
        if self._sweeping is not None:
            await asyncio.gather(self._sweeping, return_exceptions=True)
        await asyncio.gather(*self._chores, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=grace)
        for task in self._runners:
            task.cancel()
        await asyncio.gather(*self._runners, return_exceptions=True)
        self._runners.clear()
        waiting: list[int] = []
        while not self._queue.empty():
            row, _hint = self._queue.get_nowait()
            waiting += [row.id] if row.id is not None else []
            self._queue.task_done()
        self._held.clear()
        try:
            # Those never started do not count as a try; those cut short do.
            handed = await jobs.release(
                self._w.sessions, owner=self.owner, ids=waiting, untried=True
            )
            handed += await jobs.release(self._w.sessions, owner=self.owner)
        except UNAVAILABLE as exc:
            log.warning(
                "could not hand back jobs: %s (other processes take them over later)",
                describe(exc),
            )
            return
        if handed:
            log.info("handed back %d unfinished job(s)", handed)
