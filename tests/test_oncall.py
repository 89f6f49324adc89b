"""``/oncall``: who is on call now for every schedule (typed alone), for one (``/oncall
primary``), before a schedule starts, with no schedules at all; its answer in the plain,
Slack and Discord dialects; the parser's words-to-``now`` rule; ``help`` still there."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.discord.dialect import DiscordDialect
from adapters.slack.dialect import SlackDialect
from bot.app import open_core
from bot.clock import ManualClock
from bot.commands import default_registry
from bot.commands.parse import Parser, UnknownCommand
from bot.config import TocsinConfig, load_config
from bot.errors import UserError
from bot.identity import Directory
from bot.oncall import standings
from bot.platform import Dialect
from bot.presenter import Presenter
from bot.render import PlainDialect
from bot.settings import Settings
from bot.testing import RecordingPlatform
from tests.conftest import Chat

BERLIN = ZoneInfo("Europe/Berlin")

CONFIG = """\
[people.alice]
name = "Alice Liddell"
slack = "U1ALICE"
discord = "1001"

[people.bob]
name = "Bob"
slack = "U2BOB"
discord = "1002"

[people.carol]
name = "Carol"

[schedules.primary]
timezone = "Europe/Berlin"
members = ["alice", "bob", "carol"]
shift = "1w"
start = "2026-01-05T09:00"

[schedules.follow-the-sun]
timezone = "America/New_York"
members = ["bob", "alice"]
shift = "12h"
start = "2026-04-01T08:00"
"""


def berlin(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).astimezone(UTC)


def config_file(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "tocsin.toml"
    path.write_text(text)
    return path


@pytest.fixture
def settings(sqlite_url: str, tmp_path: Path) -> Settings:
    """/oncall reads no table: one backend is enough."""
    return Settings(database_url=sqlite_url, config_path=config_file(tmp_path))


# Through the dispatcher, as any platform sends it.


async def test_oncall_alone_answers_every_schedule_now(chat: Chat) -> None:
    chat.clock.set(berlin("2026-03-25T12:00"))
    reply = await chat.run("", root="oncall")
    assert reply.ok and reply.ephemeral
    assert reply.text.splitlines() == [
        "📟 **primary** · Europe/Berlin",
        "On call now: @Carol, until Mon 30 Mar 2026, 09:00 CEST (in 4 days 20 hours).",
        "Next: @Alice Liddell, from Mon 30 Mar 2026, 09:00 CEST.",
        "📟 **follow-the-sun** · America/New\\_York",
        "Nobody is on call yet: it starts Wed 01 Apr 2026, 08:00 EDT (in 1 week 1 hour), "
        "with @Bob first.",
    ]


async def test_the_answer_follows_the_clock_across_a_handoff(chat: Chat) -> None:
    chat.clock.set(berlin("2026-03-30T08:59"))  # run() adds 30 s: still carol's
    assert "On call now: @Carol, until Mon 30 Mar 2026, 09:00 CEST (in 30 seconds)" in (
        (await chat.run("primary", root="oncall")).text
    )
    chat.clock.set(berlin("2026-03-30T08:59:30"))  # +30 s: the handoff itself is alice's
    text = (await chat.run("primary", root="oncall")).text
    assert "On call now: @Alice Liddell, until Mon 06 Apr 2026, 09:00 CEST (in 1 week)." in text
    assert "Next: @Bob, from Mon 06 Apr 2026, 09:00 CEST." in text


async def test_one_schedule_by_name_whatever_the_case(chat: Chat) -> None:
    for typed in ("follow-the-sun", "now follow-the-sun", "FOLLOW-the-Sun"):
        chat.clock.set(berlin("2026-04-02T11:59:30"))  # run() adds 30 s
        text = (await chat.run(typed, root="oncall")).text
        assert text.startswith("📟 **follow-the-sun** · America/New\\_York\n"), typed
        assert "primary" not in text
    # 06:00 in New York on 2 April: the first night shift (20:00 to 08:00), alice's.
    assert "On call now: @Alice Liddell, until Thu 02 Apr 2026, 08:00 EDT (in 2 hours)." in text
    assert "Next: @Bob, from Thu 02 Apr 2026, 08:00 EDT." in text


async def test_an_unknown_schedule_is_refused_with_the_closest(chat: Chat) -> None:
    reply = await chat.run("primry", root="oncall")
    assert not reply.ok
    assert reply.text == (
        "⚠️ there is no schedule 'primry'. Did you mean primary? The schedules are: primary, "
        "follow-the-sun. /oncall help lists the commands."
    )
    also = await chat.run("now follow", root="oncall")
    assert "there is no schedule 'follow'. Did you mean follow-the-sun?" in also.text


async def test_a_mistyped_command_is_still_one(chat: Chat) -> None:
    reply = await chat.run("hlep", root="oncall")
    assert not reply.ok
    assert "`hlep` is not a /oncall command. Did you mean `/oncall help`?" in reply.text


async def test_help_still_works_under_oncall(chat: Chat) -> None:
    text = (await chat.run("help", root="oncall")).text
    assert "`/oncall now [schedule]` · who is on call now, until when, and who is next" in text
    assert "`/oncall help [command…]`" in text
    assert "Typed alone, `/oncall` says who is on call now for every schedule" in text
    one = (await chat.run("help now", root="oncall")).text
    assert "· schedule: only this schedule" in one and "Typed alone, /oncall answers" in one


async def test_oncall_does_not_take_an_incident(chat: Chat) -> None:
    reply = await chat.run("now INC-3", root="oncall")
    assert not reply.ok and "there is no schedule 'INC-3'" in reply.text
    named = await chat.run("INC-3 primary", root="oncall")
    assert not named.ok and "`primary` is not a /oncall command" in named.text


@pytest.fixture
async def bare_chat(sqlite_url: str) -> AsyncIterator[Chat]:
    """A core on the built-in defaults: no schedules."""
    clock = ManualClock()
    platform = RecordingPlatform(clock=clock)
    core = await open_core(
        Settings(database_url=sqlite_url), {platform.name: platform}, clock=clock
    )
    try:
        yield Chat(core, platform, clock)
    finally:
        await core.aclose()


async def test_with_no_schedules_it_says_what_to_add(bare_chat: Chat) -> None:
    reply = await bare_chat.run("", root="oncall")
    assert reply.ok
    assert reply.text.startswith("Nobody is on call: no on-call schedules are set up.")
    assert "Add one to tocsin.toml and restart Tocsin: a table like `[schedules.primary]`" in (
        reply.text
    )
    assert '`members = ["alice", "bob"]` (keys of [people]' in reply.text
    refused = await bare_chat.run("primary", root="oncall")
    assert not refused.ok
    assert "no on-call schedules are set up: add a \\[schedules.\\<name\\>\\] table" in refused.text


# The parser alone.


def test_the_words_rule_gives_unknown_words_to_now_only_under_oncall(tmp_path: Path) -> None:
    parser = Parser(default_registry(), load_config(config_file(tmp_path)))
    assert parser.parse("oncall", "", lambda _t: False).spec.key == "oncall_now"
    got = parser.parse("oncall", "primary", lambda _t: False)
    assert (got.spec.key, got.values) == ("oncall_now", {"schedule": "primary"})
    with pytest.raises(UnknownCommand):
        parser.parse("incident", "primary", lambda _t: False)  # /incident has no default
    with pytest.raises(UserError, match="'now' takes nothing more"):
        parser.parse("oncall", "primary secondary", lambda _t: False)


# The answer in each dialect.


@dataclass
class Where:
    name: str
    dialect: Dialect


@pytest.fixture(scope="module")
def presenter() -> tuple[Presenter, TocsinConfig]:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        config = load_config(config_file(Path(folder)))
    return Presenter(config, Directory(config), default_registry()), config


@pytest.mark.parametrize(
    ("platform", "dialect", "expected"),
    [
        (
            "console",
            PlainDialect(),
            [
                "📟 primary · Europe/Berlin",
                "On call now: @carol, until Mon 30 Mar 2026, 09:00 CEST (in 4 days 20 hours).",
                "Next: @alice, from Mon 30 Mar 2026, 09:00 CEST.",
            ],
        ),
        (
            "slack",
            SlackDialect(),
            [
                "📟 *primary* · Europe/Berlin",
                "On call now: @Carol, until Mon 30 Mar 2026, 09:00 CEST (in 4 days 20 hours).",
                "Next: <@U1ALICE>, from Mon 30 Mar 2026, 09:00 CEST.",
            ],
        ),
        (
            "discord",
            DiscordDialect(),
            [
                "📟 **primary** · Europe/Berlin",
                "On call now: @Carol, until Mon 30 Mar 2026, 09:00 CEST (in 4 days 20 hours).",
                "Next: <@1001>, from Mon 30 Mar 2026, 09:00 CEST.",
            ],
        ),
    ],
)
def test_the_answer_in_each_dialect(
    presenter: tuple[Presenter, TocsinConfig], platform: str, dialect: Dialect, expected: Any
) -> None:
    shown, config = presenter
    found = standings(
        {"primary": config.schedules["primary"]}, berlin("2026-03-25T12:00"), Directory(config)
    )
    text = shown.render(Where(platform, dialect), "reply/oncall", schedules=found)  # type: ignore[arg-type]
    assert text.splitlines() == expected


def test_a_one_person_rotation_is_next_again(tmp_path: Path) -> None:
    config = load_config(
        config_file(
            tmp_path,
            '[people.alice]\nname = "Alice"\n[schedules.solo]\ntimezone = "UTC"\n'
            'members = ["alice"]\nshift = "30s"\nstart = "2026-01-01T00:00"\n',
        )
    )
    (solo,) = standings(
        config.schedules, datetime(2026, 1, 1, 0, 0, 40, tzinfo=UTC), Directory(config)
    )
    assert solo.handoff == "Thu 01 Jan 2026, 00:01 UTC" and solo.within == "20 seconds"
    presenter = Presenter(config, Directory(config), default_registry())
    text = presenter.render(Where("console", PlainDialect()), "reply/oncall", schedules=[solo])  # type: ignore[arg-type]
    assert "Next: @alice again, from Thu 01 Jan 2026, 00:01 UTC." in text
    late = standings(
        config.schedules, datetime(2026, 1, 1, 0, 0, 45, 5, tzinfo=UTC), Directory(config)
    )
    assert late[0].handoff == "Thu 01 Jan 2026, 00:01 UTC"
    odd = standings(config.schedules, datetime(2026, 1, 1, 0, 0, 29, tzinfo=UTC), Directory(config))
    assert odd[0].handoff == "Thu 01 Jan 2026, 00:00:30 UTC", "seconds when a handoff has them"


# On the platforms, through their fakes.

PLATFORM_CONFIG = """\
[people.alice]
name = "Alice Liddell"
slack = "U1ALICE"
discord = "{alice}"

[people.bob]
name = "Bob"
slack = "U2BOB"
discord = "{bob}"

[schedules.primary]
timezone = "Europe/Berlin"
members = ["alice", "bob"]
shift = "1w"
start = "2026-01-05T09:00"
"""


async def test_discord_answers_oncall_now_and_completes_schedules(
    sqlite_url: str, tmp_path: Path
) -> None:
    """A Discord group cannot be run bare: ``/oncall now`` is the answer there, its
    ``schedule`` option completed from the config."""
    from tests.fakes.discord_api import ALICE, ANNOUNCE_ID, BOB, FakeDiscord
    from tests.test_discord import start

    path = config_file(tmp_path, PLATFORM_CONFIG.format(alice=ALICE, bob=BOB))
    fake = FakeDiscord()
    await fake.start()
    clock = ManualClock(berlin("2026-01-14T12:00"))
    core, bot = await start(fake.settings(sqlite_url, config_path=path), clock=clock)
    try:
        group = fake.command([], root="oncall")
        assert [o["name"] for o in group["options"]] == ["now", "help"]
        (option,) = fake.command(["now"], root="oncall")["options"]
        assert option["name"] == "schedule" and option["autocomplete"]
        assert not option.get("required")
        choices = await fake.autocomplete(ALICE, ANNOUNCE_ID, ["now"], "schedule", "pri", "oncall")
        assert choices == [{"name": "primary", "value": "primary"}]
        for values in ({}, {"schedule": "primary"}):
            answer = await fake.slash(BOB, ANNOUNCE_ID, "now", root="oncall", **values)
            await asyncio.wait_for(answer.answered.wait(), 15)
            assert answer.ephemeral
            text = answer.texts()[0]
            assert text.splitlines() == [
                "📟 **primary** · Europe/Berlin",
                f"On call now: <@{BOB}>, until Mon 19 Jan 2026, 09:00 CET (in 4 days 21 hours).",
                f"Next: <@{ALICE}>, from Mon 19 Jan 2026, 09:00 CET.",
            ]
        refused = await fake.slash(BOB, ANNOUNCE_ID, "now", root="oncall", schedule="primry")
        await asyncio.wait_for(refused.answered.wait(), 15)
        assert "there is no schedule 'primry'. Did you mean primary?" in refused.texts()[0]
        helped = await fake.slash(BOB, ANNOUNCE_ID, "help", root="oncall")
        await asyncio.wait_for(helped.answered.wait(), 15)
        assert "`/oncall now [schedule]`" in helped.texts()[0]
        assert not fake.rejections, fake.rejections
    finally:
        await bot.close()
        await core.aclose()
        await fake.close()


async def test_slack_answers_a_bare_oncall_in_its_acknowledgement(
    sqlite_url: str, tmp_path: Path
) -> None:
    import aiohttp
    from aiohttp.test_utils import TestServer

    from tests.fakes.slack_api import FakeSlack
    from tests.test_slack import Rig, slack_settings, start_tocsin

    fake = FakeSlack()
    await fake.start()
    path = config_file(tmp_path, PLATFORM_CONFIG.format(alice=1, bob=2))
    settings = replace(slack_settings(sqlite_url, fake), config_path=path)
    clock = ManualClock(berlin("2026-01-14T12:00"))
    core, adapter, web_app = await start_tocsin(settings, fake, clock=clock)
    server = TestServer(web_app, host="127.0.0.1", port=0)
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        rig = Rig(fake, core, adapter, server, http)
        assert manifest_usage(core) == "now · help"
        for text in ("", "primary", "now primary"):
            assert await rig.command(text, command="/oncall") == 200
            said = rig.responses()[-1]
            assert said.splitlines() == [
                "📟 *primary* · Europe/Berlin",
                "On call now: <@U2BOB>, until Mon 19 Jan 2026, 09:00 CET (in 4 days 21 hours).",
                "Next: <@U1ALICE>, from Mon 19 Jan 2026, 09:00 CET.",
            ], text
        assert await rig.command("help", command="/oncall") == 200
        assert "`/oncall now [schedule]`" in rig.responses()[-1]
        assert not [m for c in fake.channels for m in fake.in_channel(c)], "nothing public"
    finally:
        await http.close()
        await server.close()
        await core.aclose()
        await fake.close()


def manifest_usage(core: Any) -> str:
    from adapters.slack.manifest import manifest

    made = manifest("https://tocsin.example.com", core.registry)
    (oncall,) = [c for c in made["features"]["slash_commands"] if c["command"] == "/oncall"]
    return str(oncall["usage_hint"])


def test_the_shell_answers_oncall_in_plain_text(sqlite_url: str, tmp_path: Path) -> None:
    from tests.cli import tocsin_env, tocsin_inline

    config_file(
        tmp_path,
        '[people.alice]\nname = "Alice"\n[schedules.primary]\ntimezone = "Europe/Berlin"\n'
        'members = ["alice"]\nshift = "1w"\nstart = "2020-01-06T09:00"\n',
    )
    script = "/oncall\n/oncall primary\n/oncall secondary\n/oncall help\n"
    result = tocsin_inline("shell", cwd=tmp_path, env=tocsin_env(sqlite_url), stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("📟 primary · Europe/Berlin\nOn call now: @alice, until Mon ") == 2
    assert out.count("Next: @alice again, from Mon ") == 2
    assert "⚠️ there is no schedule 'secondary'. The schedules are: primary." in out
    assert "`/oncall now [schedule]` · who is on call now" in out


def test_next_skips_the_turns_a_dst_jump_swallowed(tmp_path: Path) -> None:
    """Half-hour turns from midnight on 29 March 2026: the 02:00 and 02:30 turns are
    skipped by the clock, so after the 01:30 turn comes the 03:00 one."""
    config = load_config(
        config_file(
            tmp_path,
            '[people.alice]\nname = "Alice"\n[people.bob]\nname = "Bob"\n'
            '[people.carol]\nname = "Carol"\n[schedules.quick]\ntimezone = "Europe/Berlin"\n'
            'members = ["alice", "bob", "carol"]\nshift = "30m"\nstart = "2026-03-29T00:00"\n',
        )
    )
    (quick,) = standings(config.schedules, berlin("2026-03-29T01:45"), Directory(config))
    assert quick.now is not None and quick.now.key == "alice"
    assert quick.next.key == "alice", "the 4th turn (bob's) and the 5th (carol's) last no time"
    assert (quick.handoff, quick.within) == ("Sun 29 Mar 2026, 03:00 CEST", "15 minutes")
