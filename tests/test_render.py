"""Every template through the plain and the Markdown dialect, with hostile user text."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot.config import TocsinConfig
from bot.grammar import COMMANDS
from bot.identity import Directory, Person
from bot.lifecycle import Status
from bot.presenter import STATUS_ICONS, IncidentView, Presenter
from bot.render import TEMPLATES, MarkdownDialect, PlainDialect, Renderer, Rich, format_duration
from storage.models import ChannelBinding, Incident, RoleAssignment, Task, TimelineEvent

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "*DB* _down_ @everyone <!channel> @here `x` [a](b)\x1b[2J"


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
                ("closed", ""),
                ("cancelled", ""),
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
        severity=config.severity(2),
    )


DIALECTS = [PlainDialect(), MarkdownDialect()]
REPLY_KINDS = [
    "declared",
    "acknowledged",
    "status",
    "update",
    "severity",
    "role",
    "note",
    "task_added",
    "task_done",
    "resolved",
    "closed",
    "cancelled",
    "exported",
]


def contexts(view: IncidentView) -> dict[str, list[dict[str, object]]]:
    base = {"config": TocsinConfig(), "icons": STATUS_ICONS}
    return {
        "topic": [{**base, "incident": view.incident, "severity": view.severity}],
        "card": [{**base, "view": make_view(s)} for s in Status],
        "announcement": [{**base, "view": view}],
        "status_update": [
            {**base, "view": view, "kind": k, "text": HOSTILE, "author": Person("bob", "Bob")}
            for k in ("status", "update", "resolved", "cancelled")
        ],
        "error": [
            {**base, "message": HOSTILE, "error_id": None},
            {**base, "message": "", "error_id": "abc123"},
        ],
        "help": [
            {**base, "commands": COMMANDS, "unknown": None, "suggestion": None},
            {**base, "commands": COMMANDS, "unknown": HOSTILE, "suggestion": "resolve"},
        ],
        "reply": [
            {
                **base,
                "view": view,
                "kind": k,
                "warnings": ["x failed"],
                "person": Person("bob", HOSTILE),
                "role": "operations",
                "task": view.tasks[0],
                "number": 1,
                "filename": "inc-7-timeline.md",
            }
            for k in REPLY_KINDS
        ],
        "list": [
            {**base, "incidents": [view.incident], "scope": "open"},
            {**base, "incidents": [], "scope": "all"},
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


def test_every_template_file_is_covered() -> None:
    names = {p.name.removesuffix(".j2") for p in TEMPLATES.glob("*.j2")}
    assert names - {"_event"} == set(contexts(make_view()))


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: d.name)
@pytest.mark.parametrize("template", sorted(contexts(make_view())))
def test_template_renders_and_defuses_user_text(dialect: object, template: str) -> None:
    renderer = Renderer(dialect, lambda key: None)  # type: ignore[arg-type]
    for context in contexts(make_view())[template]:
        out = renderer.render(template, **context)
        assert isinstance(out, Rich)
        assert out.strip(), f"{template} rendered nothing"
        assert "@everyone" not in out
        assert "@here" not in out
        assert "\x1b" not in out
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
    presenter = Presenter(TocsinConfig(), Directory(TocsinConfig()))

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
    assert format_duration(timedelta(seconds=42)) == "42s"
    assert format_duration(timedelta(minutes=3, seconds=5)) == "3m 05s"
    assert format_duration(timedelta(hours=26, minutes=1)) == "26h 01m"
    assert format_duration(None) == "—"
