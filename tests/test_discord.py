"""Discord end to end: real discord.py over real HTTP and a real websocket, against a fake
of Discord's REST API and gateway on loopback (tests/fakes/discord_api.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from adapters.discord.app import DiscordAdapter
from bot.app import Core, discord_platform, mount_discord, open_core
from bot.settings import Settings
from tests.fakes.discord_api import (
    ALICE,
    ANNOUNCE_ID,
    BOB,
    GUILD_ID,
    TOKEN,
    FakeDiscord,
    Interaction,
)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


@dataclass
class Rig:
    fake: FakeDiscord
    core: Core
    bot: DiscordAdapter

    async def answered(self, record: Interaction) -> Interaction:
        await asyncio.wait_for(record.answered.wait(), 15)
        await self.bot.drain()
        return record

    async def slash(
        self, *path: str, who: int = ALICE, channel: int = ANNOUNCE_ID, **values: Any
    ) -> Interaction:
        return await self.answered(await self.fake.slash(who, channel, *path, **values))

    async def click(self, custom_id: str, who: int = ALICE, room: int | None = None) -> Interaction:
        card = self.card(room or int(self.room()["id"]))
        return await self.answered(await self.fake.click(who, int(card["id"]), custom_id))

    async def submit(
        self, form: Interaction, values: dict[str, str], who: int = ALICE
    ) -> Interaction:
        modal = form.data
        channel = int(form.payload["channel_id"])
        return await self.answered(await self.fake.submit(who, channel, modal, values))

    def room(self, number: int = 1) -> dict[str, Any]:
        return next(
            c
            for c in self.fake.channels.values()
            if c.get("type") == 0 and str(c.get("name", "")).startswith(f"inc-{number}-")
        )

    def card(self, room: int) -> dict[str, Any]:
        return next(m for m in self.fake.in_channel(room) if m["embeds"])


async def start(
    settings: Settings, *, answer_within: float = 2.0
) -> tuple[Core, DiscordAdapter]:
    """Tocsin's core and Discord bot on ``settings``, connected to the fake."""
    core = await open_core(settings, {})
    platform, info = await discord_platform(settings, core.config, guild_ready_timeout=0.1)
    await core.aclose()
    core = await open_core(settings, {platform.name: platform})
    bot = mount_discord(core, platform, info, answer_within=answer_within)
    await bot.start(TOKEN, ready_within=20)
    return core, bot


def discord_settings(database_url: str, fake: FakeDiscord) -> Settings:
    return Settings(
        database_url=database_url,
        discord_token=TOKEN,
        discord_api_url=fake.url,
        discord_gateway_url=fake.gateway_url,
        discord_guild_ids=(GUILD_ID,),
    )


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    fake = FakeDiscord()
    await fake.start()
    core, bot = await start(discord_settings(database_url, fake))
    try:
        yield Rig(fake, core, bot)
        assert not fake.rejections, fake.rejections
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()


async def test_declare_with_options_creates_the_whole_incident(rig: Rig) -> None:
    answer = await rig.slash("declare", title="Database is down", severity="1")
    room = rig.room()
    assert room["name"] == "inc-1-database-is-down"
    category = rig.fake.channels[int(room["parent_id"])]
    assert category["type"] == 4 and category["name"] == "Incidents"
    assert room["topic"].startswith("INC-1 · SEV1 critical · triggered · commander: Alice")
    card = rig.card(int(room["id"]))
    assert int(card["id"]) in rig.fake.pins[int(room["id"])]
    (embed,) = card["embeds"]
    assert embed["title"] == "INC-1 · Database is down"
    assert embed["color"] == 0xD32F2F
    assert [c["custom_id"] for c in card["components"][0]["components"]] == [
        "tocsin:ack:1",
        "tocsin:status:1",
        "tocsin:resolve:1",
    ]
    (announcement,) = [m for m in rig.fake.in_channel(ANNOUNCE_ID) if m["content"]]
    assert f"<#{room['id']}>" in announcement["content"]
    assert f"<@{ALICE}>" in announcement["content"]
    assert answer.kind == 4 and not answer.ephemeral
    assert f"<#{room['id']}>" in answer.texts()[0]
