"""The ``/incident`` grammar, the same on every platform: text → :class:`Request`.

Anything it cannot make sense of is a :class:`UserError` that says what was expected.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

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
_FLAGS = {"--sev": "severity", "--service": "service", "--desc": "description"}


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


Fields = Mapping[str, str]


class Grammar:
    """Two ways in, one set of rules: :meth:`parse` reads typed text (Slack, the shell);
    :meth:`build` takes a subcommand's named fields (Discord's typed options, form
    submissions). Both end in the same checks."""

    def __init__(self, config: TocsinConfig) -> None:
        self._config = config

    def parse(self, text: str, is_mention: Callable[[str], bool]) -> Request:
        text = text.strip()
        if not text:
            return Request("declare", form=True)
        word, _, rest = text.partition(" ")
        name = command_name(word)
        rest = rest.strip()
        fields: dict[str, str] = {}
        target, _, after = rest.partition(" ")
        if name != "declare" and _INC.match(target):
            fields["incident"], rest = target, after.strip()
        split = getattr(self, f"_split_{name}", None)
        fields.update(split(rest, is_mention) if split else _nothing_more(name, rest))
        return self.build(name, fields, is_mention)

    def build(self, name: str, fields: Fields, is_mention: Callable[[str], bool]) -> Request:
        """The request for subcommand ``name`` with these fields (``incident`` may name the
        incident: ``INC-7`` or ``7``). Empty fields count as not given."""
        name = command_name(name)
        if name == "declare" and not fields:
            return Request("declare", form=True)
        given = {k: v.strip() for k, v in fields.items() if v and v.strip()}
        incident = _incident(given.pop("incident", None))
        builder = getattr(self, f"_{name}", None)
        if builder is None:
            if given:
                raise UserError(f"'{name}' takes nothing more. Usage: {usage(name)}")
            request = Request(name)
        else:
            request = builder(given, is_mention)
        return replace(request, incident=incident)

    # Typed text → fields.

    def _split_declare(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        if not rest:
            return {}
        title: list[str] = []
        options: dict[str, list[str]] = {}
        current: list[str] = title
        for token in rest.split():
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
        fields = {"title": _unquote(" ".join(title))}
        for flag, key in _FLAGS.items():
            if flag in options:
                fields[key] = _unquote(" ".join(options[flag]))
        return fields

    def _split_status(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        word, _, message = rest.partition(" ")
        return {"status": word, "message": message}

    def _split_update(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {"message": rest}

    def _split_sev(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        if len(rest.split()) > 1:
            raise UserError(f"which severity? Usage: {usage('sev')}")
        return {"severity": rest}

    def _split_assign(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        parts = rest.split()
        if len(parts) != 2:
            raise UserError(f"assign needs a role and a person. Usage: {usage('assign')}")
        return {"role": parts[0], "person": parts[1]}

    def _split_note(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {"text": rest}

    def _split_task(self, rest: str, is_mention: Callable[[str], bool]) -> dict[str, str]:
        verb, _, tail = rest.partition(" ")
        words = tail.split()
        if verb == "add" and len(words) > 1 and is_mention(words[-1]):
            return {"verb": verb, "text": " ".join(words[:-1]), "owner": words[-1]}
        return {"verb": verb, ("number" if verb == "done" else "text"): tail}

    def _split_resolve(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {"summary": rest}

    def _split_cancel(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {"reason": rest}

    def _split_list(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {"scope": rest}

    def _split_export(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {"format": rest}

    def _split_help(self, rest: str, _m: Callable[[str], bool]) -> dict[str, str]:
        return {}

    # Fields → a checked request.

    def _declare(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        sev = f.get("severity")
        return Request(
            "declare",
            text=check_title(f.get("title", "")),
            severity=self.severity(sev) if sev else None,
            service=f.get("service"),
            description=check_text(f.get("description", "")),
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

    def _status(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        word = f.get("status", "")
        allowed = [s.value for s in WORKING]
        if word.lower() not in allowed:
            got = f"'{word}' is not a status you can set" if word else "which status?"
            raise UserError(f"{got}: use {', '.join(allowed)} (resolve has its own command).")
        return Request("status", status=word.lower(), text=check_text(f.get("message", "")))

    def _update(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        if "message" not in f:
            raise UserError(f"an update needs a message. Usage: {usage('update')}")
        return Request("update", text=check_text(f["message"]))

    def _sev(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        if "severity" not in f:
            raise UserError(f"which severity? Usage: {usage('sev')}")
        return Request("sev", severity=self.severity(f["severity"]))

    def _assign(self, f: dict[str, str], is_mention: Callable[[str], bool]) -> Request:
        role, person = f.get("role", ""), f.get("person", "")
        if not role or not is_mention(person):
            raise UserError(f"assign needs a role and a person. Usage: {usage('assign')}")
        if role.lower() not in self._config.roles:
            roles = ", ".join(self._config.roles)
            raise UserError(f"there is no role '{role}'; the roles are: {roles}.")
        return Request("assign", role=role.lower(), person=person)

    def _note(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        if "text" not in f:
            raise UserError(f"a note needs a text. Usage: {usage('note')}")
        return Request("note", text=check_text(f["text"]))

    def _task(self, f: dict[str, str], is_mention: Callable[[str], bool]) -> Request:
        verb, owner = f.get("verb"), f.get("owner")
        if verb == "add" and "text" in f and (owner is None or is_mention(owner)):
            return Request("task", text=check_text(f["text"]), person=owner, scope="add")
        if verb == "done" and f.get("number", "").isdigit():
            return Request("task", number=int(f["number"]), scope="done")
        raise UserError(f"Usage: {usage('task')}")

    def _resolve(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        return Request("resolve", text=check_text(f.get("summary", "")))

    def _cancel(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        if "reason" not in f:
            raise UserError(f"say why it is cancelled. Usage: {usage('cancel')}")
        return Request("cancel", text=check_text(f["reason"]))

    def _list(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        scope = f.get("scope", "open")
        if scope.lower() not in ("open", "all"):
            raise UserError(f"list shows 'open' or 'all' incidents, not '{scope}'.")
        return Request("list", scope=scope.lower())

    def _export(self, f: dict[str, str], _m: Callable[[str], bool]) -> Request:
        fmt = f.get("format", "md")
        if fmt.lower() not in EXPORT_FORMATS:
            raise UserError(f"cannot export as '{fmt}'; formats: {', '.join(EXPORT_FORMATS)}.")
        return Request("export", fmt=fmt.lower())


def command_name(word: str) -> str:
    """The command a word names (aliases included), or :class:`UnknownCommand`."""
    name = ALIASES.get(word.lower(), word.lower())
    if name not in NAMES:
        raise UnknownCommand(word, suggest(word))
    return name


def _nothing_more(name: str, rest: str) -> dict[str, str]:
    if rest:
        raise UserError(f"'{name}' takes nothing more. Usage: {usage(name)}")
    return {}


def _incident(value: str | None) -> int | None:
    if value is None:
        return None
    match = _INC.match(value) or re.match(r"^(\d{1,9})$", value)
    if not match:
        raise UserError(f"'{value}' is not an incident reference; use INC-<number>, e.g. INC-7.")
    return int(match.group(1))


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
