"""Write turns for SQLite: one write transaction at a time in a process, requests first.

SQLite has one writer. Left to its own busy handler, writers that find the database locked
sleep and try again, longer each time, so a burst of writes turns into waits of seconds.
Within one process they can instead queue, each starting the moment the last one ends; and
a person's request (a command's facts) goes before the worker's background writes, which
nobody is waiting on. Across processes, SQLite's own lock and busy timeout still apply: a
write transaction begins IMMEDIATE, so it waits for that lock before it reads anything.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from contextvars import ContextVar, Token
from types import TracebackType
from typing import Any

background: ContextVar[bool] = ContextVar("background", default=False)
"""Set in the worker's tasks: their writes wait for the requests' writes."""

urgent: ContextVar[bool] = ContextVar("urgent", default=False)
"""Set around a write that a request's answer waits on and that is over in a moment (the
replay check before a Slack ack): it goes before the requests already waiting."""

writing: ContextVar[bool] = ContextVar("writing", default=False)
"""Set while a write turn is held: its transaction begins IMMEDIATE (:mod:`storage.engine`),
taking SQLite's write lock before it reads, so that another process cannot change what it
read before it writes (the next task's number, an incident's version)."""


class WriteTurns:
    def __init__(self) -> None:
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    async def acquire(self) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        priority = -1 if urgent.get() else int(background.get())
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        try:
            await turn
        except BaseException:
            if turn.done() and not turn.cancelled():
                self.release()  # it was our turn: pass it on
            raise

    def release(self) -> None:
        while self._waiting:
            _priority, _order, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self._busy = False


class Turn:
    """``async with``: a write turn, then the transaction ``begin`` opens."""

    def __init__(self, turns: WriteTurns, begin: Any) -> None:
        self._turns, self._begin = turns, begin
        self._transaction: Any = None
        self._writing: Token[bool] | None = None

    async def __aenter__(self) -> Any:
        await self._turns.acquire()
        self._writing = writing.set(True)
        try:
            self._transaction = self._begin()
            return await self._transaction.__aenter__()
        except BaseException:
            self._done()
            raise

    def _done(self) -> None:
        if self._writing is not None:
            writing.reset(self._writing)
            self._writing = None
        self._turns.release()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool | None:
        try:
            return bool(await self._transaction.__aexit__(kind, error, trace))
        finally:
            self._done()
