"""The worker's clock (ARCHITECTURE.md, "Facts, then effects"): APScheduler runs the
sweep and the chores at intervals, and gives each row falling due soon a date job that
claims it when it falls due.

Only rows due within ``horizon`` (the sweep after next) get a date job; each sweep looks
ahead for the next ones, whoever wrote them. So memory holds the rows due in the next few
seconds, however many wait in the table, and a row written by another process (a replica,
the CLI, a process before a restart) fires on time rather than at the next sweep.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock

ROW = "tocsin-job-"
"""The prefix of a row's date job's id (the rest is the row's id)."""

Every = tuple[timedelta, Callable[..., Awaitable[None]], Sequence[Any]]
"""An interval job: how often, what, with which arguments."""


class Timers:
    def __init__(self, clock: Clock, horizon: timedelta) -> None:
        self._clock = clock
        self.horizon = horizon
        self._scheduler: Any = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    def start(self, every: Mapping[str, Every]) -> None:
        """Start APScheduler with the interval jobs of ``every`` (by name)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        scheduler = AsyncIOScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for name, (interval, work, args) in every.items():
            scheduler.add_job(
                work, "interval", args=list(args), seconds=interval.total_seconds(), id=name
            )
        scheduler.start()
        self._scheduler = scheduler

    def at(self, job_id: int, due: datetime, fire: Callable[[int], Awaitable[None]]) -> bool:
        """``fire(job_id)`` when the row falls due, if that is within the horizon (a later
        row gets its date job from a later sweep's look-ahead); whether it will. Another
        date job of the same row is replaced."""
        if self._scheduler is None or due > self._clock.now() + self.horizon:
            return False
        self._scheduler.add_job(
            fire,
            "date",
            run_date=due,
            args=[job_id],
            id=f"{ROW}{job_id}",
            replace_existing=True,
            misfire_grace_time=None,
        )
        return True

    def rows(self) -> list[int]:
        """The rows that have a date job now."""
        found = self._scheduler.get_jobs() if self._scheduler is not None else []
        return [int(job.id.removeprefix(ROW)) for job in found if job.id.startswith(ROW)]

    def stop(self) -> None:
        if self._scheduler is not None:
            # Paused at once, it hands over no more jobs; its shutdown, which cancels those
            # handed over but not yet started (logging an error for each), comes a turn of
            # the event loop later.
            self._scheduler.pause()
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
