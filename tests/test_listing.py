"""``/incident list``: columns, the rows left out said in words, ``--all``, on both databases."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from bot.commands import default_registry, incident
from bot.commands.parse import Parser
from bot.config import TocsinConfig
from bot.errors import UserError
from tests.conftest import Chat

ROW = re.compile(r"^\S+ \*\*INC-(\d+)\*\* · ", re.MULTILINE)


def listed(text: str) -> list[int]:
    return [int(n) for n in ROW.findall(text)]


async def sixty(chat: Chat) -> None:
    """INC-1 … INC-60: the newest declared 3 h ago by bob and owned by carol, the one
    before 2 days ago, the rest earlier."""
    for n in range(1, 59):
        assert (await chat.run(f"declare Problem number {n} --sev {1 + n % 4}")).ok
    chat.clock.advance(timedelta(days=2))
    assert (await chat.run("declare Cache misses", who="bob")).ok
    chat.clock.advance(timedelta(hours=3))
    assert (await chat.run("declare Checkout returns 500 --sev 1", who="bob")).ok
    assert (await chat.run("ack INC-60", who="carol")).ok


async def test_list_shows_the_newest_with_age_and_people_and_says_how_many_more(
    chat: Chat,
) -> None:
    await sixty(chat)
    reply = await chat.run("list")
    assert reply.ok and reply.ephemeral
    text = reply.text
    assert listed(text) == list(range(60, 35, -1))
    assert "**Open incidents**, newest first: 60" in text
    assert "INC · age · severity · status · commander · owner · title" in text
    assert "🟠 **INC-60** · 1m · SEV1 · acknowledged · Bob · Carol · Checkout returns 500" in text
    assert "🔴 **INC-59** · 3h · SEV3 · triggered · Bob · — · Cache misses" in text
    assert "🔴 **INC-58** · 2d · SEV3 · triggered · Alice · — · Problem number 58" in text
    assert text.rstrip().endswith("… and 35 more: `/incident list --all` shows them all.")

    every = (await chat.run("list --all")).text
    assert listed(every) == list(range(60, 0, -1))
    assert "more" not in every

    await chat.run("cancel declared twice", channel=chat.channel(1))
    assert listed((await chat.run("list --all")).text) == list(range(60, 1, -1))
    assert "newest first: 59" in (await chat.run("list")).text
    everything = (await chat.run("list all")).text
    assert "**All incidents**, newest first: 60" in everything
    assert everything.rstrip().endswith("… and 35 more: `/incident list all --all` shows them all.")
    assert listed((await chat.run("list all --all")).text) == list(range(60, 0, -1))


async def test_list_stops_at_its_most_and_at_what_a_message_can_hold_and_says_so(
    chat: Chat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(incident, "LIST_ROWS", 3)
    monkeypatch.setattr(incident, "LIST_MOST", 5)
    for n in range(1, 9):
        await chat.run(f"declare Problem {n} " + "with a long title " * 10)
    newest = (await chat.run("list")).text
    assert listed(newest) == [8, 7, 6]
    assert newest.rstrip().endswith("… and 5 more: `/incident list --all` shows the newest 5.")
    text = (await chat.run("list --all")).text
    assert listed(text) == [8, 7, 6, 5, 4]
    assert text.rstrip().endswith("… and 3 more, older: a list shows at most 5.")
    long_row = next(line for line in text.splitlines() if "INC-8" in line)
    assert long_row.endswith("…") and len(long_row) < 160

    # Rows that would make the answer longer than a message holds are left out, saying so.
    monkeypatch.setattr(incident, "LIST_BUDGET", 450)
    for command in ("list", "list --all"):
        cut = (await chat.run(command)).text
        assert len(cut) <= 450 and listed(cut) in ([8], [8, 7])
        left = 8 - len(listed(cut))
        assert cut.rstrip().endswith(
            f"… and {left} more, older, not shown: one message holds only these."
        )


async def test_no_incidents_says_so(chat: Chat) -> None:
    assert "No open incidents." in (await chat.run("list")).text
    assert "No incidents." in (await chat.run("list all --all")).text


@pytest.mark.parametrize(
    ("typed", "values"),
    [
        ("list", {}),
        ("list --all", {"every": True}),
        ("list all --all", {"scope": "all", "every": True}),
        ("ls --all open", {"scope": "open", "every": True}),
        ("list --all=no", {"every": False}),
    ],
)
def test_list_takes_a_scope_and_all(typed: str, values: dict[str, object]) -> None:
    parser = Parser(default_registry(), TocsinConfig())
    assert parser.parse("incident", typed, lambda _t: False).values == values
    assert (
        parser.usage(default_registry().get("incident", ("list",)))
        == "/incident list [open|all] [--all]"
    )


def test_list_refuses_what_it_does_not_take() -> None:
    parser = Parser(default_registry(), TocsinConfig())
    with pytest.raises(UserError, match="list shows 'open' or 'all' incidents, not 'maybe'"):
        parser.parse("incident", "list --all maybe", lambda _t: False)
    with pytest.raises(UserError, match="--all is on or off: write it alone, like --all"):
        parser.parse("incident", "list --all=perhaps", lambda _t: False)
