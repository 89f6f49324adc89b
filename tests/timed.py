"""Letting time pass for a core that runs with a :class:`ManualClock`, behind a real
adapter: each job is run as it falls due, as the worker's timers would run it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from bot.app import Core
from bot.clock import ManualClock
from storage import jobs


async def later(
    core: Core, clock: ManualClock, seconds: float, settle: Callable[[], Awaitable[None]]
) -> None:
    """Move ``clock`` on by ``seconds``, stopping at each job as it falls due; ``settle``
    waits for the adapter's answers and the core's effects (a rig's own ``settle``)."""
    end = clock.now() + timedelta(seconds=seconds)
    await settle()
    while True:
        due = await jobs.next_due(core.sessions)
        if due is None or due > end:
            break
        clock.set(max(due, clock.now()))
        await settle()
    clock.set(end)
    await settle()


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for ``condition`` to hold, looking every 20 ms; fail after ``within`` seconds
    (generous: a loaded machine is slow, and this asserts no timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "the condition never held"
        await asyncio.sleep(0.02)
