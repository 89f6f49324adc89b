"""Discord end to end: real discord.py over real HTTP and a real websocket, against a fake
of Discord's REST API and gateway on loopback (tests/fakes/discord_api.py)."""

from __future__ import annotations

import asyncio
import logging
import re
import types
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord.http
import pytest
from aiohttp.test_utils import TestClient, TestServer
from discord import app_commands
from sqlalchemy.engine import make_url

from adapters.discord.app import DiscordAdapter
from adapters.discord.plugin import discord_platform, mount_discord
from adapters.discord.settings import DiscordConfig, DiscordSettings
from bot.app import Core, open_core
from bot.config import load_config
from bot.errors import ConfigError
from bot.plugins import config_models, discover
from bot.settings import Settings
from bot.web import make_web_app
from tests.cli import spawn, tocsin, tocsin_env
from tests.fakes.discord_api import (
    ALICE,
    ANNOUNCE_ID,
    BOB,
    GUILD_ID,
    TOKEN,
    FakeDiscord,
    Interaction,
    user,
)
from tests.fakes.tcp_proxy import Proxy


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
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
        await self.settle()
        return record

    async def settle(self) -> None:
        """Wait for the answers under way and the effects the interactions caused."""
        await self.bot.drain()
        await self.core.settle()
        await self.bot.drain()

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
    settings: Settings, *, answer_within: float = 2.0, **worker: Any
) -> tuple[Core, DiscordAdapter]:
    """Tocsin's core and Discord bot on ``settings``, connected to the fake."""
    config = load_config(settings.config_path, config_models(discover()))
    discord_settings = DiscordSettings.from_env(settings.env)
    assert discord_settings is not None
    platform = await discord_platform(discord_settings, config, guild_ready_timeout=0.1)
    core = await open_core(settings, {platform.name: platform}, config=config, **worker)
    bot = mount_discord(core, platform, discord_settings, answer_within=answer_within)
    await bot.start(TOKEN, ready_within=20)
    return core, bot


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    fake = FakeDiscord()
    await fake.start()
    core, bot = await start(fake.settings(database_url))
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
    interim, final = answer.texts()
    assert "Declared **INC-1**" in interim and "setting up its channel" in interim
    assert f"<#{room['id']}>" in final and "Declared **INC-1**" in final


async def test_declare_without_a_title_opens_the_modal(rig: Rig) -> None:
    form = await rig.slash("declare")
    assert form.kind == 9
    labels = [c["component"]["custom_id"] for c in form.data["components"]]
    assert labels == ["title", "severity", "service", "description"]
    severity = form.data["components"][1]["component"]
    assert [o["value"] for o in severity["options"]] == ["1", "2", "3", "4"]
    answer = await rig.submit(form, {"title": "Login broken", "severity": "2"})
    assert rig.room()["name"] == "inc-1-login-broken"
    assert (await rig.core.wiring.views.full(1)).incident.severity == 2
    assert answer.kind == 4 and "Declared" in answer.texts()[0]


async def test_every_button_edits_the_same_card(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down")
    room = int(rig.room()["id"])
    ack = await rig.click("tocsin:ack:1", who=BOB)
    assert ack.kind == 4 and not ack.ephemeral
    card = rig.card(room)
    assert card["updates"] == 1
    assert any(f["value"] == f"<@{BOB}>" for f in card["embeds"][0]["fields"])
    form = await rig.click("tocsin:status:1")
    assert form.kind == 9 and form.data["custom_id"].startswith("tocsin:form:status:1:")
    await rig.submit(form, {"status": "monitoring", "message": "replica promoted"})
    resolve = await rig.click("tocsin:resolve:1")
    assert resolve.kind == 9 and resolve.data["title"] == "Resolve INC-1"
    assert (await rig.core.wiring.views.full(1)).incident.status == "monitoring", "asked first"
    await rig.submit(resolve, {"summary": "failed over"})
    await rig.click("tocsin:close:1")
    (card,) = [m for m in rig.fake.in_channel(room) if m["embeds"]]
    assert card["updates"] == 4 and card["components"] == []
    assert (await rig.core.wiring.views.full(1)).incident.status == "closed"
    said = [m["content"] for m in rig.fake.in_channel(ANNOUNCE_ID)]
    assert any("replica promoted" in text for text in said)


async def test_a_refusal_is_ephemeral_and_plain(rig: Rig) -> None:
    answer = await rig.slash("ack")
    assert answer.kind == 4 and answer.ephemeral
    assert "run it in the incident's channel" in answer.texts()[0]
    await rig.slash("declare", title="Database is down")
    await rig.slash("resolve", incident="INC-1")
    again = await rig.slash("resolve", who=BOB, incident="INC-1")
    assert again.ephemeral and "INC-1 is already resolved." in again.texts()[0]


async def test_sev_reason_reopen_and_close_force_as_typed_options(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down", severity="2")
    room = int(rig.room()["id"])
    option = next(o for o in rig.fake.command(["close"])["options"] if o["name"] == "force")
    assert option["type"] == 5 and not option.get("required"), "--force is a true/false option"
    await rig.slash("sev", severity="1", reason="customer impact widened", channel=room)
    said = [m["content"] for m in rig.fake.in_channel(ANNOUNCE_ID)]
    raised = [text for text in said if "raised to SEV1" in text]
    assert len(raised) == 1 and "customer impact widened" in raised[0]
    assert f"<#{room}>" in raised[0]
    await rig.slash("sev", severity="3", channel=room)  # lowered: on the timeline only
    await rig.slash("task", "add", text="roll back 4.2", channel=room)
    await rig.slash("resolve", summary="rolled back", channel=room)
    await rig.slash("reopen", reason="lag is back", channel=room)
    assert (await rig.core.wiring.views.full(1)).incident.status == "investigating"
    await rig.slash("resolve", summary="rolled back for real", channel=room)
    refused = await rig.slash("close", channel=room)
    assert refused.ephemeral and "INC-1 still has 1 open task" in refused.texts()[0]
    closed = await rig.slash("close", force=True, channel=room)
    assert not closed.ephemeral and "1 task was left open" in closed.texts()[0]
    (embed,) = rig.card(room)["embeds"]
    assert "1 task was left open when it was closed" in embed["description"]
    said = [m["content"] for m in rig.fake.in_channel(ANNOUNCE_ID)]
    assert len([t for t in said if "severity raised" in t]) == 1


async def test_a_name_in_use_gets_the_next_free_one(rig: Rig) -> None:
    taken = rig.fake.add_channel("inc-1-database-is-down")
    # The bot learns of channels from the gateway; this one came after its GUILD_CREATE.
    await rig.fake.dispatch("CHANNEL_CREATE", rig.fake.named("inc-1-database-is-down"))

    async def seen() -> bool:
        return rig.bot.client.get_channel(taken) is not None

    await eventually(seen)
    await rig.slash("declare", title="Database is down")
    made = [c["name"] for c in rig.fake.channels.values() if c.get("parent_id")]
    assert made == ["inc-1-database-is-down-2"]


async def test_mass_mentions_in_user_text_never_ping(rig: Rig) -> None:
    await rig.slash(
        "declare", title="@everyone and @here <@&123456789012345678> down", description="@here"
    )
    everything = "\n".join(rig.fake.everything_said())
    assert "@everyone" not in everything and "@here" not in everything
    assert "<@&123456789012345678>" not in everything
    assert "@\u200beveryone" in everything
    sent = [m for m in rig.fake.messages.values() if m["author"]["bot"] and m["type"] == 0]
    sent += [r.data for r in rig.fake.interactions.values() if r.kind == 4]
    assert sent
    for message in sent:
        assert message["allowed_mentions"]["parse"] == ["users"], message


async def test_control_characters_typed_or_said_never_get_in(rig: Rig) -> None:
    # On PostgreSQL the NUL made the declare fail; ESC, BEL and U+202E reached the card.
    await rig.slash(
        "declare", title="Disk\x00 full\u202e on\x1b[2J db\x07", description="one\x00\r\ntwo"
    )
    room = int(rig.room()["id"])
    said = await rig.fake.say(BOB, room, "look\x00 at\u2066 this\x85")

    async def captured() -> bool:
        return any(e.kind == "message" for e in (await rig.core.wiring.views.full(1)).events)

    await eventually(captured)
    full = await rig.core.wiring.views.full(1)
    assert full.incident.title == "Disk full on[2J db"
    assert full.incident.description == "one\ntwo"
    assert [e.text for e in full.events if e.kind == "message"] == ["look at this"]
    assert rig.card(room)["embeds"][0]["title"] == "INC-1 · Disk full on[2J db"
    rig.fake.messages.pop(said)  # Bob's own message, as he typed it
    for text in rig.fake.everything_said():
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)


async def test_services_autocomplete_from_the_config(database_url: str, tmp_path: Any) -> None:
    config = tmp_path / "tocsin.toml"
    config.write_text("[services.api]\n[services.database]\n[services.dashboards]\n")
    fake = FakeDiscord()
    await fake.start()
    settings = fake.settings(database_url, config_path=config)
    core, bot = await start(settings)
    try:
        choices = await fake.autocomplete(ALICE, ANNOUNCE_ID, ["declare"], "service", "da")
        assert [c["value"] for c in choices] == ["database", "dashboards"]
        await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Slow", service="api")
        await eventually(lambda: _has_incident(core))
        await core.settle()
        assert (await core.wiring.views.full(1)).incident.service == "api"
        incidents = await fake.autocomplete(ALICE, ANNOUNCE_ID, ["ack"], "incident", "slo")
        assert incidents == [{"name": "INC-1 · Slow", "value": "INC-1"}]
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()


async def _has_incident(core: Core) -> bool:
    return bool(await core.service.incidents("all"))


async def test_messages_edits_deletions_and_pins_reach_the_timeline(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down")
    room = int(rig.room()["id"])
    said = await rig.fake.say(BOB, room, "replication lag 40s")
    gone = await rig.fake.say(BOB, room, "the password is hunter2")
    await rig.fake.edit(said, "replication lag 45s")
    await rig.fake.delete(gone)
    await rig.fake.react(ALICE, said, "📌")
    await rig.fake.react(ALICE, said, "👍")
    other = await rig.fake.say(ALICE, room, "failover started")
    await rig.fake.pin(room, other, by=ALICE)
    await rig.fake.say(BOB, ANNOUNCE_ID, "not an incident channel")

    async def captured() -> bool:
        kinds = [e.kind for e in (await rig.core.wiring.views.full(1)).events]
        return kinds.count("pin") == 2

    await eventually(captured)
    events = (await rig.core.wiring.views.full(1)).events
    messages = [e for e in events if e.kind == "message"]
    assert [m.text for m in messages] == ["replication lag 40s", "", "failover started"]
    assert messages[0].actor_name == "Bob" and messages[0].edited_at is not None
    assert messages[1].deleted_at is not None
    assert [e.text for e in events if e.kind == "edit"] == ["replication lag 45s"]
    pins = sorted(e.text for e in events if e.kind == "pin")  # a reaction carries no time
    assert pins == ["failover started", "replication lag 40s"]
    assert not any("hunter2" in (e.text or "") for e in events)
    assert not any("not an incident channel" in (e.text or "") for e in events)
    # The bot's own messages (the card, its pin notice) are never captured.
    assert all(e.actor_name != "Tocsin" for e in events)


async def test_a_long_list_comes_in_messages_discord_takes(rig: Rig) -> None:
    for n in range(1, 19):
        await rig.slash("declare", title=f"Problem {n:02d} " + "in a long title " * 6)
    answer = await rig.slash("list", every=True)
    pieces = [answer.data["content"], *(f["content"] for f in answer.followups)]
    assert len(pieces) > 1 and all(len(p) <= 2000 for p in pieces)  # the fake refuses more
    shown = "\n".join(pieces)
    assert [int(n) for n in re.findall(r"\*\*INC-(\d+)\*\*", shown)] == list(range(18, 0, -1))
    assert answer.ephemeral


async def test_chat_while_the_database_is_down_is_stored_once_it_is_back(
    database_url: str,
) -> None:
    """Discord's gateway never sends an event again: Tocsin holds what it cannot store."""
    if database_url.startswith("sqlite"):
        pytest.skip("a SQLite file does not go away the way a database server does")
    url = make_url(database_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    fake = FakeDiscord()
    await fake.start()
    core, bot = await start(fake.settings(through))
    held = core.dispatcher.held_events
    held.limit = 3
    held.retry_after = held.retry_most = 0.05  # tried again soon, by the clock

    async def said() -> list[tuple[str, str]]:
        events = (await core.wiring.views.full(1)).events
        return [(e.kind, e.text) for e in events if e.kind in ("message", "edit")]

    async def five_is_in() -> bool:
        return ("message", "five") in await said()

    def handlers_waiting() -> int:
        return sum(1 for t in asyncio.all_tasks() if t.get_name().startswith("discord.py: on_"))

    try:
        declare = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Disk full")
        await asyncio.wait_for(declare.answered.wait(), 15)
        await bot.drain()
        await core.settle()
        room = int(next(c for c in fake.channels.values() if c.get("parent_id"))["id"])
        await proxy.cut()
        first = await fake.say(BOB, room, "one")
        await fake.say(BOB, room, "two")
        await fake.edit(first, "one, edited")
        await fake.say(BOB, room, "four: no room left for it")
        await eventually(lambda: _true(held.held == 3 and held.dropped == 1))
        await proxy.restore()
        await eventually(lambda: _true(held.held == 0))
        await fake.say(BOB, room, "five")  # stored after the three held, in their order
        await eventually(five_is_in)
        assert await said() == [
            ("message", "one"),
            ("message", "two"),
            ("edit", "one, edited"),
            ("message", "five"),
        ]

        # The database does not refuse: it does not answer at all, and would be waited on
        # for an hour. Discord's events are handed in at once all the same: three held, the
        # rest dropped, no handler left waiting (each would hold its message in memory).
        held.wait = 3600.0
        await proxy.hang()
        for n in range(5):
            await fake.say(ALICE, room, f"hung {n}")
        await eventually(lambda: _true(held.held == 3 and held.dropped == 3))
        await eventually(lambda: _true(handlers_waiting() == 0))
        await proxy.restore()
        await eventually(lambda: _true(held.held == 0), within=30)
        assert (await said())[-3:] == [("message", f"hung {n}") for n in range(3)]
        async with TestClient(TestServer(make_web_app(core))) as http:
            metrics = await (await http.get("/metrics")).text()
        assert "tocsin_messages_dropped_total 3\n" in metrics
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()
        await proxy.cut()


async def _true(value: bool) -> bool:
    return value


async def test_export_attaches_the_timeline(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down")
    room = int(rig.room()["id"])
    answer = await rig.slash("export", channel=room, format="md")
    (upload,) = [m for m in rig.fake.in_channel(room) if m["attachments"]]
    (attachment,) = upload["attachments"]
    assert attachment["filename"] == "inc-1-timeline.md"
    assert attachment["content"].startswith("# INC-1")
    assert "inc-1-timeline.md" in answer.texts()[0]


async def test_a_declare_is_answered_before_its_channel_exists(rig: Rig) -> None:
    rig.fake.create_delay = 0.3  # Discord takes its time creating the channel
    record = await rig.fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Database is down")
    await asyncio.wait_for(record.answered.wait(), 15)
    assert record.kind == 4 and not rig.fake.channels_named("inc-1-database-is-down")
    await rig.settle()
    room = rig.room()
    assert f"<#{room['id']}>" in record.texts()[-1]  # the answer, edited with the link


async def test_work_slower_than_the_deadline_is_deferred_then_answered(rig: Rig) -> None:
    await rig.slash("declare", title="Database is down")
    slow_error = await rig.slash("ack", incident="INC-9")
    assert slow_error.kind == 4 and slow_error.ephemeral  # errors need no deferral
    rig.bot.answer_within = 0  # from now on, every answer is late
    late = await rig.slash("ack", incident="INC-9")
    assert late.kind == 5 and late.ephemeral and not late.deleted  # a refusal stays private
    assert "there is no incident INC-9" in late.texts()[0]
    public = await rig.slash("ack", incident="INC-1")
    assert public.kind == 5 and public.ephemeral  # "thinking…", only for the one who asked
    assert public.deleted  # …then taken away, once the answer is in the channel
    said = [m["content"] for m in rig.fake.in_channel(ANNOUNCE_ID)]
    assert any("INC-1 acknowledged" in text for text in said)


async def test_buttons_forms_and_commands_tocsin_does_not_know_are_answered(rig: Rig) -> None:
    """Discord shows "This interaction failed" for any interaction left unanswered. Each
    is told in the dispatcher's one wording, through the error template."""

    def said(what: str) -> str:
        return rig.core.dispatcher.no_longer_valid("discord", what).text

    assert said("form").startswith("⚠️ this form is no longer valid: ")
    await rig.slash("declare", title="Database is down")
    stale = ["tocsin:nope:999", "tocsin:ack:abc", "tocsin:ack:1234567890", "elsewhere:1"]
    old_card = rig.fake.old_message(ANNOUNCE_ID, [*stale, "tocsin:form:status:1:5"])
    for custom_id in [*stale, "tocsin:form:status:1:5"]:
        click = await rig.answered(await rig.fake.click(BOB, old_card, custom_id))
        assert click.kind == 4 and click.ephemeral, custom_id
        assert click.texts()[0] == said("button"), custom_id
    for custom_id in ["nope", "tocsin:nope:1"]:
        modal = {"custom_id": custom_id, "title": "Old", "components": []}
        form = await rig.answered(await rig.fake.submit(BOB, ANNOUNCE_ID, modal, {}))
        assert form.kind == 4 and form.ephemeral, custom_id
        assert form.texts()[0] == said("form"), custom_id
    command_id = rig.fake.command([])["id"]
    for name, sub in [("incident", "frobnicate"), ("pager", "page")]:
        options = [{"type": 1, "name": sub, "options": []}]
        data = {"id": command_id, "name": name, "type": 1, "options": options}
        typed = await rig.answered(await rig.fake.interact(2, data, BOB, ANNOUNCE_ID))
        assert typed.kind == 4 and typed.ephemeral, name
        assert typed.texts()[0] == said("command"), name
        options[0]["options"] = [{"type": 3, "name": "x", "value": "", "focused": True}]
        completing = await rig.answered(await rig.fake.interact(4, data, BOB, ANNOUNCE_ID))
        assert completing.kind == 8 and completing.data["choices"] == []
    assert (await rig.core.wiring.views.full(1)).incident.status == "triggered"


async def test_a_form_pushed_out_by_newer_ones_is_told_it_is_no_longer_valid(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tocsin keeps the last MAX_OPEN_FORMS forms it opened: an older one, submitted, gets
    the same answer as one from before a restart, and changes nothing."""
    monkeypatch.setattr("adapters.discord.app.MAX_OPEN_FORMS", 1)
    await rig.slash("declare", title="Database is down")
    first = await rig.click("tocsin:status:1")
    second = await rig.click("tocsin:status:1")
    stale = await rig.submit(first, {"status": "monitoring", "message": "too late"})
    assert stale.kind == 4 and stale.ephemeral
    assert stale.texts()[0] == rig.core.dispatcher.no_longer_valid("discord", "form").text
    assert (await rig.core.wiring.views.full(1)).incident.status == "triggered"
    await rig.submit(second, {"status": "monitoring", "message": "replica promoted"})
    assert (await rig.core.wiring.views.full(1)).incident.status == "monitoring"


async def test_every_command_discord_py_could_not_run_is_answered_privately(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """discord.py hands the tree's error handler whatever it could not run; each gets an
    answer only its author sees, or Discord says "This interaction failed". Commands
    added here (a value of the wrong kind, a bug, a check) reach it the way any would."""

    async def probe(interaction: discord.Interaction[Any], who: discord.Member) -> None:
        raise AssertionError("never called: its value cannot be read")

    async def broken(interaction: discord.Interaction[Any]) -> None:
        raise RuntimeError("a bug")

    async def half(interaction: discord.Interaction[Any]) -> None:
        await interaction.response.send_message("a start", ephemeral=True)
        raise RuntimeError("a bug after answering")

    async def nobody(_interaction: discord.Interaction[Any]) -> bool:
        return False

    async def denied(interaction: discord.Interaction[Any]) -> None:
        raise AssertionError("never called: its check fails")

    for callback in (probe, broken, half, app_commands.check(nobody)(denied)):
        name = callback.__name__
        command = app_commands.Command(name=name, description=name, callback=callback)
        rig.bot.tree.add_command(command)

    async def run(name: str, **extra: Any) -> Interaction:
        data = {"id": "1", "name": name, "type": 1, "options": [], **extra}
        return await rig.answered(await rig.fake.interact(2, data, BOB, ANNOUNCE_ID))

    caplog.set_level(logging.INFO)
    # A user who is not a member: discord.py cannot make a Member of them.
    value = await run(
        "probe",
        options=[{"type": 6, "name": "who", "value": str(ALICE)}],
        resolved={"users": {str(ALICE): user(ALICE)}},
    )
    assert value.kind == 4 and value.ephemeral
    assert value.texts()[0] == "⚠️ 'alice' is not a valid value for the option 'who'."

    bug = await run("broken")
    assert bug.kind == 4 and bug.ephemeral
    (logged,) = [r for r in caplog.records if "while handling a command" in r.getMessage()]
    error_id = logged.getMessage().split()[1]
    assert f"error id `{error_id}`" in bug.texts()[0] and "nothing was saved" in bug.texts()[0]
    assert logged.exc_info is not None  # a bug: its traceback is logged

    late = await run("half")
    assert late.texts()[0] == "a start"
    (followup,) = late.followups
    assert "error id" in followup["content"] and followup["flags"] & 64

    check = await run("denied")
    assert check.kind == 4 and check.ephemeral
    assert check.texts()[0] == "⚠️ you cannot run this command here."


async def test_buttons_and_forms_posted_before_a_restart(database_url: str) -> None:
    fake = FakeDiscord()
    await fake.start()
    settings = fake.settings(database_url)
    core, bot = await start(settings)
    try:
        await asyncio.wait_for(
            (await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Disk full")).answered.wait(),
            15,
        )
        await bot.drain()
        await core.settle()
        room = int(next(c for c in fake.channels.values() if c.get("parent_id"))["id"])
        card = next(m for m in fake.in_channel(room) if m["embeds"])
        form = await fake.click(ALICE, int(card["id"]), "tocsin:status:1")
        await asyncio.wait_for(form.answered.wait(), 15)
    finally:
        await bot.close()
        await core.aclose()
    core, bot = await start(settings)
    try:
        ack = await fake.click(BOB, int(card["id"]), "tocsin:ack:1")
        await asyncio.wait_for(ack.answered.wait(), 15)
        await bot.drain()
        await core.settle()
        assert (await core.wiring.views.full(1)).incident.status == "acknowledged"
        assert fake.messages[int(card["id"])]["updates"] == 1
        stale = await fake.submit(ALICE, room, form.data, {"status": "identified"})
        await asyncio.wait_for(stale.answered.wait(), 15)
        assert stale.ephemeral
        assert stale.texts()[0] == core.dispatcher.no_longer_valid("discord", "form").text
        assert (await core.wiring.views.full(1)).incident.status == "acknowledged"
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()
    assert not fake.rejections, fake.rejections


async def run_connected(
    fake: FakeDiscord, database_url: str, cwd: Path, **extra: str
) -> tuple[asyncio.subprocess.Process, str]:
    """``tocsin run`` on the fake, from environment variables, once it says it is connected;
    and what it printed until then."""
    env = tocsin_env(
        database_url,
        TOCSIN_HTTP_PORT="0",
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_URL=fake.url,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        **extra,
    )
    process = await spawn("run", cwd=cwd, env=env, stdout=asyncio.subprocess.DEVNULL)
    assert process.stderr is not None
    seen = ""
    while "Discord: connected as" not in seen:
        line = (await asyncio.wait_for(process.stderr.readline(), timeout=60)).decode()
        assert line, "tocsin run ended before connecting:\n" + seen
        seen += line
    return process, seen


async def test_the_bot_runs_from_its_environment_as_a_user_would(
    sqlite_url: str, tmp_path: Path
) -> None:
    fake = FakeDiscord()
    await fake.start()
    process, seen = await run_connected(fake, sqlite_url, tmp_path, DISCORD_GUILD_IDS=str(GUILD_ID))
    assert process.stderr is not None
    try:
        assert fake.identified[-1]["intents"] & (1 << 15)  # the app has Message Content
        record = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="From a real process")
        await asyncio.wait_for(record.answered.wait(), 30)
        assert "Declared" in record.texts()[0]
        await asyncio.wait_for(record.edited.wait(), 30)
        (room,) = fake.channels_named("inc-1-from-a-real-process")
        assert f"<#{room['id']}>" in record.texts()[-1]
    finally:
        process.terminate()
        rest = (await process.stderr.read()).decode()
        assert await process.wait() == 0
        await fake.close()
    assert TOKEN not in seen + rest
    assert "Traceback" not in rest
    assert not fake.rejections, fake.rejections


async def test_run_stops_when_discord_ends_the_connection(sqlite_url: str, tmp_path: Path) -> None:
    fake = FakeDiscord()
    await fake.start()
    process, _ = await run_connected(fake, sqlite_url, tmp_path)
    assert process.stderr is not None
    try:
        await fake.kick(4004)  # the token was revoked
        code = await asyncio.wait_for(process.wait(), 60)
        rest = (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await fake.close()
    assert code == 1
    assert "the Discord connection ended" in rest and "Traceback" not in rest


async def test_without_message_content_all_but_chat_capture_works(database_url: str) -> None:
    fake = FakeDiscord(message_content=False)
    await fake.start()
    core, bot = await start(fake.settings(database_url))
    try:
        assert not fake.identified[-1]["intents"] & (1 << 15)
        assert not bot.message_content
        record = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Quiet")
        await asyncio.wait_for(record.answered.wait(), 15)
        await bot.drain()
        await core.settle()
        room = int(next(c for c in fake.channels.values() if c.get("parent_id"))["id"])
        said = await fake.say(BOB, room, "typed text, withheld by Discord")
        await fake.react(ALICE, said, "📌")

        async def pinned() -> bool:
            return any(e.kind == "pin" for e in (await core.wiring.views.full(1)).events)

        await eventually(pinned)
        assert not any(e.kind == "message" for e in (await core.wiring.views.full(1)).events)
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()


async def test_check_config_and_invite_speak_to_discord(sqlite_url: str, tmp_path: Path) -> None:
    fake = FakeDiscord(message_content=False)
    await fake.start()
    env = tocsin_env(
        sqlite_url, DISCORD_TOKEN=TOKEN, DISCORD_API_URL=fake.url, DISCORD_GUILD_IDS="1,2"
    )
    try:
        checked = await asyncio.to_thread(tocsin, "check-config", cwd=tmp_path, env=env)
        invite = await asyncio.to_thread(tocsin, "discord-invite", cwd=tmp_path, env=env)
        bad = await asyncio.to_thread(
            tocsin, "check-config", cwd=tmp_path, env={**env, "DISCORD_TOKEN": "wrong"}
        )
    finally:
        await fake.close()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "✓ Discord: bot tocsin (application 900000000000000001)" in checked.stdout
    assert "server(s) 1, 2" in checked.stdout
    assert "Message Content intent is off" in checked.stdout
    url = invite.stdout.strip()
    assert url.startswith("https://discord.com/oauth2/authorize?client_id=900000000000000001")
    assert "scope=bot+applications.commands" in url
    bits = int(url.rsplit("permissions=", 1)[1])
    assert bits & (1 << 4) and bits & (1 << 11) and bits & (1 << 14) and bits & (1 << 15)
    assert not bits & (1 << 17) and not bits & (1 << 3)  # never @everyone, never admin
    assert bad.returncode == 1 and "DISCORD_TOKEN was refused" in bad.stdout
    assert TOKEN not in checked.stdout + checked.stderr + invite.stderr


def test_invite_without_a_token_asks_for_the_client_id(tmp_path: Path) -> None:
    env = tocsin_env("sqlite+aiosqlite:///:memory:")
    env.pop("DISCORD_TOKEN", None)
    result = tocsin("discord-invite", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "--client-id" in result.stderr
    given = tocsin("discord-invite", "--client-id", "42", cwd=tmp_path, env=env)
    assert given.stdout.startswith("https://discord.com/oauth2/authorize?client_id=42&")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DISCORD_API_URL": "discord.com/api"}, "DISCORD_API_URL must be an http(s) URL"),
        ({"DISCORD_GATEWAY_URL": "https://x"}, "DISCORD_GATEWAY_URL must be a ws(s)"),
        ({"DISCORD_GUILD_IDS": "12,abc"}, "DISCORD_GUILD_IDS must be a comma-separated"),
        ({"DISCORD_SHARD_IDS": "0"}, "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "0"}, "DISCORD_SHARD_COUNT must be a positive number"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "1,2"}, "from 0 to"),
    ],
)
def test_discord_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        DiscordSettings.from_env({"DISCORD_TOKEN": TOKEN, **env})


def test_the_token_never_appears_in_the_settings_repr() -> None:
    discord_settings = DiscordSettings.from_env({"DISCORD_TOKEN": TOKEN})
    settings = Settings.from_env({"DISCORD_TOKEN": TOKEN}, dotenv=False)
    assert discord_settings is not None and discord_settings.token == TOKEN
    assert TOKEN not in repr(settings) + repr(discord_settings)


def test_the_category_comes_from_the_discord_table(tmp_path: Path) -> None:
    path = tmp_path / "tocsin.toml"
    path.write_text('[discord]\ncategory = "On fire"\n')
    config = load_config(path, config_models(discover()))
    assert config.section("discord", DiscordConfig).category == "On fire"
    assert load_config(None).section("discord", DiscordConfig).category == "Incidents"


async def test_a_process_runs_only_its_share_of_the_shards(database_url: str) -> None:
    fake = FakeDiscord()
    await fake.start()
    shard = (GUILD_ID >> 22) % 2
    settings = fake.settings(database_url, DISCORD_SHARD_COUNT="2", DISCORD_SHARD_IDS=str(shard))
    core, bot = await start(settings)
    try:
        assert [i["shard"] for i in fake.identified] == [[shard, 2]]
        record = await fake.slash(ALICE, ANNOUNCE_ID, "declare", title="Sharded")
        await asyncio.wait_for(record.answered.wait(), 15)
        assert "Declared" in record.texts()[0]
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()


class _QuickRetries(types.ModuleType):
    """asyncio for discord.http, whose pauses between its own retries of a 5xx (1, 3, 5, 7
    seconds) are cut to a moment."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        return await asyncio.sleep(min(delay, 0.01), result)


@pytest.mark.parametrize(("private", "failing"), [(False, False), (True, False), (True, True)])
async def test_people_are_let_into_a_private_category_only(
    database_url: str, private: bool, failing: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``failing``: Discord answers the look-up of the member with a 5xx once; the step is
    tried again (not skipped as if the person could not be let in)."""
    fake = FakeDiscord()
    category = fake.add_channel("Incidents", kind=4, private=private)
    fault = None
    if failing:  # discord.py tries a 5xx five times itself (its pauses cut short here)
        fault = fake.fault(lambda m, p, _b: m == "GET" and "/members/" in p, "5xx", times=5)
        monkeypatch.setattr(discord.http, "asyncio", _QuickRetries("asyncio"))
    await fake.start()
    core, bot = await start(fake.settings(database_url), backoff=timedelta(milliseconds=50))
    try:
        # Bob declares (Alice owns the server, and so sees every channel).
        record = await fake.slash(BOB, ANNOUNCE_ID, "declare", title="Secret")
        await asyncio.wait_for(record.answered.wait(), 15)
        await bot.drain()
        await core.settle(within=5)
        assert fault is None or fault.hits == 5
        room = next(c for c in fake.channels.values() if c.get("parent_id") == str(category))
        let_in = set(fake.overwrites.get(int(room["id"]), {}))
        assert let_in == ({BOB} if private else set())
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()
    assert not fake.rejections, fake.rejections
