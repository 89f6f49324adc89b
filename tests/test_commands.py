"""The command registry and its parser: every command of /incident and /oncall, the bad
inputs, INC-n anywhere among the arguments, and a command registered once showing up in the
parser, the help, Discord's app-command tree and Slack's manifest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import discord
import pytest
from discord import app_commands

from adapters.discord.commands import groups
from adapters.slack.manifest import manifest
from bot.commands import default_registry
from bot.commands.call import Call
from bot.commands.parse import Invocation, Parser, UnknownCommand, UnknownRoot
from bot.commands.registry import Arg, CommandSpec, Registry, Root
from bot.config import TocsinConfig
from bot.errors import UserError
from bot.ui import Reply


def is_mention(token: str) -> bool:
    return token.startswith("@") and len(token) > 1


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser(default_registry(), TocsinConfig())


def parse(
    parser: Parser, text: str, root: str = "incident"
) -> tuple[str, int | None, dict[str, Any]]:
    got = parser.parse(root, text, is_mention)
    return got.spec.name, got.incident, got.values


@pytest.mark.parametrize(
    ("text", "name", "incident", "values"),
    [
        ("declare Database down", "declare", None, {"title": "Database down"}),
        (
            "declare DB down --sev 1 --service api --desc replicas lag a lot",
            "declare",
            None,
            {
                "title": "DB down",
                "severity": 1,
                "service": "api",
                "description": "replicas lag a lot",
            },
        ),
        (
            "declare --sev=sev2 Checkout errors",
            "declare",
            None,
            {"title": "Checkout errors", "severity": 2},
        ),
        ("declare Login slow --sev SEV4", "declare", None, {"title": "Login slow", "severity": 4}),
        ("declare Login slow --sev major", "declare", None, {"title": "Login slow", "severity": 2}),
        ("declare DB --sev 1 down", "declare", None, {"title": "DB down", "severity": 1}),
        ('declare "can\'t log in"', "declare", None, {"title": "can't log in"}),
        ("ack", "ack", None, {}),
        ("acknowledge", "ack", None, {}),
        ("ack INC-12", "ack", 12, {}),
        ("status investigating", "status", None, {"status": "investigating"}),
        (
            "status Identified bad deploy 4.2",
            "status",
            None,
            {"status": "identified", "message": "bad deploy 4.2"},
        ),
        (
            "status INC-3 monitoring rolled back",
            "status",
            3,
            {"status": "monitoring", "message": "rolled back"},
        ),
        (
            "status monitoring rolled back INC-3",
            "status",
            3,
            {"status": "monitoring", "message": "rolled back"},
        ),
        ("update error rate falling", "update", None, {"message": "error rate falling"}),
        ("sev 2", "sev", None, {"severity": 2}),
        ("sev sev1", "sev", None, {"severity": 1}),
        ("sev 1 INC-2", "sev", 2, {"severity": 1}),
        ("sev INC-2 1", "sev", 2, {"severity": 1}),
        (
            "sev 1 customer impact widened",
            "sev",
            None,
            {"severity": 1, "reason": "customer impact widened"},
        ),
        ("sev 1 widened INC-2", "sev", 2, {"severity": 1, "reason": "widened"}),
        ("severity 3", "sev", None, {"severity": 3}),
        (
            "assign communications @bob",
            "assign",
            None,
            {"role": "communications", "person": "@bob"},
        ),
        ("assign operations @bob INC-2", "assign", 2, {"role": "operations", "person": "@bob"}),
        ("assign operations INC-2 @bob", "assign", 2, {"role": "operations", "person": "@bob"}),
        ("roles", "roles", None, {}),
        ("note   keep   spacing", "note", None, {"text": "keep   spacing"}),
        ("note INC-3 is related", "note", 3, {"text": "is related"}),
        (
            "task add restart the primary @bob",
            "task add",
            None,
            {"text": "restart the primary", "owner": "@bob"},
        ),
        ("task add call the vendor", "task add", None, {"text": "call the vendor"}),
        ("task add X INC-2", "task add", 2, {"text": "X"}),
        ("task add X @bob INC-2", "task add", 2, {"text": "X", "owner": "@bob"}),
        ("task done 2", "task done", None, {"number": 2}),
        ("task done 2 INC-4", "task done", 4, {"number": 2}),
        ("INC-4 task done 2", "task done", 4, {"number": 2}),
        ("task INC-4 done 2", "task done", 4, {"number": 2}),
        ("task INC-2 add call the vendor", "task add", 2, {"text": "call the vendor"}),
        ("INC-1 ack", "ack", 1, {}),
        ("inc-1 sev 2", "sev", 1, {"severity": 2}),
        (
            "status identified INC-1 found it",
            "status",
            1,
            {"status": "identified", "message": "found it"},
        ),
        ("note INC-3 is like INC-2", "note", 3, {"text": "is like INC-2"}),
        ("tasks", "tasks", None, {}),
        ("resolve", "resolve", None, {}),
        ("resolve rolled back 4.2", "resolve", None, {"summary": "rolled back 4.2"}),
        ("close", "close", None, {}),
        ("close --force", "close", None, {"force": True}),
        ("close INC-2 --force", "close", 2, {"force": True}),
        ("reopen", "reopen", None, {}),
        ("reopen error rate up again INC-2", "reopen", 2, {"reason": "error rate up again"}),
        ("cancel declared by mistake", "cancel", None, {"reason": "declared by mistake"}),
        ("list", "list", None, {}),
        ("ls all", "list", None, {"scope": "all"}),
        ("timeline", "timeline", None, {}),
        ("export md", "export", None, {"format": "md"}),
        ("export md INC-2", "export", 2, {"format": "md"}),
        ("export", "export", None, {}),
        ("help", "help", None, {}),
        ("help task add", "help", None, {"command": "task add"}),
    ],
)
def test_every_command_parses(
    parser: Parser, text: str, name: str, incident: int | None, values: dict[str, Any]
) -> None:
    assert parse(parser, text) == (name, incident, values)


def test_nothing_typed_opens_the_declare_form_and_oncall_now(parser: Parser) -> None:
    bare = parser.parse("incident", "", is_mention)
    assert bare.spec.name == "declare" and bare.form
    assert parser.parse("incident", "declare", is_mention).form
    assert parser.parse("oncall", "", is_mention).spec.key == "oncall_now"


def test_every_registered_command_parses_from_its_usage(parser: Parser) -> None:
    samples = {"title": "x", "text": "x", "message": "x", "reason": "x", "summary": "x"}
    for spec in parser.registry.commands():
        words = [*spec.path]
        for arg in spec.positional:
            if arg.required:
                words.append(
                    {
                        "severity": "1",
                        "status": "monitoring",
                        "role": "operations",
                        "person": "@a",
                        "integer": "1",
                        "duration": "30m",
                    }.get(arg.kind, samples.get(arg.name, "x"))
                )
        assert parser.parse(spec.root, " ".join(words), is_mention).spec is spec, spec.name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("declare --sev 1", "needs a title"),
        ('declare ""', "needs a title"),
        ("declare " + "x" * 201, "the limit is 200"),
        ("declare db --sev 9", "'9' is not a severity: use 1-4"),
        ("declare db --sev", "--sev needs a value after it"),
        ("declare db --priority 1", "unknown option --priority"),
        ("declare db --sev 1 --sev 2", "--sev is given twice"),
        ("declare db --desc", "--desc needs a text"),
        ("sev 9", "'9' is not a severity"),
        ("sev", "which severity?"),
        ("status resolved", "'resolved' is not a status you can set"),
        ("status", "'status' needs a status"),
        ("update", "needs a message"),
        ("assign pilot @bob", "there is no role 'pilot'. The roles are: commander"),
        ("assign commander bob", "'bob' is not a person; mention them, like @bob."),
        ("assign commander", "assign needs a role and a person"),
        ("note", "needs a text"),
        ("note " + "y" * 3001, "the limit is 3000"),
        ("task", "task what? Usage"),
        ("task drop 1", "'task drop' is not a command"),
        ("task done two", "'two' is not a number"),
        ("task done ²", "'²' is not a number"),
        ("task done 0", "there is no task 0"),
        ("task done 99999999999999999999", "there is no task 99999999999999999999"),
        ("task done " + "9" * 5000, "there is no task " + "9" * 40 + "…;"),
        ("sev ²", "'²' is not a severity"),
        ("sev " + "1" * 5000, "is not a severity"),
        ("task drop 1", "'task drop' is not a command. Usage"),
        ("task add @bob", "a task needs a text"),
        ("ack INC-99999999999999999999", "there is no incident INC-99999999999999999999"),
        ("ack INC-0", "there is no incident INC-0"),
        ("INC-3", "what about INC-3? Name a command too"),
        ("INC-3 list", "'list' does not act on one incident"),
        ("cancel", "say why"),
        ("list some", "'open' or 'all'"),
        ("export pdf", "cannot export as 'pdf'"),
        ("ack now", "'ack' takes nothing more"),
        ("ack INC-x", "'INC-x' is not an incident reference; use INC-<number>"),
        ("ack INC-²", "'INC-²' is not an incident reference; use INC-<number>"),
    ],
)
def test_bad_input_says_what_is_wrong(parser: Parser, text: str, message: str) -> None:
    with pytest.raises(UserError) as caught:
        parse(parser, text)
    assert message in str(caught.value)


def test_unknown_commands_and_roots_suggest_the_closest(parser: Parser) -> None:
    with pytest.raises(UnknownCommand) as caught:
        parse(parser, "resolv now")
    assert caught.value.suggestion == "resolve"
    with pytest.raises(UnknownCommand) as caught:
        parse(parser, "acknowledg")
    assert caught.value.suggestion == "ack"
    with pytest.raises(UnknownCommand) as caught:
        parse(parser, "xyzzy")
    assert caught.value.suggestion is None
    with pytest.raises(UnknownRoot, match="/page is not a Tocsin command; try /incident help"):
        parser.parse("page", "someone", is_mention)


def test_severity_names_come_from_the_config() -> None:
    config = TocsinConfig.model_validate(
        {"severities": {"SEV1": {"label": "P0"}, "SEV2": {"label": "P1"}}}
    )
    parser = Parser(default_registry(), config)
    assert parse(parser, "sev p1")[2] == {"severity": 2}
    with pytest.raises(UserError, match="use 1-2"):
        parse(parser, "sev 3")
    assert "[--sev 1-2]" in parser.usage(parser.registry.commands("incident").__next__())


@pytest.mark.parametrize(
    ("path", "fields", "incident", "values"),
    [
        ("declare", {}, None, None),
        (
            "declare",
            {"title": "DB down", "severity": "1", "service": "api", "description": ""},
            None,
            {"title": "DB down", "severity": 1, "service": "api"},
        ),
        ("ack", {"incident": "INC-4"}, 4, {}),
        ("ack", {"incident": "4"}, 4, {}),
        (
            "status",
            {"status": "Monitoring", "message": "rolled back"},
            None,
            {"status": "monitoring", "message": "rolled back"},
        ),
        # A typed option is never split: "inc-3" in a note is text, not an incident.
        ("note", {"text": "inc-3 is related"}, None, {"text": "inc-3 is related"}),
        (
            "assign",
            {"role": "Operations", "person": "@bob"},
            None,
            {"role": "operations", "person": "@bob"},
        ),
        (
            "task add",
            {"text": "roll back", "owner": "@bob"},
            None,
            {"text": "roll back", "owner": "@bob"},
        ),
        ("task done", {"number": "2"}, None, {"number": 2}),
        ("list", {"scope": "all"}, None, {"scope": "all"}),
    ],
)
def test_typed_fields_build_the_same_invocations(
    parser: Parser,
    path: str,
    fields: dict[str, str],
    incident: int | None,
    values: dict[str, Any] | None,
) -> None:
    got = parser.build("incident", path, fields, is_mention)
    if values is None:
        assert got.form
    else:
        assert (got.spec.name, got.incident, got.values) == (path, incident, values)


@pytest.mark.parametrize(
    ("path", "fields", "message"),
    [
        ("declare", {"severity": "2"}, "needs a title"),
        ("declare", {"title": "x" * 201}, "the limit is 200"),
        ("ack", {"incident": "seven"}, "not an incident reference"),
        ("ack", {"text": "now"}, "'ack' takes nothing more"),
        ("assign", {"role": "chef", "person": "@bob"}, "there is no role 'chef'"),
        ("assign", {"role": "operations", "person": "bob"}, "'bob' is not a person"),
        ("task add", {"text": "x", "owner": "bob"}, "'bob' is not a person"),
        ("update", {"message": "  "}, "an update needs a message"),
        ("task", {}, "task what?"),
    ],
)
def test_typed_fields_are_checked_like_text(
    parser: Parser, path: str, fields: dict[str, str], message: str
) -> None:
    with pytest.raises(UserError, match=message):
        parser.build("incident", path, fields, is_mention)


def test_registry_refuses_mistakes_in_a_spec() -> None:
    registry = Registry()
    registry.add_root(Root("ops", "Ops"))

    async def handler(_call: Call) -> Reply:
        return Reply("x")

    registry.add(CommandSpec("ops", ("ping",), "ping", handler))
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(CommandSpec("ops", ("ping",), "again", handler))
    with pytest.raises(ValueError, match="not a root"):
        registry.add(CommandSpec("nope", ("x",), "x", handler))
    with pytest.raises(ValueError, match="one free-text argument"):
        registry.add(
            CommandSpec(
                "ops", ("say",), "s", handler, args=(Arg("a", "text", "a"), Arg("b", "text", "b"))
            )
        )


def test_a_command_registered_once_is_in_the_parser_help_discord_and_slack() -> None:
    """The acceptance test of the registry: one entry, and everything derives from it."""
    registry = default_registry()
    registry.add_root(Root("runbook", "Runbooks for services"))
    seen: list[tuple[str, int | None, dict[str, Any]]] = []

    async def show(call: Call) -> Reply:
        seen.append((call.spec.name, call.incident, call.values))
        return Reply("shown")

    registry.add(
        CommandSpec(
            "runbook",
            ("show",),
            "show a service's runbook",
            show,
            args=(
                Arg("service", "service", "the service", required=True),
                Arg("within", "duration", "how far back"),
            ),
            on_incident=True,
            permission="runbook.read",
        )
    )
    config = TocsinConfig.model_validate({"services": {"api": {}}})
    parser = Parser(registry, config)

    got = parser.parse("runbook", "show api 1h30m INC-4", is_mention)
    assert (got.spec.name, got.incident, got.values) == (
        "show",
        4,
        {"service": "api", "within": timedelta(hours=1, minutes=30)},
    )
    with pytest.raises(UserError, match="not a duration"):
        parser.parse("runbook", "show api 5min", is_mention)
    assert parser.usage(got.spec) == "/runbook show <NAME> [within]"

    spec = registry.get("runbook", ("show",))
    assert spec is not None and spec.permission == "runbook.read"
    lines = [parser.usage(s) for s in registry.commands("runbook")]
    assert lines == ["/runbook show <NAME> [within]"]

    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    async def handle(*_args: object) -> None:
        return None

    async def nothing_open() -> list[tuple[int, str]]:
        return []

    for group in groups(registry, config, handle, nothing_open):
        tree.add_command(group)
    payload = {c["name"]: c for c in (cmd.to_dict(tree) for cmd in tree.get_commands())}
    assert set(payload) == {"incident", "oncall", "runbook"}
    (show_option,) = payload["runbook"]["options"]
    assert show_option["name"] == "show" and show_option["type"] == 1
    options = {o["name"]: o for o in show_option["options"]}
    assert options["service"]["required"] and options["service"]["autocomplete"]
    assert not options["within"].get("required")
    assert options["incident"]["autocomplete"]
    task = next(o for o in payload["incident"]["options"] if o["name"] == "task")
    assert task["type"] == 2 and [o["name"] for o in task["options"]] == ["add", "done"]

    slack = manifest("https://tocsin.example.com", registry)
    commands = [c["command"] for c in slack["features"]["slash_commands"]]
    assert commands == ["/incident", "/oncall", "/runbook"]


async def test_help_is_drawn_from_the_registry(chat: Any) -> None:
    everything = (await chat.run("help")).text
    for spec in chat.core.registry.commands("incident"):
        assert f"`/incident {spec.name}" in everything, spec.name
    one = (await chat.run("help task add")).text
    assert "`/incident task add <text…> [@owner]`" in one and "owner: who does it" in one
    assert "`/incident task add INC-7 <text…>`" in one
    assert "`/incident sev INC-7 <1-4>`" in (await chat.run("help sev")).text
    close = (await chat.run("help close")).text  # details on a line of their own; flags as typed
    assert "close a resolved incident\nWith tasks still open" in close
    assert "· --force: close even with tasks still open" in close
    group = await chat.run("help task")
    assert group.ok and "is not a /incident command" not in group.text
    assert "`/incident task add" in group.text and "`/incident task done" in group.text
    assert "`/incident declare" not in group.text
    unknown = await chat.run("help frob")
    assert not unknown.ok and "`frob` is not a /incident command" in unknown.text
    oncall = await chat.run("help", root="oncall")
    assert "`/oncall help [command…]`" in oncall.text and "/incident declare" not in oncall.text
    bare = await chat.run("", root="oncall")  # who is on call now (tests/test_oncall.py)
    assert bare.ok and "/oncall help" not in bare.text and "schedules" in bare.text


@pytest.mark.parametrize(
    ("text", "incident", "values"),
    [
        ("cancel duplicate of INC-2", None, {"reason": "duplicate of INC-2"}),
        ("note INC-2 had the same symptom", None, {"text": "INC-2 had the same symptom"}),
        (
            "status identified INC-2 was the trigger",
            None,
            {"status": "identified", "message": "INC-2 was the trigger"},
        ),
        ("note same as before INC-3", 3, {"text": "same as before"}),
        ("INC-2 cancel duplicate", 2, {"reason": "duplicate"}),
        ("task INC-2 add check it", 2, {"text": "check it"}),
        ("sev 1 INC-2", 2, {"severity": 1}),
        ("sev 1 widened INC-2", None, {"severity": 1, "reason": "widened INC-2"}),
        ("status monitoring INC-2", 2, {"status": "monitoring"}),
        ("ack INC-2", 2, {}),
    ],
)
def test_in_an_incident_channel_another_incident_in_free_text_stays_text(
    parser: Parser, text: str, incident: int | None, values: dict[str, Any]
) -> None:
    """Typed in INC-3's channel: an INC-n that could be part of the text is text, unless it
    names INC-3; before the command, or in a command without free text, it names one."""
    got = parser.parse("incident", text, is_mention, here=3)
    assert (got.incident, got.values) == (incident, values)


async def test_a_note_naming_another_incident_lands_where_it_was_typed(chat: Any) -> None:
    await chat.run("declare First")
    await chat.run("declare Second")
    room = chat.channel(2)
    reply = await chat.run("cancel duplicate of INC-1", channel=room)
    assert reply.ok and "INC-2" in reply.text
    views = chat.core.wiring.views
    assert (await views.summary(1)).incident.status == "triggered"
    assert (await views.summary(2)).incident.cancel_reason == "duplicate of INC-1"


def test_invocations_compare_by_spec_and_values(parser: Parser) -> None:
    spec = parser.registry.get("incident", ("ack",))
    assert spec is not None
    assert parser.parse("incident", "ack INC-2", is_mention) == Invocation(spec, incident=2)
