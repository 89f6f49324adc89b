"""User text on the way in: control characters removed, on every path into the core (typed
commands, forms, captured chat, display names); and what an error echoes of what was typed
is cut short."""

from __future__ import annotations

import re
from contextlib import nullcontext
from datetime import timedelta

import pytest

from bot.app import open_core
from bot.commands import default_registry
from bot.commands.parse import Parser
from bot.commands.registry import Arg
from bot.commands.values import clean
from bot.config import TocsinConfig
from bot.errors import SettingsError, UserError
from bot.identity import Actor, Person
from bot.inbound import ChannelEvent, Command
from bot.platform import UserRef
from bot.render import MarkdownDialect, PlainDialect
from bot.settings import Settings, http_url, secret
from bot.testing import RecordingPlatform
from bot.text import SHOWN_MAX
from tests.conftest import Chat

CONTROLS = "\x00\x07\x08\x0b\x0c\x1b\x7f\x85\x9f\u202a\u202e\u2066\u2069"
ANY_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_clean_keeps_text_and_line_breaks_where_text_spans_lines() -> None:
    typed = f"dis{CONTROLS}k\r\nfull\rnow\tthen"
    assert clean(typed) == "disk\nfull\nnow\tthen"
    assert clean(typed, multiline=False) == "disk full now then"
    assert clean("café ☕ 東京 مرحبا 👩‍💻") == "café ☕ 東京 مرحبا 👩‍💻"  # letters, emoji, ZWJ


def test_one_rule_for_control_characters_in_user_text_messages_and_settings() -> None:
    """User text, what is rendered and the settings drop or refuse the same characters;
    they differ only where they must: text that may span lines keeps its tab and line
    breaks (a CR as one), and a setting, one line, refuses those and U+2028/U+2029 too."""
    lines, separators = set("\t\n\r"), {"\u2028", "\u2029"}
    for code in [*range(0x3000), *range(0xFFF0, 0x10000), 0x1F600]:
        char = chr(code)
        control = bool(ANY_CONTROL.match(char))
        assert clean(f"a{char}b") == ("a\nb" if char == "\r" else "ab" if control else f"a{char}b")
        for dialect in (PlainDialect(), MarkdownDialect()):
            assert (dialect.escape(char) == "") == (control or char == "\r"), hex(code)
        try:
            http_url("X_URL", f"https://example.com/a{char}b", "a URL", schemes=("https",))
            refused = False
        except SettingsError:
            refused = True
        assert refused == (control or char in lines | separators or char == " "), hex(code)
        refusal = pytest.raises(SettingsError) if control or char.isspace() else nullcontext()
        with refusal:
            secret("X_TOKEN", f"a{char}b")


async def test_control_characters_never_reach_the_database_or_the_chat(chat: Chat) -> None:
    # On PostgreSQL a NUL byte made every one of these "something went wrong".
    reply = await chat.run("declare Disk\x00 full\u202e on\x1b[2J db\x07-1 --desc a\x00b")
    assert reply.ok, reply.text
    room = chat.channel(1)
    note = await chat.run("note first\x00 line\nsecond\u2066 line\x9b", channel=room)
    assert note.ok, note.text
    await chat.run("task add fix\tthe\x00 disk\nnow", channel=room)
    form = await chat.click(
        "update", 1, values={"message": "line\u202a one\r\nline\x7f two"}, channel=room
    )
    assert form.ok, form.text
    said = ChannelEvent(
        chat.platform.name,
        room.id,
        "message",
        "m1",
        UserRef("mallory", "Mal\u202elory\x1b"),
        chat.clock.now() + timedelta(seconds=1),
        "look\x00 at\x07 this\r\nnow",
    )
    assert await chat.core.dispatcher.channel_event(said)
    typed_options = Command(
        chat.platform.name,
        UserRef("alice", "Alice"),
        chat.lobby,
        "ack",
        options={"incident": "INC-1\x00\u202e"},
    )
    assert (await chat.core.dispatcher.command(typed_options)).ok
    assert (await chat.run("update INC-1\u2069 still\x00 looking", channel=room)).ok
    unknown = await chat.run("wh\x1b[2Jat\u202e\x00")
    assert not unknown.ok and "wh[2Jat" in unknown.text

    full = await chat.core.wiring.views.full(1)
    assert full.incident.title == "Disk full on[2J db-1"
    assert full.incident.description == "ab"
    texts: dict[str, list[str]] = {}
    for event in full.events:
        texts.setdefault(event.kind, []).append(event.text)
    assert texts["note"] == ["first line\nsecond line"]
    assert texts["task_added"] == ["fix the disk now"]
    assert texts["update"] == ["line one\nline two", "still looking"]
    assert texts["message"] == ["look at this\nnow"]
    assert "Mallory" in [e.actor_name for e in full.events]
    stored = [full.incident.title, full.incident.description]
    stored += [f"{e.actor_name} {e.text}" for e in full.events]
    shown = [unknown.text, *(m.text for m in chat.platform.messages)]
    shown += [t for _to, t, _p in chat.platform.answers]
    shown += [m.card.title for m in chat.platform.messages if m.card is not None]
    shown += list(chat.platform.topics.values())
    for text in stored + shown:
        assert not ANY_CONTROL.search(text), repr(text)


LONG = 100_000


@pytest.mark.parametrize(
    ("typed", "echoed"),
    [
        ("w" * LONG, "w"),  # an unknown command word
        ("INC-" + "9" * LONG, "9"),
        ("task " + "q" * LONG, "q"),
        ("help " + "h" * 100, "h"),
        ("declare db --" + "f" * LONG, "f"),
        ("declare db --sev " + "s" * LONG, "s"),
        ("status " + "z" * LONG, "z"),
        ("assign " + "r" * LONG + " <@bob>", "r"),
        ("assign commander " + "p" * LONG, "p"),
        ("list " + "l" * LONG, "l"),
        ("export " + "e" * LONG, "e"),
        ("ack INC-" + "1" * LONG, "1"),
        ("task done " + "7" * LONG, "7"),
    ],
)
async def test_an_error_echoes_at_most_a_few_dozen_characters_of_what_was_typed(
    chat: Chat, typed: str, echoed: str
) -> None:
    await chat.run("declare Disk full")
    reply = await chat.run(typed, channel=chat.channel(1))
    assert not reply.ok
    longest = max((len(run) for run in re.findall(f"{echoed}+", reply.text)), default=0)
    assert 0 < longest <= SHOWN_MAX, reply.text[:300]
    assert f"{echoed * longest}…" in reply.text
    assert len(reply.text) < 2000, len(reply.text)


def test_the_parsers_other_refusals_echo_short_too() -> None:
    config = TocsinConfig.model_validate({"services": {"api": {}}})
    parser = Parser(default_registry(), config)
    spec = parser.registry.get("incident", ("declare",))
    assert spec is not None
    long = "x" * LONG
    refusals = [
        lambda: parser.parse("incident", f"declare db --service {long}", is_mention=bool),
        lambda: parser.convert(spec, Arg("for", "duration", "how long"), long, bool),
        lambda: parser.build("incident", "ack", {"incident": long}, bool),
        lambda: parser.build("incident", f"declare {long}", {}, bool),
    ]
    for refuse in refusals:
        with pytest.raises(UserError) as caught:
            refuse()
        said = str(caught.value)
        longest = max(len(run) for run in re.findall("x+", said))
        assert longest <= SHOWN_MAX and "x…" in said, said[:200]


async def test_the_incident_service_refuses_an_unknown_service_briefly(
    settings: Settings, platform: RecordingPlatform
) -> None:
    config = TocsinConfig.model_validate({"services": {"api": {}}})
    core = await open_core(settings, {platform.name: platform}, config=config)
    try:
        with pytest.raises(UserError) as caught:
            await core.service.declare(
                Actor(platform.name, Person("alice", "Alice")),
                title="Slow",
                severity=None,
                service="x" * LONG,
                description="",
                platform=platform.name,
            )
        said = str(caught.value)
        longest = max(len(run) for run in re.findall("x+", said))
        assert longest <= SHOWN_MAX and "x…" in said and len(said) < 200, said[:200]
    finally:
        await core.aclose()
