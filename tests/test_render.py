"""Every template through the plain and the Markdown dialect, with hostile user text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.commands import default_registry
from bot.commands.parse import Parser
from bot.config import TocsinConfig
from bot.durations import clock_duration, parse_duration, spoken_duration, spoken_every
from bot.identity import Directory, Person
from bot.lifecycle import Status
from bot.oncall import Standing
from bot.pager import Paged
from bot.presenter import STATUS_ICONS, Presenter
from bot.render import TEMPLATES, MarkdownDialect, PlainDialect, Renderer, Rich
from bot.views import IncidentView
from bot.wording import role_title
from storage.models import ChannelBinding, Incident, Page, RoleAssignment, Task, TimelineEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "*DB* _down_ @everyone <!channel> @here `x` [a](b)\x1b[2J \x9b2J"  # 7- and 8-bit CSI
HOSTILE_PERSON = Person("mallory", HOSTILE)


def make_view(status: Status = Status.INVESTIGATING) -> IncidentView:
    config = TocsinConfig()
    incident = Incident(
        id=7,
        title=HOSTILE,
        description="desc " + HOSTILE,
        severity=2,
        service="api",
        status=status.value,
        commander_key="alice",
        commander_name="Alice <3",
        declared_by_key="alice",
        declared_by_name="Alice",
        declared_on="fake",
        owner_key="bob",
        owner_name="Bob",
        summary="fixed " + HOSTILE,
        cancel_reason="oops " + HOSTILE,
        declared_at=T0,
        acknowledged_at=T0 + timedelta(minutes=2),
        resolved_at=T0 + timedelta(hours=1),
        updated_at=T0 + timedelta(hours=1),
        platform="fake",
        last_update_at=T0 + timedelta(minutes=5),
        last_update_by=HOSTILE,
        last_update_text=HOSTILE,
        open_tasks=1,
    )
    events = [
        TimelineEvent(
            incident_id=7,
            at=T0 + timedelta(minutes=i),
            kind=kind,
            detail=detail,
            actor_key="alice",
            actor_name="Alice",
            text=HOSTILE,
        )
        for i, (kind, detail) in enumerate(
            [
                ("declared", "SEV2"),
                ("channel", "inc-7-db"),
                ("acknowledged", ""),
                ("status", "investigating"),
                ("update", "investigating"),
                ("severity", "SEV3 → SEV2"),
                ("role", "communications"),
                ("note", ""),
                ("task_added", "1"),
                ("task_done", "1"),
                ("resolved", ""),
                ("reopened", "investigating"),
                ("closed", "1, 3"),
                ("cancelled", ""),
                ("message", ""),
                ("edit", ""),
                ("pin", ""),
                ("joined", ""),
                ("reminder", "late by 4m"),
                ("failed", "setting up the channel"),
                ("paged", "level 2, round 2"),
                ("page", "sent"),
                ("page", "failed"),
                ("page", "unreachable"),
                ("page", "nobody"),
                ("late", "late by 4 minutes"),
                ("exhausted", ""),
                ("escalated", "level 2"),
                ("snoozed", ""),
                ("ack_timeout", "acknowledged"),
                ("something_new", ""),
            ]
        )
    ]
    return IncidentView(
        incident=incident,
        roles=[
            RoleAssignment(
                incident_id=7,
                role="commander",
                person_key="alice",
                person_name="Alice",
                assigned_at=T0,
            )
        ],
        tasks=[
            Task(
                incident_id=7,
                number=1,
                text=HOSTILE,
                owner_name="Bob",
                created_by_name="Alice",
                created_at=T0,
            ),
            Task(
                incident_id=7,
                number=2,
                text="done one",
                created_by_name="Alice",
                created_at=T0,
                done_at=T0,
                done_by_name="Bob",
            ),
        ],
        bindings=[
            ChannelBinding(
                incident_id=7,
                platform="fake",
                channel_id="C1",
                channel_name="inc-7-db",
                created_at=T0,
            )
        ],
        events=events,
        pages=[make_page(), make_page(acknowledged=True)],
        severity=config.severity(2),
    )


def make_page(*, acknowledged: bool = False) -> Page:
    return Page(
        incident_id=7,
        cycle=1,
        round=2,
        level=1,
        person_key="alice",
        person_name=HOSTILE,
        via="schedule:primary",
        platform="fake",
        status="failed",
        error=HOSTILE,
        created_at=T0,
        sent_at=T0,
        acknowledged_by=HOSTILE if acknowledged else None,
        acknowledged_at=T0 if acknowledged else None,
    )


PAGED = Paged("alice", HOSTILE, "schedule:primary")


def report(**more: object) -> dict[str, object]:
    base: dict[str, object] = {
        "round": 2,
        "level": 1,
        "late": "",
        "exhausted": 0,
        "policy": "",
        "people": [],
        "unreachable": [HOSTILE],
        "nobody": [HOSTILE],
        "failed": [{"name": HOSTILE, "error": HOSTILE}],
    }
    return base | more


DIALECTS = [PlainDialect(), MarkdownDialect()]
REGISTRY = default_registry()
PARSER = Parser(REGISTRY, TocsinConfig())
HELP_LINES = [{"usage": PARSER.usage(s), "spec": s} for s in REGISTRY.commands("incident")]
ONE_COMMAND = next(REGISTRY.commands("incident"))


def contexts(view: IncidentView) -> dict[str, list[dict[str, object]]]:
    base = {"config": TocsinConfig(), "icons": STATUS_ICONS}
    return {
        "topic": [{**base, "incident": view.incident, "severity": view.severity}],
        "card": [{**base, "view": make_view(s)} for s in Status],
        "announcement": [{**base, "view": view}],
        "status_update": [
            {**base, "view": view, "kind": k, "text": HOSTILE, "author": Person("bob", "Bob")}
            for k in ("status", "update", "resolved", "cancelled", "reopened")
        ],
        "severity_raised": [
            {
                **base,
                "view": view,
                "was": 3,
                "was_label": HOSTILE,
                "reason": HOSTILE,
                "author": Person("bob", HOSTILE),
            },
            {**base, "view": view, "was": 2, "was_label": "major", "reason": "", "author": None},
        ],
        "error": [
            {**base, "message": HOSTILE, "error_id": None},
            {**base, "message": "", "error_id": "abc123", "saved": False},
            {**base, "message": "", "error_id": "abc123", "saved": True},
        ],
        "help": [
            {
                **base,
                "root": "incident",
                "command": None,
                "commands": HELP_LINES,
                "title": "Tocsin",
                "unknown": None,
                "suggestion": None,
            },
            {
                **base,
                "root": "incident",
                "command": None,
                "commands": HELP_LINES,
                "title": "Tocsin",
                "unknown": HOSTILE,
                "suggestion": "resolve",
            },
            {
                **base,
                "root": "incident",
                "unknown": None,
                "command": {
                    "usage": PARSER.usage(ONE_COMMAND),
                    "spec": ONE_COMMAND,
                    "args": ONE_COMMAND.args,
                },
            },
        ],
        "failed": [
            {
                **base,
                "ref": "INC-7",
                "what": "setting up the channel",
                "where": "fake",
                "error": HOSTILE,
                "error_id": None,
                "attempts": 8,
            },
            {
                **base,
                "ref": "INC-7",
                "what": "setting up the channel",
                "where": "fake",
                "error": "",
                "error_id": "abc123",
                "attempts": 1,
            },
        ],
        "reminder": [
            {**base, "view": view, "quiet": timedelta(minutes=16), "late": None},
            {**base, "view": view, "quiet": timedelta(hours=2), "late": timedelta(hours=1)},
        ],
        "list": [
            {
                **base,
                "incidents": [view.incident],
                "scope": "open",
                "total": 30,
                "every": False,
                "most": 100,
                "cut": False,
                "age": lambda _i: "3h",
            },
            {
                **base,
                "incidents": [view.incident],
                "scope": "all",
                "total": 130,
                "every": True,
                "most": 100,
                "cut": False,
                "age": lambda _i: "2d",
            },
            {
                **base,
                "incidents": [],
                "scope": "all",
                "total": 0,
                "every": False,
                "most": 100,
                "cut": False,
            },
        ],
        "roles": [{**base, "view": view}],
        "tasks": [
            {**base, "view": view},
            {
                **base,
                "view": make_view(Status.TRIGGERED).__class__(
                    **{**make_view().__dict__, "tasks": []}
                ),
            },
        ],
        "timeline": [{**base, "view": view}],
        "page": [
            {**base, "view": view, "page": make_page(), "answered": False},
            {**base, "view": view, "page": make_page(acknowledged=True), "answered": True},
            {**base, "view": make_view(Status.RESOLVED), "page": make_page(), "answered": True},
        ],
        "paged": [
            {**base, "view": view, "report": report(), "people": [PAGED]},
            {**base, "view": view, "report": report(late="late by 2 hours"), "people": []},
            {
                **base,
                "view": view,
                "report": report(exhausted=3, policy=HOSTILE, late="late by 1 hour"),
                "people": [],
            },
        ],
        "pages": [
            {**base, "view": view, "pages": [make_page(), make_page(acknowledged=True)]},
            {**base, "view": view, "pages": []},
        ],
        "export.md": [
            {
                **base,
                "view": view,
                "version": "1",
                "exported_at": T0,
                "time_to_ack": timedelta(minutes=2),
                "time_to_resolve": timedelta(hours=1),
            }
        ],
    }


def reply_contexts(view: IncidentView) -> dict[str, list[dict[str, object]]]:
    base = {"config": TocsinConfig(), "icons": STATUS_ICONS}
    extra = {
        "declared": [{"setting_up": True}, {"setting_up": False}],
        "role": [{"person": Person("bob", HOSTILE), "role": "operations"}],
        "task_added": [{"task": view.tasks[0]}],
        "task_done": [{"number": 1}],
        "status": [{"as_update": False}, {"as_update": True}],
        "exported": [{"filename": "inc-7-timeline.md"}],
        "escalated": [{"level": 2, "round": 1}, {"level": 1, "round": 3}],
        "snoozed": [{"until": T0, "length": timedelta(hours=1)}],
        "oncall": [
            {"schedules": []},
            {
                "schedules": [
                    Standing("primary", "Europe/Berlin", None, HOSTILE_PERSON, "Mon", "2 days"),
                    Standing("b", "UTC", HOSTILE_PERSON, HOSTILE_PERSON, "Tue", "1 hour"),
                ]
            },
        ],
    }
    kinds = [p.name.removesuffix(".j2") for p in (TEMPLATES / "reply").glob("*.j2")]
    return {
        f"reply/{kind}": [{**base, "view": view, **more} for more in extra.get(kind, [{}])]
        for kind in kinds
    }


def all_contexts() -> dict[str, list[dict[str, object]]]:
    return contexts(make_view()) | reply_contexts(make_view())


def test_every_template_file_is_covered() -> None:
    names = {p.name.removesuffix(".j2") for p in TEMPLATES.glob("*.j2")}
    assert names == set(contexts(make_view()))
    kinds = {p.name.removesuffix(".j2") for p in (TEMPLATES / "event").glob("*.j2")}
    shown = {e.kind for e in make_view().events} | {"_other"}
    assert kinds <= shown, "every timeline event template is drawn by the timeline test"
    handlers = {spec.key for spec in REGISTRY.commands("incident") if spec.public}
    replies = {p.name.removesuffix(".j2") for p in (TEMPLATES / "reply").glob("*.j2")}
    assert len(replies) >= len(handlers) - 3, "each change has its answer's template"


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("template", sorted(all_contexts()))
def test_template_renders_and_defuses_user_text(dialect: object, template: str) -> None:
    renderer = Renderer(dialect, lambda key: None)  # type: ignore[arg-type]
    for context in all_contexts()[template]:
        out = renderer.render(template, **context)
        assert isinstance(out, Rich)
        assert out.strip(), f"{template} rendered nothing"
        assert "@everyone" not in out
        assert "@here" not in out
        assert "\x1b" not in out and "\x9b" not in out
        if dialect.name == "markdown":
            outside_code = re.sub(r"``.*?``|`[^`]*`", "", out)
            assert "*DB*" not in outside_code  # user asterisks are escaped, never bold


def test_markdown_keeps_its_own_markup_but_escapes_users() -> None:
    out = Renderer(MarkdownDialect()).render(
        "timeline", view=make_view(), config=TocsinConfig(), icons=STATUS_ICONS
    )
    assert out.startswith("**Timeline of INC-7")
    assert r"\*DB\* \_down\_" in out
    assert "set the status to **investigating**" in out


def test_plain_dialect_leaves_text_readable() -> None:
    out = Renderer(PlainDialect()).render(
        "status_update",
        view=make_view(),
        kind="update",
        text="50% of *requests* fail",
        author=Person("b", "B"),
        config=TocsinConfig(),
        icons=STATUS_ICONS,
    )
    assert "50% of *requests* fail" in out


def test_mentions_use_platform_ids_when_known() -> None:
    renderer = Renderer(MarkdownDialect(), lambda key: "U1" if key == "alice" else None)
    presenter_view = make_view()
    out = renderer.render(
        "announcement", view=presenter_view, config=TocsinConfig(), icons=STATUS_ICONS
    )
    assert "@Alice <3" not in out and r"@Alice \<3" in out


def test_card_has_buttons_for_its_status() -> None:
    presenter = Presenter(TocsinConfig(), Directory(TocsinConfig()), REGISTRY)

    class P:
        name = "fake"
        dialect = MarkdownDialect()

    labels = {
        s: [b.label for b in presenter.card(make_view(s), P()).buttons]  # type: ignore[arg-type]
        for s in Status
    }
    assert labels[Status.TRIGGERED] == ["Acknowledge", "Update status", "Resolve"]
    assert labels[Status.MONITORING] == ["Update status", "Resolve"]
    assert labels[Status.RESOLVED] == ["Close"]
    assert labels[Status.CLOSED] == labels[Status.CANCELLED] == []


def test_durations_read_naturally() -> None:
    assert clock_duration(timedelta(seconds=42)) == "42s"
    assert clock_duration(timedelta(minutes=3, seconds=5)) == "3m 05s"
    assert clock_duration(timedelta(hours=26, minutes=1)) == "26h 01m"
    (context,) = all_contexts()["export.md"]
    export = Renderer(MarkdownDialect()).render("export.md", **{**context, "time_to_resolve": None})
    assert "| Time to acknowledge | 2m 00s |" in export
    assert "| Time to resolve | — |" in export


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), (" 2H ", 7200)],
)
def test_durations_are_written_as_people_write_them(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["5 minutes", "-5m", "0s", "", "m", "5", "1m1h", "1h1h", "1.5h"])
def test_durations_that_do_not_parse_say_how_to_write_them(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "said", "every"),
    [
        (timedelta(minutes=1), "1 minute", "every minute"),
        (timedelta(minutes=15), "15 minutes", "every 15 minutes"),
        (timedelta(hours=1), "1 hour", "every hour"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes", "every 1 hour 30 minutes"),
        (timedelta(days=2, hours=1), "2 days 1 hour", "every 2 days 1 hour"),
        (timedelta(seconds=1), "1 second", "every second"),
        (timedelta(seconds=45), "45 seconds", "every 45 seconds"),
        (timedelta(minutes=15, seconds=30), "15 minutes", "every 15 minutes"),
        (timedelta(weeks=1), "1 week", "every week"),
    ],
)
def test_durations_are_said_in_words_with_their_plurals(
    value: timedelta, said: str, every: str
) -> None:
    assert spoken_duration(value) == said
    assert spoken_every(value) == every


def test_every_template_reads_as_a_person_would_write_it() -> None:
    """The phrases #30 of issue 9 found, and the ones like them, drawn from the templates."""
    config = TocsinConfig()
    renderer = Renderer(PlainDialect())
    base = {"config": config, "icons": STATUS_ICONS}
    for role, title in [
        ("communications", "communications lead"),
        ("operations", "operations lead"),
        ("commander", "commander"),
        ("scribe", "scribe"),
    ]:
        said = renderer.render(
            "reply/role", view=make_view(), person=Person("bob", "bob"), role=role, **base
        )
        assert said == f"@bob is now the {title} of INC-7.", said
    assert role_title("communications") == "communications lead"
    view = make_view()
    view.incident.severity, view.severity = 1, config.severity(1)
    card = renderer.render("card", view=view, **base)
    assert "SEV1 expects a status update every 15 minutes." in card
    timeline = renderer.render("timeline", view=make_view(), **base)
    assert "made *DB* _down_" in timeline and "the communications lead" in timeline
    assert "could not" not in timeline and "gave up setting up the channel: " in timeline
    assert "closed the incident, leaving tasks 1, 3 open" in timeline
    assert "Alice acknowledged the incident" in timeline
    closed = make_view(Status.CLOSED)
    assert "1 task was left open when it was closed" in renderer.render("card", view=closed, **base)
    assert "Open tasks" not in renderer.render("card", view=closed, **base)
    assert "Open tasks: 1" in renderer.render("card", view=make_view(Status.RESOLVED), **base)
    closed.incident.open_tasks = 2
    reply = renderer.render("reply/closed", view=closed, **base)
    assert reply == "📁 INC-7 is closed. 2 tasks were left open."
