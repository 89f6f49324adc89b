"""A worker process of ``bench.paging``: the core with its worker started as ``tocsin run``
starts it, on a platform that answers at once and notes when each page was posted.

    python -m bench.paging_worker URL CONFIG

It says it is ready on standard output (with its memory), runs until a line comes on
standard input, then prints what it sent, its sweeps' times and its memory, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bot.app import Core, open_core
from bot.platform import ChannelRef, MessageRef, Post
from bot.settings import Settings
from bot.testing import RecordingPlatform
from bot.ui import Card

_REF = re.compile(r"INC-(\d+)")


class StampingPlatform(RecordingPlatform):
    """A platform that answers at once and notes the wall-clock time each page's card was
    posted. It keeps only what a retry would look for (each post's title or text, as UTF-8),
    not the cards, so that its own records weigh little in the process's memory."""

    def __init__(self) -> None:
        super().__init__("fake")
        self.sent: dict[int, list[float]] = {}
        self.kept: dict[str, list[tuple[str, bytes]]] = {}

    async def _check(self, method: str) -> None:
        return None  # no call log, no faults: nothing to slow it down or to keep

    def _keep(self, channel: ChannelRef, what: str) -> MessageRef:
        ref = MessageRef(channel.id, str(next(self._ids)))
        self.kept.setdefault(channel.id, []).append((ref.id, what.encode()))
        return ref

    async def post_card(self, channel: ChannelRef, card: Card) -> MessageRef:
        at = time.time()
        found = _REF.search(card.title)
        if found is not None:
            self.sent.setdefault(int(found.group(1)), []).append(at)
        return self._keep(channel, card.title)

    async def post_message(self, channel: ChannelRef, text: str) -> MessageRef:
        return self._keep(channel, text)

    async def update_card(self, message: MessageRef, card: Card) -> None:
        return None

    async def recent_posts(self, channel: ChannelRef, since: datetime) -> list[Post]:
        kept = self.kept.get(channel.id, [])
        return [Post(MessageRef(channel.id, i), t.decode()) for i, t in kept]

    def weight(self) -> int:
        """Bytes its records take, roughly (they would be on the platform, not here)."""
        size = sys.getsizeof(self.sent) + sys.getsizeof(self.kept)
        for times in self.sent.values():
            size += sys.getsizeof(times) + 24 * len(times)
        for posts in self.kept.values():
            size += sys.getsizeof(posts)
            size += sum(sys.getsizeof(p) + sys.getsizeof(p[0]) + sys.getsizeof(p[1]) for p in posts)
        return size


def memory() -> dict[str, int]:
    """This process's resident memory now and at its peak, in kB."""
    found: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


@dataclass
class SweepTimes:
    """How long each sweep took, whole (waiting for a turn to write included), and its claim
    statement alone."""

    whole: list[float] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)
    statement: list[float] = field(default_factory=list)

    def attach(self, core: Core) -> None:
        worker = core.worker
        assert worker is not None
        sweep = worker.sweep

        async def timed() -> int:
            started = time.perf_counter()
            claimed = await sweep()
            self.whole.append(time.perf_counter() - started)
            self.claimed.append(claimed)
            return claimed

        worker.sweep = timed  # type: ignore[method-assign]
        _time_claims(core, self.statement)


def is_sweep(statement: str) -> bool:
    """The claim of a sweep (``claim_due``): an UPDATE of the jobs picked by a LIMITed
    subquery (a date job's claim names its one row)."""
    return statement.lstrip().upper().startswith("UPDATE JOBS") and "LIMIT" in statement.upper()


def _time_claims(core: Core, into: list[float]) -> None:
    sync = core.engine.sync_engine

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if is_sweep(statement):
            conn.info["sweep_started"] = time.perf_counter()

    def after(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        started = conn.info.pop("sweep_started", None)
        if started is not None:
            into.append(time.perf_counter() - started)

    event.listen(sync, "before_cursor_execute", before)
    event.listen(sync, "after_cursor_execute", after)


async def worker_process(url: str, config: Path) -> None:
    """One worker process: start as ``tocsin run`` starts its worker, say it is ready (with
    its memory), run until told to stop, then report what it sent and its figures."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    platform = StampingPlatform()
    settings = Settings(database_url=url, config_path=config)
    core = await open_core(settings, {platform.name: platform}, migrate=False)
    assert core.worker is not None
    sweeps = SweepTimes()
    sweeps.attach(core)
    await core.worker.start()
    await asyncio.sleep(1.0)  # its first sweeps are done: the process as it idles
    before, cpu = memory(), time.process_time()
    print(json.dumps({"ready": before}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    after, cpu = memory(), time.process_time() - cpu
    fake = platform.weight()
    await core.aclose()
    report = {
        "sent": platform.sent,
        "before": before,
        "after": after,
        "fake_bytes": fake,
        "cpu": cpu,
        "sweeps": sweeps.whole,
        "claimed": sweeps.claimed,
        "statements": sweeps.statement,
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    asyncio.run(worker_process(sys.argv[1], Path(sys.argv[2])))
