"""``/incident``: declare, acknowledge, update, assign, track, resolve, reopen, close,
export, help.

Each command is one entry here and one handler; what it answers is its template under
``templates/reply/``, what it adds to the timeline its template under ``templates/event/``.
"""

from __future__ import annotations

from bot.commands.call import Call
from bot.commands.help import help_spec
from bot.commands.registry import Arg, ButtonSpec, CommandSpec, Registry, Root
from bot.durations import format_age
from bot.lifecycle import OPEN, Status
from bot.ui import Reply

ROOT = "incident"
_OPEN = frozenset(s.value for s in OPEN)
_TEXT = 3000
LIST_ROWS = 25
"""``list`` shows the newest this many, and says how many more there are."""
LIST_MOST = 100
"""``list --all`` shows at most this many."""
LIST_BUDGET = 12_000
"""A list's answer is at most this long, rows left out saying so: Slack refuses a message
over 40,000 characters, and Discord's answer goes in pieces of 2,000 (six at most here)."""


def register(registry: Registry) -> None:
    registry.add_root(Root(ROOT, "Declare and run incidents", bare="declare"))
    for spec in _commands():
        registry.add(spec)


def _spec(path: str, summary: str, handler: object, **options: object) -> CommandSpec:
    return CommandSpec(ROOT, tuple(path.split()), summary, handler, **options)  # type: ignore[arg-type]


def _commands() -> list[CommandSpec]:
    respond = "incident.respond"
    return [
        _spec(
            "declare",
            "declare a new incident (no title: a form)",
            declare,
            args=(
                Arg(
                    "title",
                    "text",
                    "what is wrong, in a line (leave out for a form)",
                    required=True,
                    max_length=200,
                    missing="an incident needs a title.",
                    unquote=True,
                    label="Title",
                    metavar="title",
                ),
                Arg("severity", "severity", "how bad", flag="--sev", label="Severity"),
                Arg(
                    "service", "service", "the service affected", flag="--service", label="Service"
                ),
                Arg(
                    "description",
                    "text",
                    "what is happening",
                    flag="--desc",
                    metavar="TEXT",
                    unquote=True,
                    multiline=True,
                    label="What is happening?",
                ),
            ),
            public=True,
            permission="incident.declare",
            aliases=("declare-incident",),
            form_title="Declare an incident",
            form_if_empty=True,
            submit_label="Declare",
        ),
        _spec(
            "ack",
            "acknowledge: you own it now",
            ack,
            on_incident=True,
            public=True,
            permission=respond,
            aliases=("acknowledge",),
            button=ButtonSpec("Acknowledge", frozenset({Status.TRIGGERED.value}), "primary"),
        ),
        _spec(
            "status",
            "move the status and post an update",
            status,
            args=(
                Arg("status", "status", "the new status", required=True, label="Status"),
                Arg(
                    "message",
                    "text",
                    "what changed",
                    max_length=_TEXT,
                    multiline=True,
                    label="What changed?",
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
            button=ButtonSpec("Update status", _OPEN, form=True),
            form_title="Update {ref}",
            submit_label="Post update",
        ),
        _spec(
            "update",
            "post a status update",
            update,
            args=(
                Arg(
                    "message",
                    "text",
                    "the update",
                    required=True,
                    missing="an update needs a message.",
                    multiline=True,
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
        ),
        _spec(
            "sev",
            "change the severity",
            sev,
            args=(
                Arg(
                    "severity",
                    "severity",
                    "the new severity",
                    required=True,
                    missing="which severity?",
                ),
                Arg("reason", "text", "why", max_length=_TEXT),
            ),
            on_incident=True,
            public=True,
            permission=respond,
            aliases=("severity",),
            details="A raised severity is announced in the announce channel.",
        ),
        _spec(
            "assign",
            "give someone a role (and invite them to the channel)",
            assign,
            args=(
                Arg(
                    "role",
                    "role",
                    "the role",
                    required=True,
                    missing="assign needs a role and a person.",
                ),
                Arg(
                    "person",
                    "person",
                    "who takes it",
                    required=True,
                    missing="assign needs a role and a person.",
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
        ),
        _spec("roles", "who holds which role", roles, on_incident=True),
        _spec(
            "note",
            "add a note to the timeline",
            note,
            args=(
                Arg(
                    "text",
                    "text",
                    "the note",
                    required=True,
                    missing="a note needs a text.",
                    multiline=True,
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
        ),
        _spec(
            "task add",
            "add a task",
            task_add,
            args=(
                Arg(
                    "text",
                    "text",
                    "what needs doing",
                    required=True,
                    missing="a task needs a text.",
                ),
                Arg("owner", "person", "who does it"),
            ),
            on_incident=True,
            public=True,
            permission=respond,
        ),
        _spec(
            "task done",
            "mark a task done",
            task_done,
            args=(
                Arg(
                    "number",
                    "integer",
                    "the task's number",
                    required=True,
                    missing="which task?",
                    invalid="there is no task {value}; /incident tasks lists them.",
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
        ),
        _spec("tasks", "the incident's tasks", tasks, on_incident=True),
        _spec(
            "resolve",
            "the impact is over",
            resolve,
            args=(
                Arg(
                    "summary",
                    "text",
                    "what fixed it",
                    max_length=_TEXT,
                    multiline=True,
                    label="What fixed it?",
                    form_required=True,
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
            button=ButtonSpec("Resolve", _OPEN, "danger", form=True),
            form_title="Resolve {ref}",
            submit_label="Resolve",
        ),
        _spec(
            "reopen",
            "a resolved incident is not over after all",
            reopen,
            args=(Arg("reason", "text", "why it is not over", max_length=_TEXT),),
            on_incident=True,
            public=True,
            permission=respond,
            details="Back to investigating, until it is resolved again; not once closed.",
        ),
        _spec(
            "close",
            "close a resolved incident",
            close,
            args=(
                Arg(
                    "force",
                    "switch",
                    "close even with tasks still open",
                    flag="--force",
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
            button=ButtonSpec("Close", frozenset({Status.RESOLVED.value})),
            details="With tasks still open it lists them and asks for --force.",
        ),
        _spec(
            "cancel",
            "declared by mistake",
            cancel,
            args=(
                Arg(
                    "reason",
                    "text",
                    "why it was declared by mistake",
                    required=True,
                    missing="say why it is cancelled.",
                ),
            ),
            on_incident=True,
            public=True,
            permission=respond,
        ),
        _spec(
            "list",
            "incidents, newest first",
            list_incidents,
            args=(
                Arg(
                    "scope",
                    "choice",
                    "open incidents (the default) or all, ended ones too",
                    choices=("open", "all"),
                    invalid="list shows 'open' or 'all' incidents, not '{value}'.",
                ),
                Arg(
                    "every",
                    "switch",
                    f"up to the newest {LIST_MOST}, not only the newest {LIST_ROWS}",
                    flag="--all",
                ),
            ),
            aliases=("ls",),
        ),
        _spec("timeline", "the timeline so far", timeline, on_incident=True),
        _spec(
            "export",
            "the timeline as a Markdown file",
            export,
            args=(
                Arg(
                    "format",
                    "choice",
                    "the file format",
                    choices=("md",),
                    invalid="cannot export as '{value}'; formats: {choices}.",
                ),
            ),
            on_incident=True,
            permission="incident.export",
        ),
        help_spec(ROOT, "this help, or more on one command", "incident.read"),
    ]


# The handlers.


async def declare(call: Call) -> Reply:
    v = call.values
    view = await call.services.incidents.declare(
        call.actor,
        title=v["title"],
        severity=v.get("severity"),
        service=v.get("service"),
        description=v.get("description", ""),
        platform=call.platform.name,
    )
    return call.reply("declared", interim=True, view=view, setting_up=True)


async def ack(call: Call) -> Reply:
    view = await call.services.incidents.acknowledge(call.number, call.actor)
    return call.reply("acknowledged", view=view)


async def status(call: Call) -> Reply:
    new = Status(call.values["status"])
    text = call.values.get("message", "")
    view, as_update = await call.services.incidents.set_status(call.number, call.actor, new, text)
    return call.reply("status", view=view, as_update=as_update)


async def update(call: Call) -> Reply:
    view = await call.services.incidents.update(call.number, call.actor, call.values["message"])
    return call.reply("update", view=view)


async def sev(call: Call) -> Reply:
    level, reason = call.values["severity"], call.values.get("reason", "")
    view = await call.services.incidents.set_severity(call.number, call.actor, level, reason)
    return call.reply("severity", view=view)


async def assign(call: Call) -> Reply:
    role, person = call.values["role"], call.values["person"]
    view = await call.services.incidents.assign(call.number, call.actor, role, person)
    return call.reply("role", view=view, person=person, role=role)


async def roles(call: Call) -> Reply:
    return call.text("roles", view=await call.services.wiring.views.full(call.number))


async def note(call: Call) -> Reply:
    view = await call.services.incidents.note(call.number, call.actor, call.values["text"])
    return call.reply("note", view=view)


async def task_add(call: Call) -> Reply:
    view, task = await call.services.incidents.add_task(
        call.number, call.actor, call.values["text"], call.values.get("owner")
    )
    return call.reply("task_added", view=view, task=task)


async def task_done(call: Call) -> Reply:
    number = call.values["number"]
    view = await call.services.incidents.complete_task(call.number, call.actor, number)
    return call.reply("task_done", view=view, number=number)


async def tasks(call: Call) -> Reply:
    return call.text("tasks", view=await call.services.wiring.views.full(call.number))


async def resolve(call: Call) -> Reply:
    summary = call.values.get("summary", "")
    view = await call.services.incidents.end(call.number, call.actor, Status.RESOLVED, summary)
    return call.reply("resolved", view=view)


async def reopen(call: Call) -> Reply:
    reason = call.values.get("reason", "")
    view = await call.services.incidents.reopen(call.number, call.actor, reason)
    return call.reply("reopened", view=view)


async def close(call: Call) -> Reply:
    force = bool(call.values.get("force", False))
    view = await call.services.incidents.end(
        call.number, call.actor, Status.CLOSED, "", force=force
    )
    return call.reply("closed", view=view)


async def cancel(call: Call) -> Reply:
    reason = call.values["reason"]
    view = await call.services.incidents.end(call.number, call.actor, Status.CANCELLED, reason)
    return call.reply("cancelled", view=view)


async def list_incidents(call: Call) -> Reply:
    scope = call.values.get("scope", "open")
    every = call.values.get("every", False)
    incidents, total = await call.services.incidents.listing(
        scope, LIST_MOST if every else LIST_ROWS
    )
    now = call.services.wiring.clock.now()
    shown = len(incidents)
    while True:
        reply = call.text(
            "list",
            incidents=incidents[:shown],
            scope=scope,
            total=total,
            every=every,
            most=LIST_MOST,
            cut=shown < len(incidents),  # rows left out because one message holds no more
            age=lambda incident: format_age(now - incident.declared_at),
        )
        if len(reply.text) <= LIST_BUDGET or shown <= 1:
            return reply
        shown = max(1, min(shown - 1, shown * LIST_BUDGET // len(reply.text)))


async def timeline(call: Call) -> Reply:
    return call.text("timeline", view=await call.services.wiring.views.full(call.number))


async def export(call: Call) -> Reply:
    fmt = call.values.get("format", "md")
    channel = call.actor.channel
    assert channel is not None, "a command typed in chat comes from a channel"
    view, filename = await call.services.incidents.export(call.number, call.actor, channel, fmt)
    return call.reply("exported", view=view, filename=filename)
