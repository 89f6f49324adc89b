"""The /incident grammar: every command of the foundation issue, and the bad inputs."""

from __future__ import annotations

import pytest

from bot.config import TocsinConfig
from bot.errors import UserError
from bot.grammar import COMMANDS, Grammar, Request, UnknownCommand


def is_mention(token: str) -> bool:
    return token.startswith("@") and len(token) > 1


@pytest.fixture
def grammar() -> Grammar:
    return Grammar(TocsinConfig())


def parse(grammar: Grammar, text: str) -> Request:
    return grammar.parse(text, is_mention)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("declare Database down", Request("declare", text="Database down")),
        (
            "declare DB down --sev 1 --service api --desc replicas lag a lot",
            Request(
                "declare",
                text="DB down",
                severity=1,
                service="api",
                description="replicas lag a lot",
            ),
        ),
        (
            "declare --sev=sev2 Checkout errors",
            Request("declare", text="Checkout errors", severity=2),
        ),
        ("declare Login slow --sev SEV4", Request("declare", text="Login slow", severity=4)),
        ("declare Login slow --sev major", Request("declare", text="Login slow", severity=2)),
        ('declare "can\'t log in"', Request("declare", text="can't log in")),
        ("declare", Request("declare", form=True)),
        ("", Request("declare", form=True)),
        ("ack", Request("ack")),
        ("acknowledge", Request("ack")),
        ("ack INC-12", Request("ack", incident=12)),
        ("status investigating", Request("status", status="investigating")),
        (
            "status Identified bad deploy 4.2",
            Request("status", status="identified", text="bad deploy 4.2"),
        ),
        (
            "status INC-3 monitoring rolled back",
            Request("status", incident=3, status="monitoring", text="rolled back"),
        ),
        ("update error rate falling", Request("update", text="error rate falling")),
        ("sev 2", Request("sev", severity=2)),
        ("sev sev1", Request("sev", severity=1)),
        ("assign communications @bob", Request("assign", role="communications", person="@bob")),
        ("roles", Request("roles")),
        ("note   keep   spacing", Request("note", text="keep   spacing")),
        (
            "task add restart the primary @bob",
            Request("task", text="restart the primary", person="@bob", scope="add"),
        ),
        ("task add call the vendor", Request("task", text="call the vendor", scope="add")),
        ("task done 2", Request("task", number=2, scope="done")),
        ("tasks", Request("tasks")),
        ("resolve", Request("resolve")),
        ("resolve rolled back 4.2", Request("resolve", text="rolled back 4.2")),
        ("close", Request("close")),
        ("cancel declared by mistake", Request("cancel", text="declared by mistake")),
        ("list", Request("list", scope="open")),
        ("list all", Request("list", scope="all")),
        ("timeline", Request("timeline")),
        ("export md", Request("export", fmt="md")),
        ("export", Request("export", fmt="md")),
        ("help", Request("help")),
    ],
)
def test_every_command_parses_to_its_request(
    grammar: Grammar, text: str, expected: Request
) -> None:
    assert parse(grammar, text) == expected


def test_every_command_in_the_help_table_is_parseable(grammar: Grammar) -> None:
    samples = {
        "declare": "declare x",
        "status": "status monitoring",
        "update": "update x",
        "sev": "sev 1",
        "assign": "assign operations @a",
        "note": "note x",
        "task": "task done 1",
        "cancel": "cancel x",
        "export": "export md",
    }
    for spec in COMMANDS:
        assert parse(grammar, samples.get(spec.name, spec.name)).name == spec.name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("declare --sev 1", "needs a title"),
        ('declare ""', "needs a title"),
        ("declare " + "x" * 201, "the limit is 200"),
        ("declare db --sev 9", "'9' is not a severity: use 1-4"),
        ("declare db --sev", "--sev takes one value"),
        ("declare db --priority 1", "unknown option --priority"),
        ("declare db --sev 1 --sev 2", "--sev is given twice"),
        ("declare db --desc", "--desc needs a text"),
        ("sev 9", "'9' is not a severity"),
        ("sev", "which severity?"),
        ("status resolved", "'resolved' is not a status you can set"),
        ("status", "which status?"),
        ("update", "needs a message"),
        ("assign pilot @bob", "there is no role 'pilot'; the roles are: commander"),
        ("assign commander bob", "assign needs a role and a person"),
        ("note", "needs a text"),
        ("note " + "y" * 3001, "the limit is 3000"),
        ("task", "Usage: /incident task add"),
        ("task done two", "Usage: /incident task add"),
        ("cancel", "say why"),
        ("list some", "'open' or 'all'"),
        ("export pdf", "cannot export as 'pdf'"),
        ("ack now", "'ack' takes nothing more"),
    ],
)
def test_bad_input_says_what_is_wrong(grammar: Grammar, text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse(grammar, text)
    assert message in str(caught.value)


def test_unknown_command_suggests_the_closest(grammar: Grammar) -> None:
    with pytest.raises(UnknownCommand) as caught:
        parse(grammar, "resolv now")
    assert caught.value.suggestion == "resolve"
    with pytest.raises(UnknownCommand) as caught:
        parse(grammar, "xyzzy")
    assert caught.value.suggestion is None


def test_severity_names_come_from_the_config() -> None:
    config = TocsinConfig.model_validate(
        {"severities": {"SEV1": {"label": "P0"}, "SEV2": {"label": "P1"}}}
    )
    grammar = Grammar(config)
    assert parse(grammar, "sev p1").severity == 2
    with pytest.raises(UserError, match="use 1-2"):
        parse(grammar, "sev 3")


@pytest.mark.parametrize(
    ("name", "fields", "expected"),
    [
        ("declare", {}, Request("declare", form=True)),
        (
            "declare",
            {"title": "DB down", "severity": "1", "service": "api", "description": ""},
            Request("declare", text="DB down", severity=1, service="api"),
        ),
        ("ack", {"incident": "INC-4"}, Request("ack", incident=4)),
        ("ack", {"incident": "4"}, Request("ack", incident=4)),
        (
            "status",
            {"status": "Monitoring", "message": "rolled back"},
            Request("status", status="monitoring", text="rolled back"),
        ),
        # A typed option is never split: "inc-3" in a note is text, not an incident.
        ("note", {"text": "inc-3 is related"}, Request("note", text="inc-3 is related")),
        (
            "assign",
            {"role": "Operations", "person": "@bob"},
            Request("assign", role="operations", person="@bob"),
        ),
        (
            "task",
            {"verb": "add", "text": "roll back", "owner": "@bob"},
            Request("task", text="roll back", person="@bob", scope="add"),
        ),
        ("task", {"verb": "done", "number": "2"}, Request("task", number=2, scope="done")),
        ("list", {"scope": "all"}, Request("list", scope="all")),
    ],
)
def test_typed_fields_build_the_same_requests(
    grammar: Grammar, name: str, fields: dict[str, str], expected: Request
) -> None:
    assert grammar.build(name, fields, is_mention) == expected


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("declare", {"severity": "2"}, "needs a title"),
        ("declare", {"title": "x" * 201}, "the limit is 200"),
        ("ack", {"incident": "seven"}, "not an incident reference"),
        ("ack", {"text": "now"}, "'ack' takes nothing more"),
        ("assign", {"role": "chef", "person": "@bob"}, "there is no role 'chef'"),
        ("assign", {"role": "operations", "person": "bob"}, "assign needs a role and a person"),
        ("task", {"verb": "add", "text": "x", "owner": "bob"}, "Usage: /incident task add"),
        ("update", {"message": "  "}, "an update needs a message"),
    ],
)
def test_typed_fields_are_checked_like_text(
    grammar: Grammar, name: str, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        grammar.build(name, fields, is_mention)


def test_an_unknown_typed_command_suggests_the_closest(grammar: Grammar) -> None:
    with pytest.raises(UnknownCommand) as caught:
        grammar.build("resolv", {}, is_mention)
    assert caught.value.suggestion == "resolve"
