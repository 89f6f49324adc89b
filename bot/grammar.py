"""The ``/incident`` grammar, the same on every platform: text → :class:`Request`.

Anything it cannot make sense of is a :class:`UserError` that says what was expected.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

from bot.config import TocsinConfig
from bot.errors import UserError
from bot.lifecycle import WORKING

TITLE_MAX = 200
TEXT_MAX = 3000


@dataclass(frozen=True)
class Spec:
    name: str
    usage: str
    summary: str


COMMANDS: tuple[Spec, ...] = (
    Spec(
        "declare",
        "declare <title…> [--sev 1-4] [--service NAME] [--desc TEXT]",
        "declare a new incident (no title: a form)",
    ),
    Spec("ack", "ack", "acknowledge: you own it, paging stops"),
    Spec(
        "status",
        "status <investigating|identified|monitoring> [message]",
        "move the status and post an update",
    ),
    Spec("update", "update <message>", "post a status update"),
    Spec("sev", "sev <1-4>", "change the severity"),
    Spec("assign", "assign <role> <@user>", "give someone a role"),
    Spec("roles", "roles", "who holds which role"),
    Spec("note", "note <text>", "add a note to the timeline"),
    Spec("task", "task add <text> [@owner] | task done <n>", "track a task"),
    Spec("tasks", "tasks", "the incident's tasks"),
    Spec("resolve", "resolve [summary]", "the impact is over"),
    Spec("close", "close", "close a resolved incident"),
    Spec("cancel", "cancel <reason>", "declared by mistake"),
    Spec("list", "list [open|all]", "incidents, newest first"),
    Spec("timeline", "timeline", "the timeline so far"),
    Spec("export", "export md", "the timeline as a Markdown file"),
    Spec("help", "help", "this help"),
)
NAMES = tuple(spec.name for spec in COMMANDS)
ALIASES = {"acknowledge": "ack", "severity": "sev", "ls": "list", "declare-incident": "declare"}
EXPORT_FORMATS = ("md",)
_INC = re.compile(r"^inc-(\d{1,9})$", re.IGNORECASE)
_FLAGS = ("--sev", "--service", "--desc")


@dataclass(frozen=True)
class Request:
    """One parsed command. Only the fields its command uses are set."""

    name: str
    incident: int | None = None
    text: str = ""
    severity: int | None = None
    service: str | None = None
    description: str = ""
    status: str | None = None
    role: str | None = None
    person: str | None = None
    number: int | None = None
    scope: str = "open"
    fmt: str = "md"
    form: bool = False


class UnknownCommand(UserError):
    """Not a command; carries the closest one for the help text."""

    def __init__(self, word: str, suggestion: str | None) -> None:
        self.word, self.suggestion = word, suggestion
        hint = f" Did you mean '{suggestion}'?" if suggestion else ""
        super().__init__(f"'{word}' is not an incident command.{hint}")


def usage(name: str) -> str:
    spec = next(s for s in COMMANDS if s.name == name)
    return f"/incident {spec.usage}"


def suggest(word: str) -> str | None:
    matches = difflib.get_close_matches(word.lower(), NAMES + tuple(ALIASES), n=1, cutoff=0.5)
    return ALIASES.get(matches[0], matches[0]) if matches else None


class Grammar:
    def __init__(self, config: TocsinConfig) -> None:
        self._config = config

    def parse(self, text: str, is_mention: Callable[[str], bool]) -> Request:
        text = text.strip()
        if not text:
            return Request("declare", form=True)
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        name = ALIASES.get(word.lower(), word.lower())
        if name not in NAMES:
            raise UnknownCommand(word, suggest(word))
        incident = None
        target, _, after = rest.partition(" ")
        if name != "declare" and (match := _INC.match(target)):
            incident, rest = int(match.group(1)), after.strip()
        handler = getattr(self, f"_{name}", None)
        request = handler(rest, is_mention) if handler else self._bare(name, rest)
        return Request(**{**request.__dict__, "incident": incident})

    def _bare(self, name: str, rest: str) -> Request:
        if rest:
            raise UserError(f"'{name}' takes nothing more. Usage: {usage(name)}")
        return Request(name)

    def _declare(self, rest: str, _m: Callable[[str], bool]) -> Request:
        if not rest:
            return Request("declare", form=True)
        words = rest.split()
        title: list[str] = []
        options: dict[str, list[str]] = {}
        current: list[str] = title
        for token in words:
            flag, eq, value = token.partition("=")
            if token.startswith("--"):
                if flag not in _FLAGS:
                    raise UserError(
                        f"unknown option {flag} for declare; options are {', '.join(_FLAGS)}. "
                        f"Usage: {usage('declare')}"
                    )
                if flag in options:
                    raise UserError(f"{flag} is given twice.")
                current = options.setdefault(flag, [])
                if eq:
                    current.append(value)
                    current = title if flag != "--desc" else current
                continue
            current.append(token)
        for flag in ("--sev", "--service"):
            if flag in options and len(options[flag]) != 1:
                raise UserError(f"{flag} takes one value. Usage: {usage('declare')}")
        if "--desc" in options and not options["--desc"]:
            raise UserError("--desc needs a text after it.")
        sev = options.get("--sev")
        return Request(
            "declare",
            text=check_title(_unquote(" ".join(title))),
            severity=self.severity(sev[0]) if sev else None,
            service=options["--service"][0] if "--service" in options else None,
            description=_unquote(" ".join(options.get("--desc", []))),
        )

    def severity(self, word: str) -> int:
        """``2``, ``sev2``, ``SEV2`` or a label (``major``) → 2."""
        value = word.strip().lower()
        value = value[3:] if value.startswith("sev") else value
        if value.isdigit() and int(value) in self._config.levels:
            return int(value)
        for key, sev in self._config.severities.items():
            if sev.label.lower() == value:
                return int(key[3:])
        levels = self._config.levels
        names = ", ".join(f"{k} {s.label}" for k, s in self._config.severities.items())
        raise UserError(
            f"'{word}' is not a severity: use {levels.start}-{levels.stop - 1} ({names})."
        )

    def _status(self, rest: str, _m: Callable[[str], bool]) -> Request:
        word, _, message = rest.partition(" ")
        allowed = [s.value for s in WORKING]
        if word.lower() not in allowed:
            got = f"'{word}' is not a status you can set" if word else "which status?"
            raise UserError(f"{got}: use {', '.join(allowed)} (resolve has its own command).")
        return Request("status", status=word.lower(), text=check_text(message.strip()))

    def _update(self, rest: str, _m: Callable[[str], bool]) -> Request:
        if not rest:
            raise UserError(f"an update needs a message. Usage: {usage('update')}")
        return Request("update", text=check_text(rest))

    def _sev(self, rest: str, _m: Callable[[str], bool]) -> Request:
        if not rest or len(rest.split()) != 1:
            raise UserError(f"which severity? Usage: {usage('sev')}")
        return Request("sev", severity=self.severity(rest))

    def _assign(self, rest: str, is_mention: Callable[[str], bool]) -> Request:
        parts = rest.split()
        if len(parts) != 2 or not is_mention(parts[1]):
            raise UserError(f"assign needs a role and a person. Usage: {usage('assign')}")
        role = parts[0].lower()
        if role not in self._config.roles:
            roles = ", ".join(self._config.roles)
            raise UserError(f"there is no role '{parts[0]}'; the roles are: {roles}.")
        return Request("assign", role=role, person=parts[1])

    def _note(self, rest: str, _m: Callable[[str], bool]) -> Request:
        if not rest:
            raise UserError(f"a note needs a text. Usage: {usage('note')}")
        return Request("note", text=check_text(rest))

    def _task(self, rest: str, is_mention: Callable[[str], bool]) -> Request:
        verb, _, tail = rest.partition(" ")
        tail = tail.strip()
        if verb == "add" and tail:
            words = tail.split()
            owner = words[-1] if len(words) > 1 and is_mention(words[-1]) else None
            text = " ".join(words[:-1]) if owner else tail
            return Request("task", text=check_text(text), person=owner, scope="add")
        if verb == "done" and tail.isdigit():
            return Request("task", number=int(tail), scope="done")
        raise UserError(f"Usage: {usage('task')}")

    def _resolve(self, rest: str, _m: Callable[[str], bool]) -> Request:
        return Request("resolve", text=check_text(rest))

    def _cancel(self, rest: str, _m: Callable[[str], bool]) -> Request:
        if not rest:
            raise UserError(f"say why it is cancelled. Usage: {usage('cancel')}")
        return Request("cancel", text=check_text(rest))

    def _list(self, rest: str, _m: Callable[[str], bool]) -> Request:
        scope = rest.lower() or "open"
        if scope not in ("open", "all"):
            raise UserError(f"list shows 'open' or 'all' incidents, not '{rest}'.")
        return Request("list", scope=scope)

    def _export(self, rest: str, _m: Callable[[str], bool]) -> Request:
        fmt = rest.lower() or "md"
        if fmt not in EXPORT_FORMATS:
            raise UserError(f"cannot export as '{rest}'; formats: {', '.join(EXPORT_FORMATS)}.")
        return Request("export", fmt=fmt)

    def _help(self, rest: str, _m: Callable[[str], bool]) -> Request:
        return Request("help")


def check_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise UserError(f"an incident needs a title. Usage: {usage('declare')}")
    if len(title) > TITLE_MAX:
        raise UserError(
            f"the title is {len(title)} characters long; the limit is {TITLE_MAX}. "
            "Put the details in --desc."
        )
    return title


def check_text(text: str, limit: int = TEXT_MAX) -> str:
    if len(text) > limit:
        raise UserError(f"that text is {len(text)} characters long; the limit is {limit}.")
    return text


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“":
        return text[1:-1].strip()
    if len(text) >= 2 and text[0] == "“" and text[-1] == "”":
        return text[1:-1].strip()
    return text
