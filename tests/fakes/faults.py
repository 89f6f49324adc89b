"""Calls a fake platform fails on purpose, the way a real one does: a 5xx, a call that never
answers (``stall``), or a call carried out whose answer never comes (``lost``). Each fault
is chosen by a predicate the test passes in, and fires a given number of times."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

MODES = ("5xx", "stall", "lost")


@dataclass
class Fault:
    when: Callable[..., bool]
    mode: str
    times: int = 1
    hits: int = 0


class Faults:
    def __init__(self) -> None:
        self.armed: list[Fault] = []
        self.hit = asyncio.Event()
        """Set each time a fault fires."""
        self._stalls: set[asyncio.Future[None]] = set()

    def add(self, when: Callable[..., bool], mode: str, times: int = 1) -> Fault:
        assert mode in MODES, mode
        made = Fault(when, mode, times)
        self.armed.append(made)
        return made

    async def around(
        self,
        call: tuple[Any, ...],
        work: Callable[[], Awaitable[web.StreamResponse]],
        failure: Callable[[], web.StreamResponse],
    ) -> web.StreamResponse:
        """Answer ``call`` by ``work``, unless an armed fault picks it."""
        fault = next((f for f in self.armed if f.hits < f.times and f.when(*call)), None)
        if fault is None:
            return await work()
        fault.hits += 1
        self.hit.set()
        if fault.mode == "5xx":
            return failure()
        if fault.mode == "stall":
            await self._stall()
        await work()
        await self._stall()  # "lost": done, but the answer never comes
        raise AssertionError("unreachable")

    async def _stall(self) -> None:
        """Never answer (until the fake closes)."""
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stalls.add(never)
        try:
            await never
        finally:
            self._stalls.discard(never)

    def release(self) -> None:
        """The fake closes: what it holds ends."""
        for stalled in list(self._stalls):
            stalled.cancel()
