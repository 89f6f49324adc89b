"""Numbers given out by two processes at once on one database: tasks (1, 2, … within an
incident) and incidents (INC-n). Each process runs the dispatcher, as ``tocsin run`` or the
shell does, with commands of its own in flight at the same time."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy import text

from bot.app import open_core
from bot.inbound import Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform
from storage.engine import create_engine

EACH = 20
PROCESS = """
import asyncio, sys
from bot.app import open_core
from bot.inbound import Command
from bot.platform import ChannelRef, UserRef
from bot.settings import Settings
from bot.testing import RecordingPlatform

async def main(url, name, command, count):
    platform = RecordingPlatform()
    settings = Settings(database_url=url)
    core = await open_core(settings, {platform.name: platform}, worker=False, migrate=False)
    try:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        async def one(i):
            typed = Command(platform.name, UserRef(name, name), ChannelRef("lobby", "lobby"),
                            command.format(name=name, i=i))
            reply = await core.dispatcher.command(typed)
            print("ok" if reply.ok else "failed: " + reply.text, flush=True)

        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await core.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
"""


async def two_processes_at_once(url: str, command: str, cwd: Path) -> list[str]:
    """Run ``command`` EACH times in each of two processes, both starting together; what
    each command's answer was."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            PROCESS,
            url,
            name,
            command,
            str(EACH),
            cwd=cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for name in ("alice", "bob")
    ]
    for process in processes:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert line == b"ready\n", line
    for process in processes:
        assert process.stdin is not None
        process.stdin.write(b"go\n")
        await process.stdin.drain()
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in processes)), 120)
    assert [p.returncode for p in processes] == [0, 0]
    return [line for out, _err in outputs for line in out.decode().splitlines()]


async def numbers(url: str, query: str) -> list[int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return [row[0] for row in (await conn.execute(text(query))).all()]
    finally:
        await engine.dispose()


async def test_two_processes_adding_tasks_at_once_number_them_all(
    database_url: str, tmp_path: Path
) -> None:
    platform = RecordingPlatform()
    core = await open_core(Settings(database_url=database_url), {platform.name: platform})
    try:
        lobby = ChannelRef("lobby", "lobby")
        declared = await core.dispatcher.command(
            Command(platform.name, UserRef("alice", "Alice"), lobby, "declare Disk full")
        )
        assert declared.ok, declared.text
    finally:
        await core.aclose()
    said = await two_processes_at_once(database_url, "INC-1 task add {name} {i}", Path.cwd())
    assert said == ["ok"] * 2 * EACH, [s for s in said if s != "ok"][:3]
    query = "SELECT number FROM incident_tasks WHERE incident_id = 1 ORDER BY number"
    assert await numbers(database_url, query) == list(range(1, 2 * EACH + 1))
    query = "SELECT detail FROM timeline_events WHERE kind = 'task_added' ORDER BY id"
    assert sorted(map(int, await numbers(database_url, query))) == list(range(1, 2 * EACH + 1))


async def test_two_processes_declaring_at_once_number_every_incident(
    database_url: str, tmp_path: Path
) -> None:
    said = await two_processes_at_once(database_url, "declare {name} {i}", Path.cwd())
    assert said == ["ok"] * 2 * EACH, [s for s in said if s != "ok"][:3]
    query = "SELECT id FROM incidents ORDER BY id"
    assert await numbers(database_url, query) == list(range(1, 2 * EACH + 1))
