"""Discord interaction answer latency and declare throughput, against a bare discord.py bot
in the same run.

    python -m bench.discord_answer [--requests 100]

``/incident declare`` interactions reach Tocsin through the fake Discord gateway
(tests/fakes) at zero latency, at 1, 10 and 50 concurrent. Beside it, a bare discord.py bot
whose command only answers "ok", on its own fake. Prints the time from the interaction's
dispatch to its first answer (a reply, or "thinking…") p50/p99 for both and their ratio,
how many were deferred, and Tocsin's declares per second to "card posted". Discord's limit
is 3 s to the first answer; Tocsin answers at once when the work is done within 2 s, else
defers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from adapters.discord.client import make_client, point_at
from bot.app import open_core
from bot.config import load_config
from tests.fakes.discord_api import ALICE, ANNOUNCE_ID, GUILD_ID, TOKEN, FakeDiscord, Interaction

LEVELS = (1, 10, 50)


async def fire(fake: FakeDiscord, count: int, concurrency: int, prefix: str) -> list[Interaction]:
    gate = asyncio.Semaphore(concurrency)

    async def one(n: int) -> Interaction:
        async with gate:
            record = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title=f"{prefix} {n}")
            await asyncio.wait_for(record.answered.wait(), 60)
            return record

    return list(await asyncio.gather(*(one(n) for n in range(count))))


def latencies_ms(records: list[Interaction]) -> list[float]:
    return [((r.first_answer_at or r.sent_at) - r.sent_at) * 1000 for r in records]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def start_tocsin(fake: FakeDiscord, url: str) -> tuple[Any, Any]:
    """Tocsin's core and bot on the fake; the bench also runs on the code before plugins."""
    try:
        from adapters.discord.plugin import discord_platform, mount_discord
        from adapters.discord.settings import DiscordSettings
        from bot.plugins import config_models, discover

        settings = fake.settings(url)
        config = load_config(settings.config_path, config_models(discover()))
        discord_settings = DiscordSettings.from_env(settings.env)
        assert discord_settings is not None
        platform = await discord_platform(discord_settings, config, guild_ready_timeout=0.1)
        core = await open_core(settings, {platform.name: platform}, config=config)
        bot = mount_discord(core, platform, discord_settings)
        if core.worker is not None:
            await core.worker.start()
    except ImportError:
        from bot.app import discord_platform as platform_before  # type: ignore[attr-defined]
        from bot.app import mount_discord as mount_before  # type: ignore[attr-defined]

        settings = fake.settings(url)
        config = load_config(settings.config_path)
        platform = await platform_before(settings, config, guild_ready_timeout=0.1)
        core = await open_core(settings, {platform.name: platform}, config=config)
        bot = mount_before(core, platform)
    await bot.start(TOKEN)
    return core, bot


async def settled(core: Any, bot: Any) -> None:
    await bot.drain()
    settle = getattr(core, "settle", None)
    if settle is not None:
        await settle(within=30)
    await bot.drain()


async def tocsin_run(count: int, folder: Path) -> dict[int, tuple[list[float], int, float]]:
    fake = FakeDiscord()
    await fake.start()
    core, bot = await start_tocsin(fake, f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    results = {}
    try:
        for level in LEVELS:
            started = time.perf_counter()
            records = await fire(fake, count, level, f"Load {level}")
            await settled(core, bot)
            elapsed = time.perf_counter() - started
            deferred = sum(1 for r in records if r.kind == 5)
            results[level] = (latencies_ms(records), deferred, count / elapsed)
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()
    return results


async def bare_run(count: int) -> dict[int, list[float]]:
    """The floor: discord.py and the fake, with a command that only answers."""
    fake = FakeDiscord()
    await fake.start()
    env: Any = fake.settings("sqlite+aiosqlite:///:memory:")
    try:
        from adapters.discord.settings import DiscordSettings

        env = DiscordSettings.from_env(env.env)
    except ImportError:
        pass  # before plugins, the core's settings carried Discord's
    point_at(env)
    client = make_client(env, message_content=False, guild_ready_timeout=0.1)
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)
    group = app_commands.Group(name="incident", description="bare")

    @group.command(name="declare", description="bare")
    async def declare(interaction: discord.Interaction[Any], title: str) -> None:
        await interaction.response.send_message("ok")

    tree.add_command(group, guild=discord.Object(GUILD_ID))
    await client.login(TOKEN)
    await tree.sync(guild=discord.Object(GUILD_ID))
    runner = asyncio.create_task(client.connect())
    await client.wait_until_ready()
    results = {}
    try:
        for level in LEVELS:
            results[level] = latencies_ms(await fire(fake, count, level, "Bare"))
    finally:
        await client.close()
        await asyncio.gather(runner, return_exceptions=True)
        await fake.close()
    return results


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        ours = await tocsin_run(count, Path(folder))
    bare = await bare_run(count)
    print(f"{count} /incident declare interactions per level; fake Discord at zero latency")
    print(
        "| concurrent | tocsin first answer p50 / p99 ms | deferred | bare p50 / p99 ms "
        "| p99 ratio | declares/s to card posted |"
    )
    print("|---|---|---|---|---|---|")
    for level in LEVELS:
        lat, deferred, rate = ours[level]
        base = bare[level]
        print(
            f"| {level} | {statistics.median(lat):.1f} / {pct(lat, 0.99):.1f} | {deferred} "
            f"| {statistics.median(base):.1f} / {pct(base, 0.99):.1f} "
            f"| {pct(lat, 0.99) / max(pct(base, 0.99), 0.001):.1f}× | {rate:.1f} |"
        )
    worst = max(pct(ours[level][0], 0.99) for level in LEVELS)
    verdict = "within" if worst < 3000 else "OVER"
    print(f"worst first-answer p99: {worst:.0f} ms, {verdict} Discord's 3,000 ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100)
    asyncio.run(main(parser.parse_args().requests))
